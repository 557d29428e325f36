"""The classic compositor's empty set, rendered in float at the frame's size: wall and
floor (flat, gradient, paper sweep, wall and floor), the floor's material in
perspective (classic_materials), the set the scene's name promises (a window's light,
a garden behind, wall tiles, a shelf's or counter's front edge; podiums are props:
classic_props), the key light's pool and falloff, ambient occlusion where surfaces
meet, the lens (what lies behind the product softened, a mild vignette).

`render(scene, W, H, rng, light_dir, stage)` → (H, W, 3) float32 RGB in [0, 1].
Everything that is soft by nature (window light, out-of-focus walls, light pools) is
worked out on a coarse grid and enlarged: a blur for free, and cheap at any size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from studio.imaging.compose import Box, hex_rgb
from studio.models.classic_materials import GLOSS, Noise, folds, surface
from studio.models.classic_props import Cylinder, podium
from studio.scenes import Scene


@dataclass(frozen=True)
class Stage:
    """Where the set's geometry lies in this frame (pixels)."""

    foot: float  # the row the product stands on
    centre: float  # the product's centre column
    ground: float  # the floor's row under the product (below its foot when it stands on a podium)
    edge: float | None = None  # a shelf's or counter's front edge (row), if the set has one


def arrange(scene: Scene, box: Box, W: int, H: int, top_down: bool = False
            ) -> tuple[Box, Stage, tuple[Cylinder, ...]]:
    """The set's geometry round the placed product: on a podium set the product stands on
    the drums (raised, smaller if it must be); a shelf or counter ends at a front edge
    between the product's foot and the frame's bottom."""
    c = scene.classic
    ground = float(box.y + box.h)
    drums: tuple[Cylinder, ...] = ()
    if top_down or c.backdrop == "flat":
        # seen from above the light's pool is centred on the product, not beyond its foot
        middle = box.y + box.h / 2
        return box, Stage(middle, box.x + box.w / 2, ground), drums
    if c.set == "podium":
        box, drums = podium(box, W, H, scene.placement.margin)
    edge = None
    if c.set in ("shelf", "counter"):
        e = ground + max(0.05 * H, 0.5 * (H - ground))
        edge = e if e < H - 0.02 * H else None
    return box, Stage(float(box.y + box.h), box.x + box.w / 2, ground, edge), drums


def _coarse(W: int, H: int, f: int = 8) -> tuple[int, int]:
    return max(2, W // f), max(2, H // f)


def _up(a: np.ndarray, W: int, H: int) -> np.ndarray:
    return cv2.resize(a.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)


def _floor_coords(H: int, W: int, horizon: float, rows: slice, sweep: bool):
    """Surface coordinates (u, v) and distance z of the rows `rows`: a ground plane seen
    from a camera a little above it (its vanishing line above where the floor meets the
    wall), and for a sweep the paper rising into the wall at the horizon's distance."""
    hy = horizon * H
    yv = hy - 0.9 * (H - hy)  # the vanishing line of the floor
    foreshorten = 0.4  # near rows: one pixel down the frame is 2.5 px of floor
    ys = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]
    xs = np.arange(W, dtype=np.float32)[None, :] - W / 2
    z_floor = (H - yv) / (np.maximum(ys, hy) - yv)
    z_h = (H - yv) / (hy - yv)
    v_h = (z_h - 1) * (H - yv) / foreshorten
    on_floor = ys >= hy
    if sweep:
        # the paper curves from floor to wall: its distance and its rate along the frame
        # turn over the sweep's band (no crease where a formula changes), summed upwards
        t = 1 / (1 + np.exp(np.clip(-(ys - hy) / (0.12 * H), -60, 60)))
        z = z_h + (z_floor - z_h) * t
        rate = z_h + (z_floor**2 / foreshorten - z_h) * t  # surface per frame row
        v = np.cumsum(rate[::-1, 0])[::-1][:, None] - rate[-1, 0]
    else:
        z = np.where(on_floor, z_floor, z_h)
        v = np.where(on_floor, (z_floor - 1) * (H - yv) / foreshorten, v_h)
    z = z.astype(np.float32)
    u = xs * z + W / 2
    return np.ascontiguousarray(u, np.float32), np.ascontiguousarray(np.broadcast_to(v, u.shape), np.float32), \
        np.ascontiguousarray(np.broadcast_to(z, u.shape), np.float32)


