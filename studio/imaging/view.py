"""Which way the product was photographed: from the side (standing on something) or
from above (a flat lay). The classic compositor stands a side view on the scene's
floor line and lays a top view flat, camera overhead, its shadow under and round it.

From the silhouette and the photo's own pixels:
- a product seen from the side stands on a base: near its lowest point the outline is
  already wide (a bottle's foot, a box's bottom edge, a shoe's sole); seen from above
  it has no base, the outline narrows to a point or a curve;
- seen from above, round things are round (a cup, a plate, a jar's lid): a compact,
  solid, nearly circular outline (but so is a cup shot from 45°: see rings);
- seen from above, flat things lie at any angle (a phone, a wallet), where standing
  products are upright;
- seen from above, a cup's or a jar's rim and inside are rings round the centre: the
  photo's edges run round the centre rather than across it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIDE, TOP = "side", "top"
_WORK = 256  # the outline's long side while measuring


@dataclass(frozen=True)
class View:
    kind: str  # SIDE or TOP
    measures: dict[str, float]
    why: str


def _outline(alpha: np.ndarray) -> np.ndarray | None:
    m = (alpha > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(contours, key=cv2.contourArea) if contours else None


def _base_width(mask: np.ndarray) -> float:
    """The outline's width a little above its lowest row, as a share of its widest."""
    rows = np.flatnonzero(mask.any(axis=1))
    widths = mask.sum(axis=1)
    h = rows[-1] - rows[0] + 1
    probe = rows[-1] - max(1, int(round(0.03 * h)))
    return float(widths[probe] / max(1, widths.max()))


def _rings(rgb: np.ndarray, mask: np.ndarray, centre: tuple[float, float]) -> float:
    """How much the photo's edges inside the product run round its centre: the share of
    gradient strength pointing along the radius (0.64 for edges at random angles)."""
    grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    inside = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    mag = np.hypot(gx, gy) * inside
    if mag.sum() < 1e-3:
        return 0.0
    ys, xs = np.mgrid[0: mask.shape[0], 0: mask.shape[1]].astype(np.float32)
    rx, ry = xs - centre[0], ys - centre[1]
    r = np.maximum(np.hypot(rx, ry), 1e-3)
    along = np.abs(gx * rx + gy * ry) / r * inside
    return float(along.sum() / mag.sum())


def product_view(rgba: np.ndarray) -> View:
    """The view of a cut-out (H×W×4 uint8, or an RGBA cropped to the product)."""
    a = rgba[..., 3].astype(np.float32) / 255.0
    ys, xs = np.nonzero(a > 0.5)
    if len(ys) < 50:
        return View(SIDE, {}, "too small to tell: standing")
    crop = rgba[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    f = min(1.0, _WORK / max(crop.shape[:2]))
    small = cv2.resize(crop, (max(8, round(crop.shape[1] * f)), max(8, round(crop.shape[0] * f))),
                       interpolation=cv2.INTER_AREA)
    mask = small[..., 3] > 127
    contour = _outline(small[..., 3].astype(np.float32) / 255.0)
    if contour is None or len(contour) < 5:
        return View(SIDE, {}, "no outline: standing")
    area, perimeter = float(mask.sum()), cv2.arcLength(contour, True)
    (cx, cy), (d1, d2), _ = cv2.fitEllipse(contour)
    (_, _), (rw, rh), angle = cv2.minAreaRect(contour)
    tilt = float(min(angle % 90, 90 - angle % 90))  # 0 when upright or lying square
    measures = {
        "circularity": 4 * np.pi * area / max(perimeter, 1.0) ** 2,
        "aspect": max(d1, d2) / max(min(d1, d2), 1e-3),
        "ellipse_fill": area / max(np.pi * d1 * d2 / 4, 1.0),
        "base_width": _base_width(mask),
        "tilt": tilt,
        "rings": _rings(np.ascontiguousarray(small[..., :3]), mask, (cx, cy)),
    }
    measures = {k: round(float(v), 3) for k, v in measures.items()}
    if measures["base_width"] >= 0.45:
        return View(SIDE, measures, "stands on a base")
    # Round with no base is not enough: a cup shot from 45° is round too, and looks right
    # standing on a floor seen at that angle. From straight above, its rim and inside
    # are rings round the centre.
    round_ = measures["aspect"] <= 1.3 and 0.9 <= measures["ellipse_fill"] <= 1.1
    if round_ and measures["rings"] >= 0.8:
        return View(TOP, measures, "round, no base, rings round the centre: seen from straight above")
    if measures["tilt"] >= 12 and min(rw, rh) > 0 and area / (rw * rh) >= 0.85:
        return View(TOP, measures, "a flat shape lying at an angle: seen from above")
    return View(SIDE, measures, "no sign of a top view: standing")
