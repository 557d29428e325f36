"""How one variant of the classic compositor differs from the next: the way a
photographer's frames of one set-up differ. From the variant's seed, within the
scene's rules:

- the key light's direction (which side the shadow falls) and softness;
- the camera's height: the horizon (where wall meets floor) and the floor line move
  together, as they do when the camera is raised or lowered;
- the product's scale and position, never past the scene's margins;
- the backdrop's tint, mixed only from the scene's own colours (its palette and its
  texture colour), a little lighter or darker;
- where the scene's props stand.

Seed 0 is the scene exactly as written (the "hero" frame). Marketplace scenes (pure
white, product filling the frame) keep their colours and framing and vary only the
light: their rules are the marketplace's.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, replace

import numpy as np

from studio.scenes import Scene


@dataclass(frozen=True)
class PropPlacement:
    index: int  # which of the scene's props
    side: float  # -1 left of the product … 1 right; for a flat lay, the angle round it (radians)
    gap: float  # distance from the product, as a share of its width
    scale: float  # times the prop's own size
    depth: float  # 0 level with the product's foot, 1 further back (higher, smaller)


@dataclass(frozen=True)
class Look:
    scene: Scene  # the scene as this variant sees it (light, horizon, palette, placement)
    jitter: tuple[float, float, float]  # (dx, dy, dscale) for `place`, shares of the frame
    props: tuple[PropPlacement, ...]

    def describe(self) -> dict:
        s = self.scene
        return {"light_direction": round(s.lighting.direction, 1), "light_softness": round(s.lighting.softness, 2),
                "horizon": round(s.classic.horizon, 3), "colors": list(s.classic.colors),
                "scale": round(s.placement.scale * (1 + self.jitter[2]), 3),
                "offset": [round(self.jitter[0], 3), round(self.jitter[1], 3)], "props": len(self.props)}


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (int(round(float(np.clip(v, 0, 1)) * 255)) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i: i + 2], 16) for i in (1, 3, 5)], np.float64) / 255.0


def _tinted(colors: tuple[str, ...], palette: list[str], rng: np.random.Generator) -> tuple[str, ...]:
    """Each backdrop colour mixed a little towards another colour of the scene's own,
    then a touch lighter or darker (value only: the hue stays the scene's)."""
    out = []
    for c in colors:
        base = _rgb(c)
        other = _rgb(palette[int(rng.integers(len(palette)))])
        mixed = base + (other - base) * rng.uniform(0.1, 0.35)
        h, s, v = colorsys.rgb_to_hsv(*mixed)
        out.append(_hex(np.array(colorsys.hsv_to_rgb(h, s, float(np.clip(v * rng.uniform(0.93, 1.04), 0, 1))))))
    return tuple(out)


def look(scene: Scene, seed: int, top_down: bool = False) -> Look:
    """The variant `seed` of `scene`. `top_down`: the product was photographed from
    above and is laid out flat (no horizon to move; props go all round it)."""
    n_props = len(scene.classic.props)
    if seed == 0:
        props = tuple(PropPlacement(i, (-1.0 if i % 2 == 0 else 1.0) if not top_down else 2.2 + 2.1 * i,
                                    0.35 + 0.25 * (i // 2), 1.0, 0.25 * (i // 2)) for i in range(n_props))
        return Look(scene, (0.0, 0.0, 0.0), props)
    rng = np.random.default_rng([seed, 20])
    li, cl, pl = scene.lighting, scene.classic, scene.placement
    marketplace = scene.category == "marketplace"
    # the key light swings up to 50° either way: the shadow may fall to the other side
    direction = (li.direction + rng.uniform(-50, 50)) % 360
    softness = float(np.clip(li.softness + rng.uniform(-0.3, 0.15), 0.15, 1.0))
    scene = replace(scene, lighting=replace(li, direction=direction, softness=softness))
    if marketplace:
        # their framing and colours are the marketplace's: the product stays centred, at the
        # scene's size (so every variant reuses the same resized product)
        return Look(scene, (rng.uniform(-0.01, 0.01), rng.uniform(-0.01, 0.01), 0.0), ())

    lift = rng.uniform(-0.09, 0.07)  # camera lower (horizon up) … higher (horizon down)
    horizon = float(np.clip(cl.horizon + lift, 0.25, 0.85))
    floor = float(np.clip(pl.floor + 0.6 * (horizon - cl.horizon), horizon + 0.12, 0.96))
    palette = list(dict.fromkeys([*cl.colors, cl.texture_color]))
    colors = _tinted(cl.colors, palette, rng)
    scene = replace(scene, classic=replace(cl, horizon=horizon, colors=colors),
                    placement=replace(pl, floor=floor))
    # scale down more often than up: the margins stop a larger product soon anyway
    jitter = (rng.uniform(-0.13, 0.13), rng.uniform(-0.04, 0.04) if top_down or pl.anchor != "bottom-center" else 0.0,
              rng.uniform(-0.18, 0.06))
    props = []
    for i in rng.permutation(n_props)[: int(rng.integers(max(1, n_props - 1), n_props + 1))] if n_props else []:
        side = rng.uniform(0, 2 * np.pi) if top_down else float(rng.choice([-1.0, 1.0]))
        props.append(PropPlacement(int(i), side, rng.uniform(0.15, 0.7), rng.uniform(0.75, 1.25), rng.uniform(0, 1)))
    return Look(scene, jitter, tuple(props))