def _window_light(W: int, H: int, horizon: float, light_dir: float) -> np.ndarray:
    """Sunlight through a window off frame on the light's side: a bright patch of panes
    (soft-edged, crossed by the glazing bars' shadows) on the wall, and the same patch
    stretched across the floor. 0 … 1 on a coarse grid."""
    cw, ch = _coarse(W, H, 4)
    ys, xs = np.mgrid[0:ch, 0:cw].astype(np.float32)
    x, y = xs / cw, ys / ch
    hy = horizon
    side = 1.0 if math.cos(math.radians(light_dir)) >= 0 else -1.0  # light from the right throws it left
    drop = 0.25 + 0.5 * abs(math.sin(math.radians(light_dir)))
    # the wall: a window's image sheared by the light's slant, on the side away from the light
    shear = -side * 0.35
    wx = x - shear * (hy - y)
    cx = 0.5 - side * 0.12
    pane_w, pane_h = 0.13, 0.16
    top = hy - 0.04 - 2 * pane_h
    # on the floor the patch comes towards the camera, stretched and slanted with the light
    fy = (y - hy) / max(1e-3, 1 - hy)
    floor_x = x + side * 0.25 * fy * drop
    floor_y = hy - 0.04 - (y - hy) * 1.6 / drop
    px = np.where(y < hy, wx, floor_x)
    py = np.where(y < hy, y, floor_y)
    gx = (px - (cx - 1.5 * pane_w)) / pane_w
    gy = (py - top) / pane_h
    inside = (gx > 0) & (gx < 3) & (gy > 0) & (gy < 2)
    bar_x = np.abs(gx - np.round(gx))
    bar_y = np.abs(gy - np.round(gy))
    panes = np.clip((bar_x - 0.05) * 14, 0, 1) * np.clip((bar_y - 0.04) * 14, 0, 1) * inside
    panes *= np.where(y < hy, 1.0, 0.85)
    soft = max(1.0, cw * 0.006)
    return cv2.GaussianBlur(panes.astype(np.float32), (0, 0), soft)


def _garden(W: int, H: int, rng: np.random.Generator, tint: np.ndarray) -> np.ndarray:
    """A garden far behind the table, out of focus: leaves in several greens, darker
    gaps, sky showing through as bright discs (bokeh), lighter towards the top."""
    cw, ch = _coarse(W, H, 6)
    ys, xs = np.mgrid[0:ch, 0:cw].astype(np.float32)
    # blurred white noise: round, direction-free clumps (value noise on a square grid
    # leaves crosses and stars that a leafy blur never shows)
    depth = _clumps(rng, ch, cw, cw * 0.09) + 0.5 * _clumps(rng, ch, cw, cw * 0.04)
    leaf = _clumps(rng, ch, cw, cw * 0.018) + 0.5 * _clumps(rng, ch, cw, cw * 0.009)
    dark = np.array([0.16, 0.22, 0.12], np.float32)
    mid = tint.astype(np.float32)
    light = np.array([0.72, 0.78, 0.5], np.float32)
    t = np.clip(0.5 + 0.3 * depth + 0.18 * leaf, 0, 1)[..., None]
    img = dark + (mid - dark) * np.clip(t * 1.6, 0, 1) + (light - mid) * np.clip(t * 1.6 - 0.8, 0, 1)
    sky = np.clip(1.2 - ys / ch * 2.4, 0, 1)[..., None] * np.clip(leaf[..., None] * 0.6 + 0.3, 0, 1)
    img = img + (np.array([0.86, 0.9, 0.92], np.float32) - img) * 0.55 * sky
    # bokeh: the lens's image of bright gaps
    discs = _discs(cw, ch, rng, int(60 * (cw * ch) / (340 * 280) + 20), max(2.0, cw * 0.025))
    img = img + (np.array([0.95, 0.97, 0.9], np.float32) - img) * np.clip(discs, 0, 1)[..., None]
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), max(1.0, cw * 0.004))
    return cv2.resize(img, (W, H), interpolation=cv2.INTER_CUBIC)


