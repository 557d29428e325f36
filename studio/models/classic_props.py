"""The classic compositor's props (spheres, blocks, discs), the podium a product stands
on, and the shadow of a product laid flat. Drawn with analytic anti-aliasing (coverage
from the distance to the edge) in a window round each, lit from the variant's key
light, each with its own shadow and ambient occlusion where it meets what it stands on."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from studio.imaging.compose import Box, blend, hex_rgb
from studio.imaging.light import soft_blur
from studio.models.classic_look import Look


def _light(direction: float) -> np.ndarray:
    """The key light as a unit vector in image space (x right, y down, z towards the camera)."""
    a = math.radians(direction)
    v = np.array([math.cos(a), -math.sin(a), 0.9])
    return v / np.linalg.norm(v)


def _ellipse_cover(xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    d = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
    return np.clip((1 - d) * min(rx, ry) + 0.5, 0, 1)


def _rect_cover(xs: np.ndarray, ys: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    inside = np.minimum(np.minimum(xs - x0, x1 - xs), np.minimum(ys - y0, y1 - ys))
    return np.clip(inside + 0.5, 0, 1)


def _shade(shape: str, xs, ys, cx, cy, r, light: np.ndarray, top_down: bool) -> np.ndarray:
    """Brightness of the prop's surface under the key light (about 0.55 … 1.05)."""
    if shape == "sphere":
        nx, ny = (xs - cx) / r, (ys - cy) / r
        nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
        lambert = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
        return 0.5 + 0.5 * lambert + 0.08 * lambert ** 24  # and a soft highlight
    if shape == "block" and not top_down:
        # the top face catches the light, the front is lit by how far the light comes from the front
        top = ys < cy - 0.35 * r
        return np.where(top, 1.04, 0.82 + 0.1 * light[2])
    # a disc, or a block seen from above: flat, a little darker towards its rim
    d = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2) / max(r, 1.0)
    return 0.97 - 0.1 * np.clip(d - 0.7, 0, 1)


def draw_props(img: np.ndarray, look: Look, box: Box, top_down: bool, ground: float | None = None,
               avoid: tuple[tuple[float, float, float, float], ...] = ()) -> None:
    """Set the look's props beside (or, laid flat, round) the product, in place, each with
    its soft shadow; props that would leave the frame or touch the product (or what is in
    `avoid`: a podium) are left out. `ground`: the floor's row where they stand, when the
    product stands higher (on a podium)."""
    H, W = img.shape[:2]
    scene = look.scene
    light = _light(scene.lighting.direction)
    soft = scene.lighting.softness
    floor_y = box.y + box.h if ground is None else ground
    taken = [(box.x, box.y, box.x + box.w, box.y + box.h), *avoid]  # the product, then each prop set down
    for p in look.props:
        prop = scene.classic.props[p.index]
        size = prop.size * p.scale * box.h * (1 - 0.35 * p.depth)
        if top_down:
            r = size / 2 if prop.shape != "disc" else size
            reach = max(box.w, box.h) / 2 + p.gap * box.w + r
            cx = box.x + box.w / 2 + math.cos(p.side) * reach
            cy = box.y + box.h / 2 + math.sin(p.side) * reach
            rx, ry = r, r
        else:
            foot = floor_y - p.depth * 0.05 * H  # further back stands higher in the frame
            rx = {"sphere": size / 2, "block": size * 0.55, "disc": size}[prop.shape]
            ry = {"sphere": size / 2, "block": size / 2, "disc": size * 0.18}[prop.shape]
            cy = foot - ry
            # its side of the product, else the other side, a little closer, if it fits there
            left, right = box.x - p.gap * box.w - rx, box.x + box.w + p.gap * box.w + rx
            near_left, near_right = box.x - 0.12 * box.w - rx, box.x + box.w + 0.12 * box.w + rx
            choices = [left, near_right] if p.side < 0 else [right, near_left]
            cx = next((c for c in choices if c - rx >= 2 and c + rx <= W - 2), choices[0])
        x0, y0, x1, y1 = cx - rx, cy - ry, cx + rx, cy + ry
        if x0 < 2 or y0 < 2 or x1 > W - 2 or y1 > H - 2 or rx < 3:
            continue
        gap = 0.1 * max(rx, ry)
        if any(not (x1 + gap < a or x0 - gap > c or y1 + gap < b or y0 - gap > d) for a, b, c, d in taken):
            continue  # it would touch the product or another prop
        taken.append((x0, y0, x1, y1))
        pad = int(0.6 * max(rx, ry)) + 4
        ya, yb = max(0, int(y0) - pad), min(H, int(y1) + pad + 1)
        xa, xb = max(0, int(x0) - pad), min(W, int(x1) + pad + 1)
        ys, xs = np.mgrid[ya:yb, xa:xb].astype(np.float32)
        # its shadow first: under it, pushed away from the light, softer in softer light
        off = (0.25 if top_down else 0.08) * max(rx, ry)
        sx, sy = cx - light[0] * off, cy - light[1] * off + (0 if top_down else 0.85 * ry)
        sry = ry if top_down else max(2.0, 0.22 * rx)
        shadow = _ellipse_cover(xs, ys, sx, sy, rx * 1.02, sry)
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(1.0, (0.05 + 0.15 * soft) * max(rx, ry)))
        win = img[ya:yb, xa:xb]
        win *= (1 - 0.45 * max(scene.shadow.contact, 0.3) * shadow)[..., None]
        if prop.shape == "block":
            cover = _rect_cover(xs, ys, x0, y0, x1, y1)
        else:
            cover = _ellipse_cover(xs, ys, cx, cy, rx, ry)
        colour = hex_rgb(prop.color)[None, None, :] * _shade(prop.shape, xs, ys, cx, cy, max(rx, ry), light,
                                                              top_down)[..., None]
        img[ya:yb, xa:xb] = blend(np.clip(colour, 0, 1).astype(np.float32), np.ascontiguousarray(win), cover)


