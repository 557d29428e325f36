"""Light and shadow that fit a plate, while the product's colour stays the photo's.

One module for every plate a product lands on: the classic compositor's procedural
scenes, a seller's own backdrop photo, and a generated plate where the model painted
no shadow under the product.

- `read_direction`: where the light comes from, read from a plate's low-frequency
  brightness (a plane fitted to its luminance).
- `shadows`: a contact shadow at the product's foot and a cast shadow thrown away from
  the light (the silhouette laid on the floor).
- `adapt_shading`: the product's shading follows the plate (a bounded exposure shift
  and a linear ramp along the plate's own light gradient), on CIELAB lightness only, so
  its colour (a*, b*) and its detail (labels, texture: a plane has none) stay.
- `lacks_ground_shadow`, `grounded`: whether a plate shows no darkening under the
  product's foot, and that plate with a contact shadow laid there.
- `matched_in_place`: a put-back product's inside shaded to fit the plate round it.

Directions count as `Lighting.direction` does: 0 from the right, 90 from above, 180
from the left.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from studio.imaging.compose import Box, crop_to_alpha, eroded, resize_product

MAX_EXPOSURE_L = 1.5  # L* units: keeps the product's mean colour within ΔE2000 2 of the photo
MAX_RAMP_L = 8.0  # L* units at the product's far edges: shading, never a new colour
PLATE_SHARE = 0.5  # how much of the plate's gradient across the box the product takes on


def soft_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide ones at reduced size (their result is smooth anyway)."""
    if sigma <= 4:
        return cv2.GaussianBlur(img, (0, 0), max(sigma, 0.1))
    f = int(min(8, sigma // 2))
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / f)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 luma in [0, 1] of a uint8 or float [0, 1] RGB image."""
    f = rgb.astype(np.float32) / (255.0 if rgb.dtype == np.uint8 else 1.0)
    return f[..., 0] * 0.2126 + f[..., 1] * 0.7152 + f[..., 2] * 0.0722


def _plane(values: np.ndarray, weight: np.ndarray | None = None, step_at: float | None = None
           ) -> tuple[float, float, float]:
    """Least-squares a + b·u + c·v over the array, u and v from -1 to 1 (v downwards).
    `step_at` (a share of the height): the rows below it may differ by a constant too (a
    wall and a table are not the same colour: that step is not light)."""
    h, w = values.shape
    v, u = np.mgrid[-1:1:complex(0, h), -1:1:complex(0, w)]
    cols = [np.ones(h * w), u.ravel(), v.ravel()]
    if step_at is not None:
        cols.append((v.ravel() > step_at * 2 - 1).astype(np.float64))
    A = np.stack(cols, 1)
    y = values.ravel().astype(np.float64)
    if weight is not None:
        sw = np.sqrt(weight.ravel().astype(np.float64))
        A, y = A * sw[:, None], y * sw
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(coef[0]), float(coef[1]), float(coef[2])


def read_direction(rgb: np.ndarray, surface: float | None = None) -> tuple[float, float]:
    """(direction in degrees, strength): the side a plate is brighter towards, read from
    its brightness at a 64-px scale with highlights counting double; strength is the
    brightness change across the frame relative to its mean (about 0 for flat light).
    `surface`: where a table's edge or a floor's horizon is (imaging.backdrop), so that
    the step between wall and surface is not read as light from above or below."""
    h, w = rgb.shape[:2]
    s = 64 / max(h, w)
    small = cv2.resize(np.ascontiguousarray(rgb), (max(2, round(w * s)), max(2, round(h * s))),
                       interpolation=cv2.INTER_AREA)
    lum = _luminance(small)
    weight = 1 + (lum > np.quantile(lum, 0.9))
    a, b, c = _plane(lum, weight, surface)
    direction = math.degrees(math.atan2(-c, b)) % 360
    return round(direction, 1), float(math.hypot(b, c) / max(a, 1e-3))


def shadows(alpha: np.ndarray, box: Box, shape: tuple[int, int], light_dir: float, contact: float, cast: float,
            length: float, softness: float) -> np.ndarray:
    """Darkness (0..0.95) to multiply out of the plate: a contact shadow under the
    product's foot and a cast shadow thrown away from the light. `alpha` is the
    product's matte at its placed size (box.h × box.w)."""
    H, W = shape
    base_y = box.y + box.h
    out = np.zeros((H, W), np.float32)
    if contact > 0:
        ring = np.zeros((H, W), np.float32)
        cols = np.flatnonzero(alpha[-max(2, box.h // 20):].max(axis=0) > 0.5) + box.x
        if len(cols):
            cx, half = (cols[0] + cols[-1]) / 2, max(2, (cols[-1] - cols[0]) / 2)
            cv2.ellipse(ring, (int(cx), int(base_y - 1)), (int(half * 1.05), max(2, int(box.h * 0.025))),
                        0, 0, 360, 1.0, -1)
            ring = soft_blur(ring, max(1.0, box.h * 0.012))
            ring *= contact
            out = np.maximum(out, ring, out=out)
    if cast > 0 and length > 0:
        # the silhouette laid on the floor: squashed to `length` of its height and sheared
        # away from the light (light from the left throws the shadow to the right)
        dx_per_row = -math.cos(math.radians(light_dir)) * 1.6
        squash = max(0.02, length * 0.5)
        src = np.float32([[box.x, base_y], [box.x + box.w, base_y], [box.x, box.y]])
        top_y = base_y - box.h * squash
        dst = np.float32([[box.x, base_y], [box.x + box.w, base_y], [box.x + dx_per_row * box.h * length, top_y]])
        m = cv2.getAffineTransform(src, dst)
        m[:, 2] += m[:, :2] @ np.array([box.x, box.y], np.float64)  # the source is the box, not the frame
        thrown = cv2.warpAffine(np.ascontiguousarray(alpha, np.float32), m, (W, H), flags=cv2.INTER_LINEAR,
                                borderValue=0)
        thrown = soft_blur(thrown, max(1.0, box.h * (0.01 + 0.05 * softness)))
        ys = np.arange(H, dtype=np.float32)[:, None]
        fade = np.clip(1 - (base_y - ys) / max(1.0, box.h * squash * 1.2), 0, 1) * (cast * (1 - 0.5 * softness))
        thrown *= fade
        out = np.maximum(out, thrown, out=out)
    return np.clip(out, 0, 0.95, out=out)


def adapt_shading(fg: np.ndarray, alpha: np.ndarray, plate: np.ndarray, box: Box, strength: float,
                  light_dir: float | None = None) -> np.ndarray:
    """The product's colours (float RGB in [0, 1], box.h × box.w) with their shading
    adapted to `plate` (the frame's RGB, uint8 or float) around `box`: CIELAB lightness
    moved by a bounded exposure shift towards the plate's and a linear ramp along the
    plate's light across the box (zero on the product's mean), times `strength` (0:
    the pixels as they are). a* and b* are kept, so is every detail (the ramp is a
    plane). `light_dir` turns the ramp to a direction the seller chose."""
    if strength <= 0:
        return fg
    strength = min(float(strength), 1.0)
    H, W = plate.shape[:2]
    pad_x, pad_y = box.w // 2 + 2, box.h // 2 + 2
    x0, x1 = max(0, box.x - pad_x), min(W, box.x + box.w + pad_x)
    y0, y1 = max(0, box.y - pad_y), min(H, box.y + box.h + pad_y)
    around = _luminance(plate[y0:y1, x0:x1]) * 100.0  # about L* (the ramp is a difference: the curve matters little)
    # the plate's own light, measured round the product (its pixels left out of the fit)
    outside = np.ones(around.shape, np.float32)
    by0, bx0 = box.y - y0, box.x - x0
    iy0, iy1, ix0, ix1 = max(0, by0), min(around.shape[0], by0 + box.h), max(0, bx0), min(around.shape[1], bx0 + box.w)
    outside[iy0:iy1, ix0:ix1] = np.where(alpha[iy0 - by0: iy1 - by0, ix0 - bx0: ix1 - bx0] > 0.1, 0.0, 1.0)
    step = max(1, max(around.shape) // 96)  # the fit needs no more than ~100 px a side
    a, b, c = _plane(around[::step, ::step], outside[::step, ::step])
    # (b, c) are L* changes over half the window; the box is about half the window's size
    span_x, span_y = box.w / max(1, x1 - x0), box.h / max(1, y1 - y0)
    gx, gy = b * span_x, c * span_y
    if light_dir is not None:  # the seller's direction, with the plate's strength of light
        mag, ang = math.hypot(gx, gy), math.radians(light_dir)
        gx, gy = mag * math.cos(ang), -mag * math.sin(ang)
    lab = cv2.cvtColor(np.ascontiguousarray(fg, np.float32), cv2.COLOR_RGB2Lab)
    solid = alpha > 0.5
    if not solid.any():
        return fg
    v, u = np.mgrid[-1:1:complex(0, box.h), -1:1:complex(0, box.w)].astype(np.float32)
    ramp = PLATE_SHARE * (gx * u + gy * v)
    ramp -= float(ramp[solid].mean())
    ramp = np.clip(ramp, -MAX_RAMP_L, MAX_RAMP_L)
    ramp -= float(ramp[solid].mean())  # clipping may move the mean: the product's mean lightness stays
    exposure = float(np.clip(0.1 * (a - float(lab[..., 0][solid].mean())), -MAX_EXPOSURE_L, MAX_EXPOSURE_L))
    lab[..., 0] = np.clip(lab[..., 0] + strength * (exposure + ramp), 0, 100)
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1)


def shaded(layer: np.ndarray, plate: np.ndarray, box: Box, strength: float,
           light_dir: float | None = None) -> np.ndarray:
    """A placed product layer (float RGBA, box.h × box.w) with its colours' shading
    adapted to `plate` (`adapt_shading`); a copy, its matte as it was."""
    out = layer.copy()
    out[..., :3] = adapt_shading(layer[..., :3], layer[..., 3], plate, box, strength, light_dir)
    return out


def darken(rgb8: np.ndarray, shade: np.ndarray) -> np.ndarray:
    """`rgb8` (uint8 RGB) with `shade` (0..1 darkness) multiplied out, in place, only in
    the window where the shade is: elsewhere its pixels stay exactly as they were."""
    from studio.imaging import masks

    win = masks.region(shade > 0, 0)
    if win is not None:
        rgb8[win] = cv2.convertScaleAbs(rgb8[win].astype(np.float32) * (1 - shade[win])[..., None])
    return rgb8


def lacks_ground_shadow(plate: np.ndarray, box: Box) -> bool:
    """Whether the plate is no darker just under the product's foot than beside it (a
    model that painted the scene but no shadow): then a contact shadow is laid there."""
    H, W = plate.shape[:2]
    base = box.y + box.h
    rows = slice(min(H, base), min(H, base + max(2, box.h // 25)))
    if rows.start >= rows.stop:
        return False
    lum = _luminance(plate[rows])
    under = lum[:, max(0, box.x + box.w // 4): max(0, min(W, box.x + 3 * box.w // 4))]
    side = np.concatenate([lum[:, max(0, box.x - box.w // 2): max(0, box.x)],
                           lum[:, min(W, box.x + box.w): min(W, box.x + box.w + box.w // 2)]], axis=1)
    if under.size == 0 or side.size == 0:
        return False
    return float(under.mean()) >= 0.97 * float(side.mean())


def grounded(image: Image.Image, cutout: Image.Image, box: Box) -> Image.Image:
    """A painted plate with no darkening under the product's foot, with a contact shadow
    laid there (the compositor's own), so the product does not float; else as it is."""
    rgb = np.asarray(image)
    if box.y + box.h >= rgb.shape[0] or not lacks_ground_shadow(rgb, box):
        return image
    alpha = resize_product(crop_to_alpha(cutout), box)[..., 3]
    shade = shadows(alpha, box, rgb.shape[:2], 90.0, 0.5, 0.0, 0.0, 0.6)
    return Image.fromarray(darken(rgb.copy(), shade), "RGB")


def matched_in_place(image: Image.Image, plate: Image.Image, cutout: Image.Image, box: Box, strength: float,
                     direction: float | None) -> Image.Image:
    """`image` with the placed product's inside (its matte eroded 2 px; the rim stays as
    blended) shaded to fit `plate` (`adapt_shading`)."""
    rgb = np.asarray(image).copy()
    layer = resize_product(crop_to_alpha(cutout), box)
    H, W = rgb.shape[:2]
    y0, y1, x0, x1 = max(box.y, 0), min(box.y + box.h, H), max(box.x, 0), min(box.x + box.w, W)
    if y1 <= y0 or x1 <= x0:
        return image
    adapted = shaded(layer, np.asarray(plate), box, strength, direction)[y0 - box.y: y1 - box.y, x0 - box.x: x1 - box.x]
    inner = eroded(np.ascontiguousarray(adapted[..., 3]), 2)
    win = rgb[y0:y1, x0:x1]
    win[inner] = cv2.convertScaleAbs(np.ascontiguousarray(adapted[..., :3]), alpha=255.0)[inner]
    return Image.fromarray(rgb, "RGB")