def _clumps(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Isotropic smooth noise of unit spread: white noise blurred by `sigma`."""
    n = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), max(0.5, sigma))
    return n / max(float(n.std()), 1e-6)


def _discs(cw: int, ch: int, rng: np.random.Generator, count: int, r0: float, top: float = 0.95) -> np.ndarray:
    """Out-of-focus points of light as a lens draws them: discs, a little brighter at the
    rim, brighter higher up; 0 … 1 on a (ch, cw) grid."""
    ys, xs = np.mgrid[0:ch, 0:cw].astype(np.float32)
    discs = np.zeros((ch, cw), np.float32)
    for _ in range(count):
        cx, cy = rng.uniform(0, cw), rng.uniform(0, ch * top)
        r = r0 * rng.uniform(0.6, 1.5)
        x0, x1 = max(0, int(cx - r - 2)), min(cw, int(cx + r + 3))
        y0, y1 = max(0, int(cy - r - 2)), min(ch, int(cy + r + 3))
        if x1 <= x0 or y1 <= y0:
            continue
        d = np.hypot(xs[y0:y1, x0:x1] - cx, ys[y0:y1, x0:x1] - cy) / r
        disc = np.clip((1 - d) * r, 0, 1) * (0.6 + 0.4 * d) * rng.uniform(0.15, 0.5) * (1.3 - cy / ch)
        np.maximum(discs[y0:y1, x0:x1], disc, out=discs[y0:y1, x0:x1])
    return discs


def _fairy_lights(W: int, H: int, rng: np.random.Generator, horizon: float) -> np.ndarray:
    """Warm fairy lights far behind, out of focus: a light to add (RGB, 0 … ~1)."""
    cw, ch = _coarse(W, H, 4)
    discs = _discs(cw, ch, rng, int(70 * (cw * ch) / (320 * 400) + 25), max(2.0, cw * 0.03), horizon * 0.95)
    discs = cv2.GaussianBlur(discs, (0, 0), max(0.8, cw * 0.003)) * 1.6
    glow = cv2.GaussianBlur(discs, (0, 0), max(2.0, cw * 0.05)) * 1.2  # their light on the wall round them
    warm = np.array([1.0, 0.78, 0.42], np.float32)
    return cv2.resize(np.clip(discs + glow, 0, 1.2)[..., None] * warm, (W, H), interpolation=cv2.INTER_LINEAR)


def _sea(W: int, H: int, rng: np.random.Generator, horizon: float, sky: np.ndarray) -> np.ndarray:
    """Sky and sea behind a beach, out of focus: the sky paler towards the sea's line,
    the sea a deeper blue-green band with sun glints, above the sand's horizon."""
    cw, ch = _coarse(W, H, 6)
    y = (np.arange(ch, dtype=np.float32) / ch)[:, None, None]
    line = horizon - 0.14
    pale = np.array([0.93, 0.96, 0.97], np.float32)
    img = sky + (pale - sky) * np.clip(1 - (line - y) / max(line, 1e-3), 0, 1) ** 2
    img = np.broadcast_to(img, (ch, cw, 3)).copy()
    xs = np.arange(cw, dtype=np.float32)[None, :]
    n = Noise(np.broadcast_to(xs, (ch, cw)), np.broadcast_to(y[..., 0] * ch, (ch, cw)), rng)
    deep, near = np.array([0.1, 0.36, 0.5], np.float32), np.array([0.28, 0.6, 0.66], np.float32)
    t = np.clip((y - line) / max(horizon - line, 1e-3), 0, 1)
    water = deep + (near - deep) * t
    glints = np.clip(n.at(cw * 0.03, cw * 0.006, 2) * 1.6 - 0.9, 0, 1)[..., None] * 0.35
    water = water + (pale - water) * glints
    sea = (y >= line).astype(np.float32)
    img = img * (1 - sea) + water * sea
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), max(1.0, cw * 0.008))  # far beyond the focus
    return cv2.resize(img, (W, H), interpolation=cv2.INTER_CUBIC)