def flat_shadow(alpha: np.ndarray, box: Box, shape: tuple[int, int], look: Look) -> tuple[np.ndarray, tuple]:
    """Darkness (0..1) under and round a product laid flat and lit from above: its
    silhouette, blurred and pushed a little away from the key light, plus a tight
    contact shade along its edge. Returned for a window (rows, columns) of the frame."""
    H, W = shape
    scene = look.scene
    soft = scene.lighting.softness
    light = _light(scene.lighting.direction)
    size = max(box.w, box.h)
    off = 0.03 * size * (1.2 - 0.6 * soft)
    sigma = size * (0.012 + 0.03 * soft)
    pad = int(3 * sigma + off) + 4
    ya, yb = max(0, box.y - pad), min(H, box.y + box.h + pad)
    xa, xb = max(0, box.x - pad), min(W, box.x + box.w + pad)
    sil = np.zeros((yb - ya, xb - xa), np.float32)
    sy0, sx0 = box.y - ya, box.x - xa
    sil[max(0, sy0): sy0 + box.h, max(0, sx0): sx0 + box.w] = alpha[max(0, -sy0): box.h, max(0, -sx0): box.w][
        : sil.shape[0] - max(0, sy0), : sil.shape[1] - max(0, sx0)]
    m = np.float32([[1, 0, -light[0] * off], [0, 1, -light[1] * off]])
    drop = cv2.GaussianBlur(cv2.warpAffine(sil, m, sil.shape[::-1]), (0, 0), sigma)
    contact = cv2.GaussianBlur(sil, (0, 0), max(1.0, 0.006 * size))
    dark = np.maximum(drop * (0.25 + 0.5 * scene.shadow.cast) * (1 - 0.4 * soft), contact * 0.6 * scene.shadow.contact)
    return np.clip(dark, 0, 0.9), (slice(ya, yb), slice(xa, xb))


@dataclass(frozen=True)
class Cylinder:
    """A podium drum: its axis's column, the rows of its top and bottom faces' centres,
    its radius across and the ellipses' half height (the camera looks down a little)."""

    cx: float
    top: float
    bottom: float
    rx: float
    ry: float

    def bounds(self) -> tuple[float, float, float, float]:
        return self.cx - self.rx, self.top - self.ry, self.cx + self.rx, self.bottom + self.ry


TILT = 0.16  # the ellipses' height over width: a camera a little above the podium


