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


# -- the hard ones sellers bring: each returns (uint8 RGB, truth) where truth names the
# main top surface a product stands on as (top, bottom) shares of the height and (left,
# right) shares of the width, and the depth a model would read (disparity, 1 near, 0 far)

def _noise(rng, h, w, sigma=2.0):
    return rng.normal(0, sigma, (h, w, 3)).astype(np.float32)


def _grid(h, w):
    return np.mgrid[0:1:complex(0, h), 0:1:complex(0, w)].astype(np.float32)


def wood_table(w: int = 1200, h: int = 900, edge: float = 0.45, seed: int = 1):
    """A wooden table top against a plaster wall, the top running to the frame's bottom;
    light from the upper left; wood grain compressed with distance."""
    rng = np.random.default_rng(seed)
    ys, xs = _grid(h, w)
    on = ys >= edge
    depth = np.clip((ys - edge) / (1 - edge), 0, 1)
    grain = np.sin(40 / (0.15 + depth) + 6 * np.sin(xs * 5 + ys * 3)) * 0.07
    wall = np.float32([214, 206, 192]) * (1 + 0.02 * np.sin(xs * 90)[..., None] * np.sin(ys * 70)[..., None])
    wood = np.float32([168, 118, 76]) * (1 + grain)[..., None]
    img = np.where(on[..., None], wood, wall) * (1.1 - 0.25 * xs - 0.1 * ys)[..., None] + _noise(rng, h, w)
    disparity = np.where(on, 0.35 + 0.65 * depth, 0.3)
    return np.clip(img, 0, 255).astype(np.uint8), {"top": (edge, 1.0), "x": (0.0, 1.0), "disparity": disparity}


def bokeh_table(w: int = 1200, h: int = 900, edge: float = 0.58, seed: int = 2):
    """A pale table with a café's bokeh behind: bright soft discs of every colour on a
    dim, blurred background, the table's far edge sharp."""
    import cv2

    rng = np.random.default_rng(seed)
    ys, xs = _grid(h, w)
    back = np.zeros((h, w, 3), np.float32) + np.float32([70, 58, 50]) * (1 + 0.3 * ys)[..., None]
    for _ in range(40):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, edge * h * 1.1), rng.uniform(0.015, 0.05) * w
        colour = rng.uniform(120, 255, 3).astype(np.float32)
        disc = ((np.arange(w)[None] - cx) ** 2 + (np.arange(h)[:, None] - cy) ** 2 < r * r).astype(np.float32)
        back += disc[..., None] * (colour - back) * 0.6
    back = cv2.GaussianBlur(back, (0, 0), 0.012 * w)
    depth = np.clip((ys - edge) / (1 - edge), 0, 1)
    table = np.float32([226, 214, 196]) * (0.9 + 0.1 * depth)[..., None] * (1 + 0.03 * np.sin(xs * 300 + ys * 20))[..., None]
    img = np.where((ys >= edge)[..., None], table, back) + _noise(rng, h, w)
    disparity = np.where(ys >= edge, 0.4 + 0.6 * depth, 0.1)
    return np.clip(img, 0, 255).astype(np.uint8), {"top": (edge, 1.0), "x": (0.0, 1.0), "disparity": disparity}


def lit_table_dark_studio(w: int = 1200, h: int = 900, seed: int = 3):
    """A table lit from above in a dark studio: the top (0.49–0.80) bright and grained,
    its front edge (0.80–0.88) in shade, a dark floor below, black behind."""
    rng = np.random.default_rng(seed)
    ys, xs = _grid(h, w)
    top, front, floor = 0.49, 0.80, 0.88
    img = np.zeros((h, w, 3), np.float32) + 14
    inside = (xs > 0.06) & (xs < 0.94)
    spot = np.exp(-((xs - 0.5) ** 2) / 0.18 - ((ys - 0.62) ** 2) / 0.08)
    on_top = (ys >= top) & (ys < front) & inside
    img[on_top] = (np.float32([190, 150, 110]) * (0.55 + 0.45 * spot[on_top])[:, None]
                   * (1 + 0.06 * np.sin(ys[on_top] * 500 + 4 * np.sin(xs[on_top] * 9)))[:, None])
    on_front = (ys >= front) & (ys < floor) & inside
    img[on_front] = np.float32([70, 52, 38])
    img[ys >= floor] = np.float32([26, 24, 22])
    img += _noise(rng, h, w, 2.5)
    depth = np.clip((ys - top) / (front - top), 0, 1)
    disparity = np.where(on_top, 0.45 + 0.35 * depth, np.where(on_front, 0.82, np.where(ys >= floor, 0.9, 0.05)))
    return np.clip(img, 0, 255).astype(np.uint8), {"top": (top, front), "x": (0.06, 0.94), "disparity": disparity}