def _tiles(W: int, H: int, rng: np.random.Generator, size: float) -> np.ndarray:
    """Glazed wall tiles out of focus: each tile a touch lighter or darker, lighter
    grout between. A brightness factor around 1, on a coarse grid enlarged."""
    cw, ch = _coarse(W, H, 3)
    ys, xs = np.mgrid[0:ch, 0:cw].astype(np.float32)
    t = size / 3
    ix, iy = np.floor(xs / t), np.floor(ys / t)
    table = rng.uniform(-1, 1, 4096).astype(np.float32)
    tone = table[np.mod((iy * 61 + ix).astype(np.int64), 4096)]
    gx, gy = np.mod(xs, t), np.mod(ys, t)
    gap = np.minimum(np.minimum(gx, t - gx), np.minimum(gy, t - gy))
    grout = np.clip(1.5 - gap, 0, 1)
    out = 1 + 0.03 * tone + 0.06 * grout - 0.04 * np.clip(2.5 - gap, 0, 1) * (1 - grout)
    out = cv2.GaussianBlur(out.astype(np.float32), (0, 0), 1.2)
    return _up(out, W, H)


def render(scene: Scene, W: int, H: int, rng: np.random.Generator, light_dir: float, stage: Stage) -> np.ndarray:
    """The empty set: RGB float32 in [0, 1]."""
    c = scene.classic
    colors = [hex_rgb(x) for x in c.colors]
    ys = np.linspace(0, 1, H, dtype=np.float32)[:, None]
    horizon = c.horizon
    s = float(max(W, H))
    kind = c.backdrop
    # the backdrop's colour changes only from row to row: (H, 1, 3) until the texture
    if kind == "flat":
        base = np.broadcast_to(colors[0], (H, 1, 3)).astype(np.float32)
        floor = np.ones((H, 1), np.float32)
    elif kind == "gradient":
        stops = np.linspace(0, 1, len(colors))
        base = np.stack([np.interp(ys[:, 0], stops, [col[i] for col in colors]) for i in range(3)], -1)
        base = base[:, None, :].astype(np.float32)
        floor = np.clip((ys - horizon) / 0.05, 0, 1)
    else:
        wall, ground = colors[0], colors[-1]
        # a paper sweep curves gently from wall to floor; a wall meets the floor at an edge
        width = 0.12 if kind == "sweep" else 0.002
        t = 1 / (1 + np.exp(np.clip(-(ys - horizon) / width, -60, 60)))
        base = (wall * (1 - t)[..., None] + ground * t[..., None]).reshape(H, 1, 3).astype(np.float32)
        floor = t
        if kind == "wall-floor":
            # the floor recedes: a touch darker towards the horizon
            base = base * (1 - 0.12 * np.clip(1 - (ys - horizon) / (1 - horizon + 1e-3), 0, 1) * t)[..., None]
    img = np.ascontiguousarray(np.broadcast_to(base, (H, W, 3)), np.float32)

    if c.set == "garden" and kind == "wall-floor":
        behind = _garden(W, H, rng, colors[0])
        wall_w = (1 - floor)[..., None]
        img = img * (1 - wall_w) + behind * wall_w
    if c.set in ("shelf", "counter") and kind == "wall-floor":
        tiles = _tiles(W, H, rng, s * (0.09 if c.set == "shelf" else 0.07))
        img *= (1 + (tiles - 1) * (1 - floor))[..., None]
    if c.set == "sea" and kind == "wall-floor":
        behind = _sea(W, H, rng, horizon, colors[0])
        wall_w = (1 - floor)[..., None]
        img = img * (1 - wall_w) + behind * wall_w
    if c.set == "lights" and kind == "wall-floor":
        img += _fairy_lights(W, H, rng, horizon) * (1 - floor)[..., None] * 0.7

    if c.texture != "none":
        tc = hex_rgb(c.texture_color)
        if kind == "flat":
            ys_i, xs_i = np.mgrid[0:H, 0:W].astype(np.float32)
            u, v, z = xs_i, ys_i, np.ones((H, W), np.float32)
            rows = slice(0, H)
        else:
            # the texture lies on the floor (and on a sweep's paper up the wall)
            start = 0 if kind == "sweep" else max(0, int(horizon * H) - 2)
            rows = slice(start, H)
            u, v, z = _floor_coords(H, W, horizon, rows, kind == "sweep")
        pattern = surface(c.texture, u, v, z, rng, s)
        weight = pattern * c.texture_strength
        if kind != "flat":
            weight *= floor[rows]
        part = img[rows]
        part += (tc[None, None, :] - part) * weight[..., None]
        if c.texture == "linen":
            # the cloth's folds, shaded by the key light (a bump map: the slope towards the light)
            hgt = folds(u, v, z, rng, s)
            gx = cv2.Sobel(hgt, cv2.CV_32F, 1, 0, ksize=3)
            gy = cv2.Sobel(hgt, cv2.CV_32F, 0, 1, ksize=3)
            a = math.radians(light_dir)
            slope = (gx * math.cos(a) - gy * math.sin(a)) * (s * 0.0008)
            part *= (1 + np.clip(slope, -0.5, 0.5) * 0.35 + 0.06 * hgt)[..., None]
        img[rows] = part
        gloss = GLOSS.get(c.texture, 0.0) if kind != "flat" else 0.0
        sheen_mask = (1 - 0.6 * pattern) * gloss if gloss else None  # pores and veins do not shine
    else:
        sheen_mask, rows = None, slice(0, H)

    # the key light: brighter towards it, a pool round the product, the paper falling
    # off upwards; softer light falls off less. Smooth: a coarse grid, enlarged
    cw, ch = _coarse(W, H)
    xs = np.linspace(-1, 1, cw, dtype=np.float32)[None, :]
    yy = np.linspace(-1, 1, ch, dtype=np.float32)[:, None]
    ang = math.radians(light_dir)
    toward = xs * math.cos(ang) - yy * math.sin(ang)
    soft = scene.lighting.softness
    light = 1 + (0.12 * (1 - soft) + 0.04) * toward
    px = (stage.centre / W) * 2 - 1 + 0.35 * math.cos(ang)
    py = (stage.foot / H) * 2 - 1 - (0.5 if kind != "flat" else 0.0)
    if scene.category != "marketplace":  # a marketplace's white stays as white as its rules want
        pool = np.exp(-((xs - px) ** 2 * 0.9 + (yy - py) ** 2 * 1.2) / (1.2 + soft))
        light *= 0.9 + 0.14 * pool
    if kind == "sweep":
        light *= 1 - 0.18 * np.clip((horizon * 2 - 1) - yy, 0, None) / (horizon * 2)
    if c.vignette:
        # a lens's vignette: cos⁴-like darkening into the corners, mild
        light *= 1 - c.vignette * 0.5 * np.clip(xs**2 + yy**2 - 0.3, 0, None)
    light = _up(light, W, H)
    if kind == "wall-floor":
        # ambient occlusion in the corner where the wall meets the floor
        d = np.abs(np.arange(H, dtype=np.float32) - horizon * H) / (0.02 * H)
        light *= (1 - 0.16 * np.exp(-d))[:, None]
    if c.set == "window" and kind != "flat":
        # the window's patch keeps soft but drawn edges: from a finer grid than the falloff's
        light *= 0.84 + 0.5 * _up(_window_light(W, H, horizon, light_dir), W, H)
    img *= light[..., None]

    if sheen_mask is not None:
        # varnish or polish: the key light's broad reflection on the floor beyond the product
        sx = (stage.centre / W) * 2 - 1 + 0.45 * math.cos(ang)
        sy_row = (horizon + 0.3 * (stage.foot / H - horizon))
        ry = np.linspace(0, 1, H, dtype=np.float32)[rows][:, None]
        rx = np.linspace(-1, 1, W, dtype=np.float32)[None, :]
        lobe = np.exp(-((rx - sx) ** 2) / (0.18 + 0.4 * soft)) * np.exp(-((ry - sy_row) ** 2) / (0.01 + 0.03 * soft))
        add = (0.22 * lobe * sheen_mask)[..., None]
        part = img[rows]
        part += add * (1.05 - part)
        img[rows] = part

    if stage.edge is not None and kind != "flat":
        _front_edge(img, stage.edge, c.set, H)
    if kind != "flat":
        _depth_of_field(img, stage.ground, H, W)
    return np.clip(img, 0, 1, out=img)