def podium(box: Box, W: int, H: int, margin: float) -> tuple[Box, tuple[Cylinder, ...]]:
    """Two stacked drums (a low wide step and a narrower one on it) standing where the
    product's foot was, and the product moved up to stand on the top one's centre,
    smaller if it would otherwise leave the frame's margin."""
    floor = box.y + box.h
    cx = box.x + box.w / 2
    rx_top = min(max(0.62 * box.w, 0.14 * W), 0.34 * W)
    rx_base = min(rx_top * 1.38, 0.47 * W, cx - 2, W - cx - 2)
    rx_top = min(rx_top, rx_base * 0.8)
    h_base, h_top = 0.05 * H, 0.085 * H
    base = Cylinder(cx, floor - h_base, floor, rx_base, rx_base * TILT)
    top = Cylinder(cx, floor - h_base - h_top, floor - h_base, rx_top, rx_top * TILT)
    foot = top.top + 0.25 * top.ry  # a little in front of the centre: it reads as standing on it
    room = foot - margin * H
    scale = min(1.0, room / box.h) if box.h > 0 else 1.0
    w, h = max(1, round(box.w * scale)), max(1, round(box.h * scale))
    raised = replace(box, x=round(cx - w / 2), y=round(foot - h), w=w, h=h)
    return raised, (base, top)


def draw_podium(img: np.ndarray, drums: tuple[Cylinder, ...], color: str, light_dir: float, softness: float) -> None:
    """The drums bottom-up, each after its shadow: thrown away from the light on what it
    stands on, and a tight occlusion ring where it meets it; its side shaded round the
    curve, its top lit, a bright bevel along the top's front rim, darker near its foot."""
    H, W = img.shape[:2]
    light = _light(light_dir)
    base_colour = hex_rgb(color)
    for d in drums:
        pad = int(0.5 * d.rx) + 6
        xa, xb = max(0, int(d.cx - d.rx) - pad), min(W, int(d.cx + d.rx) + pad + 1)
        ya, yb = max(0, int(d.top - d.ry) - 4), min(H, int(d.bottom + d.ry) + pad + 1)
        if xb - xa < 4 or yb - ya < 4:
            continue
        ys, xs = np.mgrid[ya:yb, xa:xb].astype(np.float32)
        win = img[ya:yb, xa:xb]
        # its shadow and occlusion on what it stands on
        off = 0.3 * d.rx * (1.1 - softness)
        thrown = _ellipse_cover(xs, ys, d.cx - light[0] * off, d.bottom - 0.3 * d.ry, d.rx * 1.04, d.ry * 1.15)
        thrown = soft_blur(thrown, max(1.0, (0.04 + 0.12 * softness) * d.rx))  # (wide: at a reduced size)
        ring = soft_blur(_ellipse_cover(xs, ys, d.cx, d.bottom, d.rx * 1.01, d.ry * 1.05), max(1.0, 0.02 * d.rx))
        win *= (1 - np.maximum(0.3 * (1 - 0.5 * softness) * thrown, 0.35 * ring))[..., None]
        dx = np.clip((xs - d.cx) / d.rx, -1, 1)
        arc = np.sqrt(np.clip(1 - dx * dx, 0, 1)) * d.ry  # how far the ellipses' front arcs hang below their rows
        inside_x = np.clip(d.rx - np.abs(xs - d.cx) + 0.5, 0, 1)
        side_cover = inside_x * np.clip(d.bottom + arc - ys + 0.5, 0, 1) * (ys >= d.top)
        top_cover = _ellipse_cover(xs, ys, d.cx, d.top, d.rx, d.ry)
        cover = np.maximum(side_cover, top_cover)
        nz = np.sqrt(np.clip(1 - dx * dx, 0, 1))
        lambert = np.clip(dx * light[0] + nz * light[2] * 0.75, 0, 1)
        side = 0.64 + 0.36 * lambert + 0.05 * lambert**20
        height = max(1.0, d.bottom - d.top)
        side *= 1 - 0.18 * np.exp(-np.clip(d.bottom + arc - ys, 0, None) / (0.25 * height))  # occlusion at its foot
        top_face = 1.0 + 0.05 * (dx * light[0]) - 0.04 * (ys - d.top) / max(d.ry, 1.0)
        on_top = np.clip(top_cover * 1.0, 0, 1)
        shade = side * (1 - on_top) + top_face * on_top
        rim = np.abs(ys - (d.top + arc)) < max(1.0, H * 0.0012)
        shade = np.where(rim & (top_cover > 0.2) & (side_cover > 0), shade * 1.08 + 0.03, shade)
        colour = base_colour[None, None, :] * shade[..., None]
        img[ya:yb, xa:xb] = blend(np.clip(colour, 0, 1).astype(np.float32), np.ascontiguousarray(win), cover)
