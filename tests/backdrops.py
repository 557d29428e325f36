"""Backdrop photos with what a test needs to know about them: a wall above a table
whose far edge is at a known height, lit from a known side, with a little texture
and sensor noise, at any size (a 12 MP phone photo as well as a small one)."""

from __future__ import annotations

import math

import numpy as np


def table_photo(w: int = 1200, h: int = 900, edge: float = 0.55, light: float = 180.0, seed: int = 0,
                wall=(196, 188, 176), table=(150, 112, 78)) -> np.ndarray:
    """uint8 RGB: a wall above row `edge`·h, a wooden table below, brighter towards the
    light (`light` in Lighting.direction's degrees: 180 from the left)."""
    rng = np.random.default_rng(seed)
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    yy = ys * 2 - 1
    ang = math.radians(light)
    toward = xs * math.cos(ang) - yy * math.sin(ang)
    lit = 1 + 0.22 * toward  # brighter towards the light
    on_table = (ys >= edge).astype(np.float32)
    base = np.asarray(wall, np.float32) * (1 - on_table)[..., None] + np.asarray(table, np.float32) * on_table[..., None]
    grain = 1 + 0.05 * np.sin(ys * 400 + 3 * np.sin(xs * 7))[..., None] * on_table[..., None]
    img = base * lit[..., None] * grain + rng.normal(0, 2.0, (h, w, 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)
