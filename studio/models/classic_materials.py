"""Surfaces with the structure of the real thing, for the classic compositor.

Every material is a function of surface coordinates (u across, v away from the camera,
in pixels at the nearest row's scale) rather than of the frame's pixels, so the floor
is drawn in perspective (planks converge, far grain is finer) at whatever size the
frame is, and nothing repeats: the noise under each pattern is evaluated at those
coordinates from random grids (value noise through `cv2.remap`), never tiled.

`surface(kind, u, v, z, rng, scale)` returns the pattern (0: the floor's colour, 1:
the texture colour) and how glossy each point is (varnish, polish) for the sheen.
`z` is each pixel's distance relative to the nearest row (1 near, larger far): fine
detail fades with it, as a lens resolves less of it.
"""

from __future__ import annotations

import cv2
import numpy as np

GLOSS = {"wood": 0.45, "marble": 0.8, "stone": 0.1, "concrete": 0.05}


class Noise:
    """Value noise at arbitrary coordinates: random grids, one per octave, read with
    cubic interpolation at (u / cell, v / cell). Octaves whose cells span many pixels
    even where the surface is farthest are read on a 4× coarser copy of the coordinates
    and enlarged (they hold nothing finer): most of a material's layers cost a
    sixteenth."""

    COARSE = 4

    def __init__(self, u: np.ndarray, v: np.ndarray, rng: np.random.Generator, z: np.ndarray | None = None):
        self.u, self.v, self.rng = u, v, rng
        self.u0, self.v0 = float(u.min()), float(v.min())
        self.du, self.dv = float(u.max()) - self.u0, float(v.max()) - self.v0
        self.zmax = float(z.max()) if z is not None else 1.0
        f = self.COARSE
        self.cu = np.ascontiguousarray(u[f // 2:: f, f // 2:: f])
        self.cv = np.ascontiguousarray(v[f // 2:: f, f // 2:: f])

    def _octave(self, cell_u: float, cell_v: float, u: np.ndarray, v: np.ndarray) -> np.ndarray | None:
        gw, gh = int(self.du / cell_u) + 4, int(self.dv / cell_v) + 4
        if gw * gh > 8_000_000:  # finer than any pixel: nothing a lens would show
            return None
        grid = self.rng.standard_normal((gh, gw)).astype(np.float32)
        mx = cv2.multiply(cv2.subtract(u, self.u0), 1 / cell_u)
        my = cv2.multiply(cv2.subtract(v, self.v0), 1 / cell_v)
        return cv2.remap(grid, mx + 1, my + 1, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)

    def at(self, cell_u: float, cell_v: float | None = None, octaves: int = 1, u: np.ndarray | None = None,
           v: np.ndarray | None = None) -> np.ndarray:
        """fBm in about [-1, 1]; cells may differ across and along (stretched grain).
        (u, v): other coordinates of the same pixels (a turned grain), read at full size."""
        cell_v = cell_u if cell_v is None else cell_v
        if u is not None:
            turned = Noise(u, v, self.rng)
            turned.zmax = self.zmax
            return turned._full(cell_u, cell_v, octaves)
        return self._full(cell_u, cell_v, octaves)

    def _full(self, cell_u: float, cell_v: float, octaves: int) -> np.ndarray:
        fine = coarse = None
        amp, total = 1.0, 0.0
        for _ in range(octaves):
            far = min(cell_u, cell_v) / self.zmax / 2.5  # the cell's least size on screen (v is foreshortened)
            if far >= 6 * self.COARSE and self.cu.size:
                layer = self._octave(cell_u, cell_v, self.cu, self.cv)
                if layer is not None:
                    coarse = layer * amp if coarse is None else cv2.scaleAdd(layer, amp, coarse)
            else:
                layer = self._octave(cell_u, cell_v, self.u, self.v)
                if layer is not None:
                    fine = layer * amp if fine is None else cv2.scaleAdd(layer, amp, fine)
            total += amp
            amp *= 0.5
            cell_u, cell_v = cell_u / 2, cell_v / 2
        h, w = self.u.shape
        out = np.zeros((h, w), np.float32) if fine is None else fine
        if coarse is not None:
            out = cv2.add(out, cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR))
        return out * (1 / max(total, 1e-6))


def _ipow(x: np.ndarray, n: int) -> np.ndarray:
    """x**n for a whole exponent by squaring (numpy's float pow is several times slower)."""
    out, sq = None, x
    while n:
        if n & 1:
            out = sq.copy() if out is None else np.multiply(out, sq, out=out)
        n >>= 1
        if n:
            sq = sq * sq
    return out


def _detail(z: np.ndarray, size: float) -> np.ndarray:
    """How much of a detail `size` px wide (at the nearest row) survives at distance z."""
    return np.clip(size / z - 0.6, 0, 1.5) / 1.5


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0, 1)
    return t * t * (3 - 2 * t)


def _hash(idx: np.ndarray, rng: np.random.Generator, n: int = 4096) -> np.ndarray:
    """A random value in [0, 1) per integer index (planks, slabs): a table lookup."""
    table = rng.random(n).astype(np.float32)
    return table[np.mod(idx, n).astype(np.int64)]


def wood(u, v, z, rng, s):
    """Oak planks running away from the camera: each board its own tone and ring
    centre, flat-sawn growth rings (cathedral arches), rays, pores along the grain,
    dark joints between boards and staggered end joints."""
    n = Noise(u, v, rng, z)
    pw = s * 0.11  # a board's width
    board = np.floor(u / pw)
    within = u - board * pw
    length = s * 1.4
    stagger = _hash(board, rng) * length
    end = np.floor((v + stagger) / length)
    key = board * 131 + end
    tone = _hash(key, rng)
    centre = (0.2 + 0.6 * _hash(key + 7, rng)) * pw
    arch_v = _hash(key + 13, rng) * length
    wobble = n.at(s * 0.5, s * 2.0, 2) * (pw * 0.25)
    du = within - centre + wobble
    dv = (v + stagger - end * length - arch_v) * 0.06
    r = np.sqrt(du * du + dv * dv)
    spacing = pw * (0.05 + 0.03 * _hash(key + 3, rng))
    phase = r / spacing + n.at(s * 0.08, s * 0.3, 2) * 0.8
    ring = phase - np.floor(phase)
    late = _smoothstep(0.55, 0.9, ring) * (1 - _smoothstep(0.93, 1.0, ring))  # latewood: dark, sharp edge
    pores = np.clip(n.at(1.6, 14.0, 1) * 1.8 - 1.1, 0, 1) * _detail(z, 3.0)
    rays = np.clip(n.at(9.0, 2.2, 1) * 2.0 - 1.4, 0, 1) * _detail(z, 4.0)
    out = 0.3 + 0.5 * (tone - 0.5) + 0.4 * late + 0.25 * pores - 0.25 * rays
    out += 0.12 * n.at(s * 0.2, s * 0.9, 2)
    gap = np.minimum(within, pw - within)
    joint = 1 - _smoothstep(0.4, 1.6 * np.sqrt(z), gap)
    ev = np.mod(v + stagger, length)
    joint = np.maximum(joint, 1 - _smoothstep(0.4, 1.6 * np.sqrt(z), np.minimum(ev, length - ev)))
    out = out * (1 - joint) + 0.95 * joint
    return np.clip(out, 0, 1)


def marble(u, v, z, rng, s):
    """Carrara-like: a cloudy ground, main veins along a turbulent diagonal, thin
    secondary veins branching off, tinted patches."""
    n = Noise(u, v, rng, z)
    turb = np.abs(n.at(s * 0.35)) + 0.5 * np.abs(n.at(s * 0.15)) + 0.25 * np.abs(n.at(s * 0.06))
    # fine turbulence makes a vein's course ragged, as crystal grains break it; without it a vein
    # seen from above is a smooth drawn line
    turb += (0.14 * np.abs(n.at(s * 0.025)) + 0.07 * np.abs(n.at(s * 0.01))) * _detail(z, 4.0)
    t = (u * 0.8 + v * 0.5) / s * 1.6 + n.at(s * 0.5, None, 3) * 0.9 + turb * 0.45
    wave = 1 - np.abs(np.sin(t * np.pi))
    w4 = _ipow(wave, 4)
    main = _ipow(w4, 4) + 0.25 * w4  # a sharp core in a grey haze where the mineral seeped
    strength = np.clip(0.35 + 0.9 * n.at(s * 0.4), 0, 1)  # a vein fades in and out along its course
    thin_t = (u * -0.3 + v * 1.0) / s * 3.0 + n.at(s * 0.3, None, 2) * 0.8 + np.abs(n.at(s * 0.08)) * 0.4 \
        + np.abs(n.at(s * 0.02)) * 0.12 * _detail(z, 4.0)
    thin = _ipow(1 - np.abs(np.sin(thin_t * np.pi)), 50) * np.clip(n.at(s * 0.25) * 1.5 - 0.2, 0, 1)
    clouds = 0.5 + 0.5 * n.at(s * 0.2, None, 4)
    out = 0.22 * clouds + 0.75 * main * strength + 0.4 * thin * _detail(z, 2.0)
    return np.clip(out, 0, 1)


def linen(u, v, z, rng, s):
    """Plain weave (over-under threads with slubs: thicker, darker runs of yarn) and
    soft folds; the folds are shaded by `fold_shade` with the key light."""
    n = Noise(u, v, rng, z)
    pitch = max(2.2, s * 0.0028)
    slub_u = n.at(pitch * 0.8, pitch * 25, 1)
    slub_v = n.at(pitch * 25, pitch * 0.8, 1)
    wu = np.sin(u * (np.pi / pitch))
    wv = np.sin(v * (np.pi / pitch))
    weave = 0.5 + 0.5 * wu * wv  # which thread is on top
    thread = 0.5 + 0.3 * np.where(weave > 0.5, slub_u, slub_v)
    fine = _detail(z, pitch * 1.5)
    out = 0.45 + (0.55 * weave * thread + 0.1 * slub_u - 0.3) * fine
    out += 0.08 * n.at(s * 0.3, None, 2)
    return np.clip(out, 0, 1)


def folds(u, v, z, rng, s) -> np.ndarray:
    """The height of a cloth's soft folds: a few long, gentle ridges running slantwise
    (cloth laid down creases along its length), not a ripple."""
    n = Noise(u, v, rng, z)
    a = (u * 0.85 + v * 0.5) / s
    b = (-u * 0.5 + v * 0.85) / s
    return 0.7 * n.at(s * 0.6, s * 0.16, 2, a * s, b * s) + 0.3 * n.at(s * 0.4, None, 1)


def concrete(u, v, z, rng, s):
    """Cast concrete: trowelled mottling, exposed aggregate (small stones of their own
    tone) and pits (air bubbles) with a light rim."""
    n = Noise(u, v, rng, z)
    mottle = n.at(s * 0.15, None, 4)
    agg = n.at(max(2.0, s * 0.004), None, 1)
    stones = _smoothstep(0.55, 0.8, agg) * (0.5 + 0.5 * n.at(max(3.0, s * 0.01))) * _detail(z, 3.0)
    bubbles = n.at(max(2.5, s * 0.006), None, 1)
    fine = _detail(z, 3.0)
    pits = _smoothstep(1.05, 1.35, bubbles) * fine
    rim = np.clip(_smoothstep(0.8, 1.05, bubbles) * fine - pits, 0, 1)  # the lip the light catches
    out = 0.45 + 0.3 * mottle + 0.3 * stones + 0.5 * pits - 0.2 * rim
    out += 0.1 * n.at(1.3, None, 1) * _detail(z, 1.5)
    return np.clip(out, 0, 1)


def stone(u, v, z, rng, s):
    """Sandstone flags: slabs with joints, each slab's own tone, mineral grain, and
    cracks (ridged noise: thin dark lines that wander and branch)."""
    n = Noise(u, v, rng, z)
    sw, sl = s * 0.55, s * 0.42
    row = np.floor(v / sl)
    off = _hash(row, rng) * sw
    col = np.floor((u + off) / sw)
    key = row * 977 + col
    tone = _hash(key, rng)
    gu = np.mod(u + off, sw)
    gv = np.mod(v, sl)
    gap = np.minimum(np.minimum(gu, sw - gu), np.minimum(gv, sl - gv))
    joint = 1 - _smoothstep(1.0, 3.0 * np.sqrt(z), gap)
    grain = n.at(max(1.5, s * 0.002), None, 2) * _detail(z, 2.0)
    ridge = 1 - np.abs(n.at(s * 0.12, None, 3))
    cracks = _smoothstep(0.94, 0.99, ridge) * (n.at(s * 0.3) > -0.1)
    out = 0.4 + 0.5 * (tone - 0.5) + 0.18 * n.at(s * 0.08, None, 3) + 0.15 * grain + 0.5 * cracks
    return np.clip(out * (1 - joint) + 0.8 * joint, 0, 1)


def sand(u, v, z, rng, s):
    n = Noise(u, v, rng, z)
    ripples = 0.5 + 0.5 * np.sin(v / s * 70 + n.at(s * 0.2, None, 3) * 5)
    grains = (0.5 + 0.5 * n.at(1.2)) * _detail(z, 1.5)
    return np.clip(0.35 * ripples + 0.45 * grains + 0.1, 0, 1)


def paper(u, v, z, rng, s):
    """Seamless paper: its fibres barely show; the sweep's light falloff does the rest."""
    n = Noise(u, v, rng, z)
    return np.clip(0.5 + 0.25 * n.at(max(2.0, s * 0.003), None, 2) * _detail(z, 2.0) + 0.2 * n.at(s * 0.2, None, 2),
                   0, 1)


MATERIALS = {"wood": wood, "marble": marble, "linen": linen, "concrete": concrete, "stone": stone, "sand": sand,
             "paper": paper}


def surface(kind: str, u: np.ndarray, v: np.ndarray, z: np.ndarray, rng: np.random.Generator, scale: float
            ) -> np.ndarray:
    """The material `kind` at surface coordinates (u, v) seen from distance z, in [0, 1]
    (0 the floor's colour, 1 the texture colour); `scale` is the frame's long side."""
    make = MATERIALS.get(kind)
    if make is None:
        return np.zeros(u.shape, np.float32)
    return make(u, v, z, rng, scale).astype(np.float32)