def pink_podium(w: int = 1200, h: int = 900, seed: int = 4):
    """A pink three-tier podium on a seamless pink sweep: each tier's top lit from above,
    its round side in shade; the top tier's top from 0.76 to 0.80, the floor in front of
    the steps below 0.90."""
    rng = np.random.default_rng(seed)
    ys, xs = _grid(h, w)
    img = np.float32([236, 188, 196]) * (1.0 - 0.12 * ys)[..., None] * np.ones((h, w, 1), np.float32)
    disparity = 0.2 + 0.5 * np.clip((ys - 0.6) / 0.4, 0, 1)
    tiers = ((0.36, 0.86, 0.04), (0.25, 0.82, 0.04), (0.14, 0.78, 0.04))  # (half width, top centre, side height)
    ry = 0.02
    for half, yc, side in tiers:  # bottom tier first: each higher tier stands on the one below
        dx = (xs - 0.5) / half
        within = np.abs(dx) <= 1
        ell = ry * np.sqrt(np.clip(1 - dx ** 2, 0, 1))
        face = within & (ys >= yc) & (ys <= yc + side + ell)
        roundness = np.sqrt(np.clip(1 - dx ** 2, 0, 1))
        img[face] = (np.float32([196, 128, 142]) * (0.7 + 0.3 * roundness[face])[:, None])
        disparity[face] = 0.75 + 0.05 * (yc - 0.78)
        lid = within & (np.abs(ys - yc) <= ell)
        img[lid] = np.float32([250, 214, 222]) * (0.97 + 0.03 * (ys[lid] - yc) / ry)[:, None]
        disparity[lid] = 0.6 + 5 * (ys[lid] - yc)
    img += _noise(rng, h, w, 1.5)
    return np.clip(img, 0, 255).astype(np.uint8), {"top": (0.76, 0.80), "x": (0.36, 0.64), "disparity": disparity}


def dark_room_floor(w: int = 1200, h: int = 900, edge: float = 0.55, seed: int = 5):
    """The floor of a dark room: a near-black wall, dim floorboards lit faintly from the left."""
    rng = np.random.default_rng(seed)
    ys, xs = _grid(h, w)
    depth = np.clip((ys - edge) / (1 - edge), 0, 1)
    wall = np.float32([16, 15, 17])
    boards = np.float32([52, 40, 32]) * (1 + 0.12 * (np.sin(xs * 60 / (0.4 + depth)) > 0.9))[..., None]
    img = np.where((ys >= edge)[..., None], boards * (1.2 - 0.5 * xs)[..., None], wall) + _noise(rng, h, w, 1.5)
    disparity = np.where(ys >= edge, 0.3 + 0.7 * depth, 0.25)
    return np.clip(img, 0, 255).astype(np.uint8), {"top": (edge, 1.0), "x": (0.0, 1.0), "disparity": disparity}


HARD = {"wood-table": wood_table, "bokeh-table": bokeh_table, "lit-table-dark-studio": lit_table_dark_studio,
        "pink-podium": pink_podium, "dark-room-floor": dark_room_floor}


# -- a lit scene rendered from its geometry: the light's true direction and the true depth

def lit_room(light: float, w: int = 480, h: int = 360, tilt: float = 15.0, albedo_right: float = 1.0,
             fov: float = 50.0):
    """A floor, a wall behind it and five balls on the floor, seen by a camera tilted
    `tilt`° down and lit by a distant light from `light` (Lighting.direction's degrees,
    in the image's plane, a little from the camera's side too), Lambertian, no cast
    shadows. Returns (uint8 RGB, truth): truth["direction"] is the light's true direction
    in the image, truth["disparity"] 1/z stretched to 0..1 on a 64-px grid (as a scene
    keeps it). `albedo_right`: the right half of the floor painted that much brighter (a
    rug: brightness that is not light)."""
    t = math.radians(tilt)
    f = (h / 2) / math.tan(math.radians(fov / 2))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    d = np.stack([(xs - w / 2) / f, (ys - h / 2) / f, np.ones_like(xs)], -1)
    up = np.array([0.0, -math.cos(t), -math.sin(t)])
    fwd = np.array([0.0, -math.sin(t), math.cos(t)])
    inf = np.full((h, w), np.inf)
    du, df = d @ up, d @ fwd
    t_floor = np.where(du < -1e-6, -1.0 / np.minimum(du, -1e-6), inf)  # the camera 1 above the floor
    t_wall = np.where(df > 1e-6, 6.0 / np.maximum(df, 1e-6), inf)
    best = np.minimum(t_floor, t_wall)
    normal = np.where((t_floor <= t_wall)[..., None], up, -fwd)
    for bx, bz, r in ((-1.2, 3.0, 0.45), (0.9, 2.6, 0.4), (0.0, 4.2, 0.6), (-2.2, 5.0, 0.5), (2.0, 4.6, 0.5)):
        right = np.array([1.0, 0.0, 0.0])
        c = bx * right + bz * fwd - 1.0 * up + r * up
        b = d @ c
        dd = (d * d).sum(-1)
        disc = b * b - dd * (c @ c - r * r)
        hit = disc > 0
        tb = np.where(hit, (b - np.sqrt(np.maximum(disc, 0))) / dd, inf)
        nearer = tb < best
        best = np.where(nearer, tb, best)
        p = d * np.where(hit, tb, 0)[..., None]
        normal = np.where(nearer[..., None], (p - c) / r, normal)
    ang = math.radians(light)
    lv = math.cos(ang) * np.array([1.0, 0, 0]) + math.sin(ang) * up - 0.5 * fwd
    lv /= np.linalg.norm(lv)
    shade = 0.2 + 0.8 * np.clip(normal @ lv, 0, None)
    albedo = np.where((xs > w / 2) & (t_floor <= t_wall), 0.6 * albedo_right, 0.6)
    rgb = np.clip(255 * albedo * shade, 0, 255)[..., None] * np.float64([1.0, 0.92, 0.82])
    z = best * d[..., 2]
    disp = 1 / z
    import cv2

    gw = 64
    grid = cv2.resize(disp.astype(np.float32), (gw, round(gw * h / w)), interpolation=cv2.INTER_AREA)
    grid = (grid - grid.min()) / np.ptp(grid)
    truth_dir = math.degrees(math.atan2(-lv[1], lv[0])) % 360
    return rgb.astype(np.uint8), {"direction": truth_dir, "disparity": grid}
