"""The classic clip: a finished shot split into layers and moved like a camera would
see them, with no model. The scene without the product (the plate) is warped in two
depths: the far backdrop moves less than the near surface, which carries the contact
shadow and reflection with the product; rows between the product's top and its base
blend from far to near. The product itself is warped from the shot's own pixels once
per frame (one bilinear resample, never a resample of a resample: no drift, no
shimmer), and a soft band of light crosses it in the direction of the scene's key light.

Coordinates: shot px → (scale s0, offset) → plate px (the frame at rest, plus a margin
so a moving camera never sees past it) → (per-depth zoom about the product's centre,
and shift) → frame px."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

# how far the camera moves: the near plane (product, surface) and the far one (backdrop)
PUSH_IN = {"near_zoom": 0.10, "far_zoom": 0.035}
ORBIT = {"zoom": 0.04, "near_shift": 0.01, "far_shift": -0.03}
ZOOM_MAX = 1 + max(PUSH_IN["near_zoom"], ORBIT["zoom"])
MARGIN = 0.06  # of the frame's long side, on every side of the plate
# the backdrop moves at this scale and is enlarged to the frame: a quarter of the pixels
# to warp, and a backdrop is soft anyway (the product, in front, stays sharp: full size)
PLATE_SCALE = 0.5
SWEEP = (0.2, 0.8)  # the part of the clip in which the light crosses the product
SWEEP_GAIN = 0.22  # at the band's centre, this share of the way to white


@dataclass
class Layers:
    plate: np.ndarray  # ((H + 2m)·k, (W + 2m)·k, 4) uint8 RGBA: the scene without the product, at plate_scale k
    plate_scale: float
    margin: int
    product: np.ndarray  # (h, w, 4) uint8: premultiplied RGB and alpha, at the largest frame scale
    to_plate: np.ndarray  # 3×3: product-crop px → plate px
    anchor: tuple[float, float]  # the product's centre on the plate
    top: float  # the product's top and base rows on the plate
    base: float
    size: tuple[int, int]  # the frame (width, height)
    direction: float  # the key light's azimuth in degrees (0 from the right, 90 from above)


def build_layers(shot: np.ndarray, alpha: np.ndarray, size: tuple[int, int], direction: float = 135.0) -> Layers:
    """Split a finished shot (RGB uint8) and its product alpha (uint8 or float in 0..1,
    the shot's size) into the layers of a clip of `size` (width, height)."""
    H, W = shot.shape[:2]
    fw, fh = size
    a8 = alpha if alpha.dtype == np.uint8 else np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    ys, xs = np.nonzero(a8 > 2)
    if not len(xs):
        raise ValueError("the shot has no product to move (its alpha is empty)")
    s0 = min(fw / W, fh / H)  # the whole shot stays in the frame: nothing of the product is cut
    m = round(MARGIN * max(fw, fh))
    sw, sh = round(W * s0), round(H * s0)
    ox, oy = m + (fw - sw) // 2, m + (fh - sh) // 2
    plate = _plate(shot, a8, (sw, sh), (fw + 2 * m, fh + 2 * m), (ox, oy))
    k = PLATE_SCALE
    plate = cv2.cvtColor(cv2.resize(plate, (round(plate.shape[1] * k), round(plate.shape[0] * k)),
                                    interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2RGBA)
    x0, y0, x1, y1 = max(0, xs.min() - 2), max(0, ys.min() - 2), min(W, xs.max() + 3), min(H, ys.max() + 3)
    crop_a = a8[y0:y1, x0:x1]
    premul = cv2.multiply(shot[y0:y1, x0:x1], cv2.merge([crop_a] * 3), scale=1 / 255)
    product = np.dstack([premul, crop_a])
    # the product at the largest size a frame shows it (area-averaged once, premultiplied):
    # each frame then only shrinks it a little, one bilinear resample with no aliasing
    ps = min(1.0, s0 * ZOOM_MAX)
    if ps < 1.0:
        product = cv2.resize(product, (max(1, round((x1 - x0) * ps)), max(1, round((y1 - y0) * ps))),
                             interpolation=cv2.INTER_AREA)
    sx, sy = (x1 - x0) * s0 / product.shape[1], (y1 - y0) * s0 / product.shape[0]
    to_plate = np.array([[sx, 0, ox + x0 * s0], [0, sy, oy + y0 * s0], [0, 0, 1]], np.float64)
    anchor = (ox + (xs.min() + xs.max() + 1) / 2 * s0, oy + (ys.min() + ys.max() + 1) / 2 * s0)
    return Layers(plate, k, m, product, to_plate, anchor, oy + ys.min() * s0, oy + (ys.max() + 1) * s0, (fw, fh),
                  float(direction))


def _plate(shot: np.ndarray, a8: np.ndarray, scaled: tuple[int, int], plate: tuple[int, int],
           at: tuple[int, int]) -> np.ndarray:
    """The scene without the product at frame scale, extended to the plate's size."""
    small = cv2.resize(shot, scaled, interpolation=cv2.INTER_AREA)
    hole = cv2.resize(a8, scaled, interpolation=cv2.INTER_AREA) > 2
    # wide enough that no edge pixel of the product is left to be smeared into the backdrop
    grow = max(5, round(0.012 * max(scaled)) | 1)
    hole = cv2.dilate(hole.astype(np.uint8), np.ones((grow, grow), np.uint8))
    filled = _fill(small, hole == 0)
    bg = np.where(hole[..., None].astype(bool), filled, small)
    pw, ph = plate
    left, top = at
    right, bottom = pw - left - scaled[0], ph - top - scaled[1]
    if max(left, top, right, bottom) <= 0:
        return cv2.copyMakeBorder(bg, top, bottom, left, right, cv2.BORDER_REPLICATE)
    # beyond the shot: its edge rows and columns, blurred, carried outward (a mirror image
    # showed the backdrop's shadows and objects twice; sharp edges drew streaks), melting
    # into a blur of the whole
    ext = cv2.copyMakeBorder(_blur(bg, 0.03 * max(scaled)), top, bottom, left, right, cv2.BORDER_REPLICATE)
    ext[top:top + scaled[1], left:left + scaled[0]] = bg
    soft = _blur(ext, 48.0)
    # the weight of the carried edges: 1 in the shot, fading out beyond it
    inside = np.zeros((ph, pw), np.float32)
    inside[top:top + scaled[1], left:left + scaled[0]] = 1
    w = _blur(inside, 0.03 * max(pw, ph))
    w[top:top + scaled[1], left:left + scaled[0]] = 1
    return cv2.blendLinear(ext, soft, w, 1 - w)


def _blur(image: np.ndarray, sigma: float, k: int = 8) -> np.ndarray:
    """A wide Gaussian blur (sigma in pixels of `image`), worked out at 1/k of the size
    where it is cheap, then brought back to the image's size."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), max(1.0, sigma / k)), (w, h), interpolation=cv2.INTER_LINEAR)


def _fill(rgb: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The image with its unknown pixels filled smoothly from around them (push-pull: the
    known pixels averaged down a pyramid until no hole is left, then brought back up).
    What lies behind the product shows only as the depths part; a smooth fill reads as
    out-of-focus backdrop, where an inpaint's streaks and blocks catch the eye."""
    w = known.astype(np.float32)
    c = rgb.astype(np.float32) * w[..., None]
    levels = [(c, w)]
    while min(c.shape[:2]) > 4 and (w <= 1e-3).any():
        c, w = cv2.pyrDown(c), cv2.pyrDown(w)
        levels.append((c, w))
    filled = levels[-1][0] / np.maximum(levels[-1][1], 1e-6)[..., None]
    for c, w in reversed(levels[:-1]):
        up = cv2.resize(filled, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR)
        mine = c / np.maximum(w, 1e-6)[..., None]
        a = np.clip(w, 0, 1)[..., None]
        filled = mine * a + up * (1 - a)
    return np.clip(filled + 0.5, 0, 255).astype(np.uint8)


def _ease(t):
    """Smoothstep, of a number or an array."""
    return t * t * (3 - 2 * t)


def camera(layers: Layers, t: float, motion: str) -> tuple[np.ndarray, np.ndarray]:
    """(far, near) 3×3 plate → frame transforms at time t in 0..1."""
    e = _ease(min(1.0, max(0.0, t)))
    fw = layers.size[0]
    if motion == "push-in":
        zf, zn, sf, sn = 1 + PUSH_IN["far_zoom"] * e, 1 + PUSH_IN["near_zoom"] * e, 0.0, 0.0
    elif motion == "orbit":
        zf = zn = 1 + ORBIT["zoom"]
        sn, sf = ORBIT["near_shift"] * fw * (2 * e - 1), ORBIT["far_shift"] * fw * (2 * e - 1)
    else:
        raise ValueError(f"unknown motion {motion!r}")
    ax, ay = layers.anchor
    m = layers.margin

    def about(z: float, shift: float) -> np.ndarray:
        return np.array([[z, 0, ax - z * ax - m + shift], [0, z, ay - z * ay - m], [0, 0, 1]], np.float64)

    return about(zf, sf), about(zn, sn)


def render_frame(layers: Layers, t: float, motion: str = "push-in", light: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(the frame as RGB uint8, the 2×3 transform that put the product crop on it)."""
    out, m = render_rgba(layers, t, motion, light)
    return cv2.cvtColor(out, cv2.COLOR_RGBA2RGB), m


def product_transform(layers: Layers, t: float, motion: str = "push-in") -> np.ndarray:
    """The 2×3 transform that puts the product crop on the frame at time t."""
    return (camera(layers, t, motion)[1] @ layers.to_plate)[:2]


def render_rgba(layers: Layers, t: float, motion: str = "push-in", light: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """`render_frame` with a fourth, meaningless channel: every layer is worked on in four
    channels because OpenCV warps and blends those several times faster than three."""
    fw, fh = layers.size
    far, near = camera(layers, t, motion)
    # the backdrop is moved at the plate's reduced scale, then brought to the frame's size
    k = layers.plate_scale
    scale, unscale = np.diag([k, k, 1.0]), np.diag([1 / k, 1 / k, 1.0])
    sw, sh = round(fw * k), round(fh * k)
    far_s, near_s = scale @ far @ unscale, scale @ near @ unscale
    # the rows where the depth goes from far (above the product) to near (at its base)
    r0 = int(np.clip(math.floor(near_s[1, 1] * layers.top * k + near_s[1, 2]), 0, sh))
    r1 = int(np.clip(math.ceil(near_s[1, 1] * layers.base * k + near_s[1, 2]), r0, sh))
    small = np.empty((sh, sw, 4), np.uint8)
    if r1 > 0:
        small[:r1] = _warp_rows(layers.plate, far_s, 0, r1, sw)
    if r0 < sh:
        near_rows = _warp_rows(layers.plate, near_s, r0, sh, sw)
        if r1 > r0:
            w = np.ascontiguousarray(np.broadcast_to(_ease_rows(r1 - r0), (r1 - r0, sw)))
            small[r0:r1] = cv2.blendLinear(near_rows[:r1 - r0], small[r0:r1], w, 1 - w)
        small[r1:] = near_rows[r1 - r0:]
    out = small if (sw, sh) == (fw, fh) else cv2.resize(small, (fw, fh), interpolation=cv2.INTER_LINEAR)
    m_prod = (near @ layers.to_plate)[:2]
    paste_product(out, layers, m_prod, t if light else None)
    return out, m_prod


def _warp_rows(src: np.ndarray, m: np.ndarray, r0: int, r1: int, width: int) -> np.ndarray:
    shifted = m[:2].copy()
    shifted[1, 2] -= r0
    return cv2.warpAffine(src, shifted, (width, r1 - r0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _ease_rows(n: int) -> np.ndarray:
    return _ease((np.arange(n, dtype=np.float32) + 0.5) / n)[:, None]


def paste_product(out: np.ndarray, layers: Layers, m: np.ndarray, t: float | None) -> None:
    """The product (premultiplied) over an RGBA frame, warped once by `m`; at time t of
    the clip, the light band on it (None: no light)."""
    h, w = layers.product.shape[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ m.T
    fh, fw = out.shape[:2]
    x0, y0 = max(0, int(math.floor(corners[:, 0].min()))), max(0, int(math.floor(corners[:, 1].min())))
    x1, y1 = min(fw, int(math.ceil(corners[:, 0].max())) + 1), min(fh, int(math.ceil(corners[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    local = m.copy()
    local[:, 2] -= (x0, y0)
    layer = cv2.warpAffine(layers.product, local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = cv2.extractChannel(layer, 3)
    roi = out[y0:y1, x0:x1]
    roi = cv2.add(cv2.multiply(roi, cv2.merge([255 - a] * 4), scale=1 / 255), layer)
    if t is not None and SWEEP[0] < t < SWEEP[1]:
        roi = _sweep(roi, a, (t - SWEEP[0]) / (SWEEP[1] - SWEEP[0]), layers.direction)
    out[y0:y1, x0:x1] = roi


def _sweep(roi: np.ndarray, a: np.ndarray, s: float, direction: float) -> np.ndarray:
    """A soft band of light crossing the product, travelling away from the key light:
    each pixel goes `gain × alpha` of the way to white. The band is smooth, so it is
    worked out at a quarter of the size; the blend itself is integer OpenCV."""
    h, w = a.shape
    qh, qw = max(2, h // 4), max(2, w // 4)
    th = math.radians(direction)
    dx, dy = -math.cos(th), math.sin(th)  # from the light's side to the other (y grows downwards)
    xs = (np.arange(qw, dtype=np.float32) / (qw - 1) - 0.5) * dx
    ys = (np.arange(qh, dtype=np.float32) / (qh - 1) - 0.5) * dy
    u = ys[:, None] + xs[None, :]  # -0.7..0.7 along the travel
    centre = -0.8 + 1.6 * _ease(s)
    band = cv2.resize(np.exp(-(((u - centre) / 0.14) ** 2)) * (SWEEP_GAIN * 255.0), (w, h),
                      interpolation=cv2.INTER_LINEAR)
    gain = cv2.multiply(band.astype(np.uint8), a, scale=1 / 255)  # 0..56: light falls on the product only
    lift = cv2.multiply(cv2.bitwise_not(roi), cv2.merge([gain] * roi.shape[2]), scale=1 / 255)
    return cv2.add(roi, lift)


def frames(layers: Layers, count: int, motion: str = "push-in", light: bool = True) -> Iterator[np.ndarray]:
    """The clip's frames in order (t from 0 to 1), as RGBA (the encoder takes them so)."""
    for i in range(count):
        yield render_rgba(layers, i / max(1, count - 1), motion, light)[0]