def _depth_of_field(img: np.ndarray, ground: float, H: int, W: int) -> None:
    """The lens focused on the product: what lies behind its foot (higher in the frame)
    softens with distance, up to a blur of about 0.4% of the frame; in place. The blur
    is made at a quarter of the size (it holds nothing finer) and blended in by row."""
    far_rows = int(min(H, max(0, ground)))
    if far_rows < 8:
        return
    part = img[:far_rows]
    f = 4
    small = cv2.resize(part, (max(1, W // f), max(1, far_rows // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.6, 0.004 * max(H, W) / f))
    soft = cv2.resize(small, (W, far_rows), interpolation=cv2.INTER_LINEAR)
    d = np.clip((ground - np.arange(far_rows, dtype=np.float32)) / (0.35 * H), 0, 1)
    soft -= part
    soft *= d[:, None, None]
    part += soft


def _front_edge(img: np.ndarray, edge: float, kind: str, H: int) -> None:
    """A shelf's or counter's front: a bright bevel where the top turns down, the front
    face in its own (darker) light, and under a shelf its shadow on the wall."""
    e = int(edge)
    if e >= H - 2:
        return
    thick = max(3, int(H * (0.03 if kind == "shelf" else 0.9)))
    face = slice(e, min(H, e + thick))
    # the face's colour: the top's just behind the edge, without its texture (smeared
    # along the row), so the face does not carry the top's grain down as streaks
    top_row = cv2.GaussianBlur(img[max(0, e - 1)][None], (0, 0), sigmaX=max(2.0, img.shape[1] * 0.03), sigmaY=0.1)[0]
    n = face.stop - face.start
    shade = np.linspace(0.78, 0.7, n, dtype=np.float32)[:, None, None]
    img[face] = top_row[None] * shade
    bevel = max(2, int(H * 0.003))
    img[e: e + bevel] = np.minimum(1, top_row[None] * 1.12 + 0.04)
    # the top darkens a little just behind its edge (the edge's rounding turns away)
    img[max(0, e - bevel): e] *= 0.97
    if kind == "shelf" and face.stop < H:
        below = slice(face.stop, H)
        d = np.arange(below.stop - below.start, dtype=np.float32)
        img[below] *= (1 - 0.35 * np.exp(-d / (0.03 * H)))[:, None, None]
