"""Light and shadow that fit a plate, while the product's colour under that light stays the photo's.

One module for every plate a product lands on: the classic compositor's procedural
scenes, a seller's own backdrop photo, and a generated plate where the model painted
no shadow under the product.

- `read_direction`: where the light comes from, read from a plate's low-frequency
  brightness (a plane fitted to its luminance), never from below the horizon
  (`above_horizon`); `direction_from_depth`: the same from the photo's shading against
  the normals of a depth map where one was read; `shadow_edge_width`: how soft the
  photo's own cast shadows are (their edges' blur), `photo_softness` the proxy from how
  its light falls off where it shows none.
- `shadows`: a contact shadow at the product's foot and a cast shadow thrown away from
  the light (the silhouette laid on the floor; on a backdrop photo, on the surface found,
  foreshortened towards its horizon).
- `adapt_shading`: the product's illumination follows the light at its spot: one
  exposure factor in linear light (the plate's local key against the product photo's,
  the whole of it at strength 1: a product in a dark room is dark) and the plate's
  gradient across it, both multiplying linear RGB, so the product's colour under that
  light stays its own (`exposure_factor`, `under_light` and `exposure_report` let the
  colour check and the gate divide the exposure out again before they measure ΔE2000,
  and report the change of light).
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

from studio.imaging.color import linear_to_srgb, srgb_to_linear
from studio.imaging.compose import Box, crop_to_alpha, eroded, resize_product

EXPOSURE_RANGE = (0.02, 1.15)  # the product's light may fall to 2% of its photo's (a dark room), rise by 15%
# a plate's lit parts (a table, a floor, a wall) reflect about half what a product's
# brightest parts do: their light is their luminance times this
PLATE_REFLECTANCE = 1.6
MAX_RAMP = 0.35  # the plate's gradient across the product, in natural-log exposure at its far edges (±½ stop)
PLATE_SHARE = 0.5  # how much of the plate's gradient across the box the product takes on
PHOTO_KEY = (0.35, 1.0)  # the product photo's key light, read from its brightest parts, kept in this range


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
    direction = above_horizon(math.degrees(math.atan2(-c, b)) % 360)
    return round(direction, 1), float(math.hypot(b, c) / max(a, 1e-3))


def above_horizon(direction: float) -> float:
    """A light direction kept above the horizon: one read as coming from below (a bright
    floor under a dim wall reads so) is mirrored up to the same side (346° → 14°)."""
    direction %= 360
    return 360 - direction if direction > 180 else direction


def direction_from_depth(rgb: np.ndarray, disparity: np.ndarray) -> tuple[float, float] | None:
    """(direction in degrees, strength) of the key light from the photo's shading against
    its surfaces' normals, where a depth model read a `disparity` map (large = near, any
    scale and offset; any size, the photo's aspect): least squares of luminance against
    n·l over the lit parts (refitted once without those the first fit puts in shade).
    The normals come from the disparity's gradient (a relative map's offset and scale
    change their tilt, not their side), so a wall lit from the left reads 180 whatever
    its colour. None where the map tells too little (flat, or no surfaces turning
    sideways or up): the brightness reading stays."""
    d = np.asarray(disparity, np.float32)
    if d.ndim != 2 or min(d.shape) < 8 or np.ptp(d) < 1e-3:
        return None
    gh, gw = d.shape
    small = cv2.resize(np.ascontiguousarray(rgb), (gw, gh), interpolation=cv2.INTER_AREA)
    lum = _luminance(small).ravel().astype(np.float64)
    d = (d - d.min()) / np.ptp(d)
    gy, gx = np.gradient(cv2.GaussianBlur(d, (0, 0), 0.7) * gh)  # per frame height
    n = np.stack([-gx, -gy, np.full_like(d, NORMAL_DEPTH)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    n = n.reshape(-1, 3).astype(np.float64)
    grad = np.hypot(gx, gy).ravel()
    keep = grad < max(np.percentile(grad, 95), 1e-6) * 1.5  # occluding edges are no surface
    keep &= lum > 0.02
    if keep.sum() < 32 or n[keep, 0].std() < 0.05 and n[keep, 1].std() < 0.05:
        return None
    A = np.column_stack([np.ones(len(lum)), n])
    light = None
    for _ in range(2):
        coef, *_ = np.linalg.lstsq(A[keep], lum[keep], rcond=None)
        light = coef[1:]
        lit = n @ light > 0
        if lit[keep].sum() < 32:
            break
        keep &= lit
    side = math.hypot(light[0], light[1])
    if side < 0.02 * max(float(lum[keep].mean()), 1e-3):
        return None
    direction = above_horizon(math.degrees(math.atan2(-light[1], light[0])) % 360)
    return round(direction, 1), float(side / max(float(lum[keep].mean()), 1e-3))


NORMAL_DEPTH = 1.0  # a disparity gradient of this (per frame height) turns a normal 45° from the camera


def photo_softness(strength: float) -> float:
    """How soft a backdrop photo's own shadows are, from how strongly its light falls off
    across it (`read_direction`'s strength): flat light throws soft shadows, a lamp hard ones."""
    return float(np.clip(0.9 - 2.0 * strength, 0.3, 0.9))


SHADOW_STEP = 0.3  # a cast shadow darkens its surface by at least this in natural log (about a quarter)
PENUMBRA_WIDTH = 512  # the surface is read at this width: a penumbra of a pixel or two at 12 MP is a hard one


def shadow_edge_width(rgb: np.ndarray, top: float = 0.0, bottom: float = 1.0, left: float = 0.0,
                      right: float = 1.0) -> float | None:
    """How soft the photo's own cast shadows are: the blur (a Gaussian's sigma, as a share
    of the photo's height) of the edges of dark regions on the surface between rows
    `top` and `bottom` and columns `left` and `right` (shares). A blurred step of contrast Δ (log luminance) is steepest
    at Δ / (σ·√(2π)), so σ is read off each shadow edge's steepest point; wood grain and
    noise are too faint to count. None: no shadow edge on the surface (the falloff proxy
    stays)."""
    h, w = rgb.shape[:2]
    s = min(1.0, PENUMBRA_WIDTH / w)
    small = cv2.resize(np.ascontiguousarray(rgb), (max(8, round(w * s)), max(8, round(h * s))),
                       interpolation=cv2.INTER_AREA) if s < 1 else np.ascontiguousarray(rgb)
    sh, sw = small.shape[:2]
    y0, y1 = int(top * sh) + max(3, sh // 50), int(bottom * sh) - 3  # the surface's own edges are no shadow
    x0, x1 = int(left * sw) + 3, int(right * sw) - 3
    if y1 - y0 < 12 or x1 - x0 < 12:
        return None
    lum = np.log(_luminance(small[y0:y1, x0:x1]) + 0.02)
    lum = cv2.GaussianBlur(lum, (0, 0), 0.6)
    gx, gy = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3) / 8
    grad = np.hypot(gx, gy)
    k = max(9, sw // 6) | 1  # wide enough to see the whole step of a soft edge
    span = cv2.dilate(lum, np.ones((k, k), np.uint8)) - cv2.erode(lum, np.ones((k, k), np.uint8))
    steepest = grad >= 0.8 * cv2.dilate(grad, np.ones((k, k), np.uint8))  # the edge's middle, not noise beside it
    edge = steepest & (span > SHADOW_STEP) & (grad > 0.01)
    edge[:, :2] = edge[:, -2:] = False
    if edge.sum() < 6:
        return None
    ey, ex = np.nonzero(edge)
    sigma_px = span[ey, ex] / (grad[ey, ex] * math.sqrt(2 * math.pi))
    # a shadow's edge is one step: across it (±2.5σ along the gradient) the whole span is
    # crossed; grain on a surface whose light falls off is steep but crosses little of it
    reach = 2.5 * sigma_px + 1
    ux, uy = gx[ey, ex] / grad[ey, ex], gy[ey, ex] / grad[ey, ex]
    hh, ww = lum.shape

    def at(sign: float) -> np.ndarray:
        yy = np.clip(np.round(ey + sign * uy * reach), 0, hh - 1).astype(int)
        xx = np.clip(np.round(ex + sign * ux * reach), 0, ww - 1).astype(int)
        return lum[yy, xx]

    one_step = (at(1) - at(-1) > 0.7 * span[ey, ex]) & (sigma_px < k / 5)
    if one_step.sum() < 6:
        return None
    return float(np.median(sigma_px[one_step])) / sh


def softness_for_edge(sigma: float, fill: float) -> float:
    """`shadows`' softness whose cast shadow's blur (0.01 + 0.05·softness of the product's
    height) is `sigma` (a share of the frame's height) for a product `fill` of the frame high."""
    return float(np.clip((sigma / max(fill, 0.02) - 0.01) / 0.05, 0.0, 1.0))


def shadows(alpha: np.ndarray, box: Box, shape: tuple[int, int], light_dir: float, contact: float, cast: float,
            length: float, softness: float, plane: tuple[int, int] | None = None) -> np.ndarray:
    """Darkness (0..0.95) to multiply out of the plate: a contact shadow under the
    product's foot and a cast shadow thrown away from the light. `alpha` is the
    product's matte at its placed size (box.h × box.w). `plane`: (far edge, horizon)
    rows in px of the surface the product stands on (a backdrop photo): the cast shadow
    lies on it, foreshortened towards the horizon and fading out before its far edge."""
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
        if plane is not None:  # a shadow on a plane seen at a slant is as flat as the plane looks
            squash = min(squash, max(0.02, 0.35 * (base_y - plane[1]) / max(1, box.h)))
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
        if plane is not None:  # nothing to fall on behind the surface's far edge
            thrown *= np.clip((ys - plane[0]) / max(2.0, 0.02 * H), 0, 1)
        out = np.maximum(out, thrown, out=out)
    return np.clip(out, 0, 0.95, out=out)


def _to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (out-of-range values clipped) → linear light, float32."""
    return srgb_to_linear(np.clip(rgb, 0, 1)).astype(np.float32)


def _to_srgb(lin: np.ndarray) -> np.ndarray:
    return linear_to_srgb(lin).astype(np.float32)


def _luma_linear(lin: np.ndarray) -> np.ndarray:
    return lin[..., 0] * 0.2126 + lin[..., 1] * 0.7152 + lin[..., 2] * 0.0722


def _around(plate: np.ndarray, box: Box, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The plate's linear luminance in a window round `box` (half the box's size on each
    side), and a weight that leaves the product's own pixels out."""
    H, W = plate.shape[:2]
    pad_x, pad_y = box.w // 2 + 2, box.h // 2 + 2
    x0, x1 = max(0, box.x - pad_x), min(W, box.x + box.w + pad_x)
    y0, y1 = max(0, box.y - pad_y), min(H, box.y + box.h + pad_y)
    win = plate[y0:y1, x0:x1]
    lum = _luma_linear(_to_linear(win.astype(np.float32) / (255.0 if win.dtype == np.uint8 else 1.0)))
    outside = np.ones(lum.shape, np.float32)
    by0, bx0 = box.y - y0, box.x - x0
    iy0, iy1, ix0, ix1 = max(0, by0), min(lum.shape[0], by0 + box.h), max(0, bx0), min(lum.shape[1], bx0 + box.w)
    outside[iy0:iy1, ix0:ix1] = np.where(alpha[iy0 - by0: iy1 - by0, ix0 - bx0: ix1 - bx0] > 0.1, 0.0, 1.0)
    return lum, outside, (x0, y0, x1, y1)


def exposure_toward(fg: np.ndarray, alpha: np.ndarray, plate: np.ndarray, box: Box, strength: float) -> float:
    """The one exposure factor (linear light) light matching gives the product: the
    plate's key round its spot (the 90th percentile of its luminance: the lit parts)
    against the key the product was photographed under (the 95th percentile of its own,
    kept in PHOTO_KEY: a black product was not shot in the dark), raised to `strength`
    (1: the whole difference) and never so bright that the product's colours clip."""
    solid = alpha > 0.5
    if strength <= 0 or not solid.any():
        return 1.0
    lum, outside, _ = _around(plate, box, alpha)
    around = lum[outside > 0]
    if around.size == 0:
        return 1.0
    lin = _to_linear(np.asarray(fg, np.float32))
    key = float(np.clip(np.percentile(_luma_linear(lin)[solid], 95), *PHOTO_KEY))
    ratio = float(np.clip(PLATE_REFLECTANCE * np.percentile(around, 90) / key, *EXPOSURE_RANGE))
    factor = ratio ** min(float(strength), 1.0)
    brightest = float(np.percentile(lin[solid].max(axis=1), 99.5))
    return min(factor, 1.0 / brightest) if factor > 1 and brightest > 0 else factor


def adapt_shading(fg: np.ndarray, alpha: np.ndarray, plate: np.ndarray, box: Box, strength: float,
                  light_dir: float | None = None) -> np.ndarray:
    """The product's colours (float RGB in [0, 1], box.h × box.w) lit as the light at its
    spot on `plate` (the frame's RGB, uint8 or float) is: linear RGB times the exposure
    factor (`exposure_toward`) and times a ramp along the plate's own light gradient
    across the box (a share of it, in log exposure, zero on the product's mean), both
    scaled by `strength` (0: the pixels as they are). Multiplying linear light keeps each
    pixel's chromaticity (its colour under that light) and its detail. `light_dir` turns
    the ramp to a direction the seller chose."""
    if strength <= 0:
        return fg
    strength = min(float(strength), 1.0)
    solid = alpha > 0.5
    if not solid.any():
        return fg
    factor = exposure_toward(fg, alpha, plate, box, strength)
    lum, outside, (x0, y0, x1, y1) = _around(plate, box, alpha)
    step = max(1, max(lum.shape) // 96)  # the fit needs no more than ~100 px a side
    _, b, c = _plane(np.log(lum[::step, ::step] + 0.01), outside[::step, ::step])
    # (b, c) are log changes over half the window; the box is about half the window's size
    span_x, span_y = box.w / max(1, x1 - x0), box.h / max(1, y1 - y0)
    gx, gy = b * span_x, c * span_y
    if light_dir is not None:  # the seller's direction, with the plate's strength of light
        mag, ang = math.hypot(gx, gy), math.radians(light_dir)
        gx, gy = mag * math.cos(ang), -mag * math.sin(ang)
    v, u = np.mgrid[-1:1:complex(0, box.h), -1:1:complex(0, box.w)].astype(np.float32)
    ramp = np.clip(PLATE_SHARE * (gx * u + gy * v), -MAX_RAMP, MAX_RAMP)
    ramp -= float(ramp[solid].mean())  # the exposure factor alone sets the product's mean
    gain = factor * np.exp(strength * ramp)
    return _to_srgb(_to_linear(np.asarray(fg, np.float32)) * gain[..., None])


def exposure_factor(shot: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """The one exposure factor (linear light) between a product as shot and its photo
    (uint8 or float RGB laid out alike) over `mask`: the ratio of their mean linear
    luminance (1.0 where there is nothing to measure)."""
    if not mask.any():
        return 1.0

    def mean_y(rgb):
        f = rgb[mask].astype(np.float32) / (255.0 if rgb.dtype == np.uint8 else 1.0)
        return float(_luma_linear(_to_linear(f)).mean())

    base = mean_y(original)
    return mean_y(shot) / base if base > 1e-4 else 1.0


def exposure_report(shot: np.ndarray, original: np.ndarray, mask: np.ndarray) -> dict:
    """How the light on a light-matched product changed from its photo: the exposure
    factor (linear light), in stops and in L* of the mean, and the mean colour's hue
    shift in degrees (CIELAB) once that factor is divided out."""
    factor = exposure_factor(shot, original, mask)
    if not mask.any():
        return {"factor": 1.0, "stops": 0.0, "delta_L": 0.0, "hue_shift": 0.0}
    lit = under_light(original, factor)

    def mean_lab(rgb):  # averaged in linear light: a change of exposure leaves its chromaticity
        m = _to_linear(rgb[mask].astype(np.float32) / 255.0).mean(axis=0)
        return cv2.cvtColor(_to_srgb(m)[None, None].astype(np.float32), cv2.COLOR_RGB2Lab)[0, 0]

    a, b, c = mean_lab(shot), mean_lab(original), mean_lab(lit)
    hue = 0.0
    if math.hypot(a[1], a[2]) > 5 and math.hypot(c[1], c[2]) > 5:
        turn = math.degrees(math.atan2(a[2], a[1])) - math.degrees(math.atan2(c[2], c[1]))
        hue = abs((turn + 180) % 360 - 180)
    return {"factor": round(factor, 4), "stops": round(math.log2(max(factor, 1e-6)), 2),
            "delta_L": round(float(a[0] - b[0]), 2), "hue_shift": round(hue, 2)}


def under_light(rgb8: np.ndarray, factor: float) -> np.ndarray:
    """`rgb8` (uint8 RGB) with its linear light multiplied by `factor`: the product's
    photo as it looks under the light it was matched to (what ΔE is measured against)."""
    if factor == 1.0:
        return rgb8
    lin = _to_linear(rgb8.astype(np.float32) / 255.0) * factor
    return cv2.convertScaleAbs(_to_srgb(lin), alpha=255.0)


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
