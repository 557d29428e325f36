"""A seller's own backdrop photo as the plate a product stands on.

- `plate`: the photo resized to cover the canvas and centre-cropped (its pixels, no
  other change).
- `surface_line`: where the support surface meets what is behind it (a table edge,
  the horizon of a floor), read from the strongest horizontal edge of the photo's
  smoothed brightness; None when the photo shows none (a flat surface seen from above).
- `default_spot`: where a product stands when the seller has not clicked one: the
  middle of the frame's width, on the surface a little in front of that line.
- `stand_box`: the product's box with its foot on the spot and its height a share of
  the frame, kept inside the frame.
- `depth_of_field`: the plate behind the product (above its foot) softened, more with
  distance, for a seller who asks for it.
"""

from __future__ import annotations

import cv2
import numpy as np

from studio.imaging.compose import Box
from studio.imaging.light import soft_blur

SEARCH = (0.15, 0.88)  # the surface line is looked for between these shares of the height
MIN_EDGE = 0.012  # mean brightness step (0..1) a line must have to count


def plate(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The photo (uint8 RGB) covering `size` (W, H): scaled so that both sides cover it,
    then the middle cropped out. Area averaging when shrinking, cubic when enlarging."""
    W, H = size
    h, w = photo.shape[:2]
    s = max(W / w, H / h)
    sw, sh = max(W, round(w * s)), max(H, round(h * s))
    scaled = cv2.resize(np.ascontiguousarray(photo), (sw, sh),
                        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    x0, y0 = (sw - W) // 2, (sh - H) // 2
    return np.ascontiguousarray(scaled[y0:y0 + H, x0:x0 + W])


def surface_line(photo: np.ndarray) -> float | None:
    """The surface's far edge as a share of the height (0 top, 1 bottom), or None."""
    h, w = photo.shape[:2]
    s = 256 / max(h, w)
    small = cv2.resize(np.ascontiguousarray(photo), (max(8, round(w * s)), max(8, round(h * s))),
                       interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    lum = cv2.GaussianBlur(small @ np.float32([0.2126, 0.7152, 0.0722]), (0, 0), 1.5)
    # a line across the frame: the row-to-row step, averaged over the whole width (texture
    # steps cancel out; an edge from side to side does not)
    step = np.abs(np.diff(lum, axis=0).mean(axis=1)) + 0.5 * np.abs(np.diff(small, axis=0).mean(axis=1)).max(axis=1)
    n = len(step)
    lo, hi = int(SEARCH[0] * n), int(SEARCH[1] * n)
    if hi <= lo:
        return None
    row = lo + int(np.argmax(step[lo:hi]))
    if step[row] < MIN_EDGE:
        return None
    return (row + 1) / (n + 1)


def default_spot(line: float | None) -> tuple[float, float]:
    """(x, y) shares of the frame where the product's foot goes, given the photo's
    `surface_line`: centred, on the surface 40% of the way from its edge to the frame's
    bottom; 0.78 down without an edge."""
    y = 0.78 if line is None else line + 0.4 * (1 - line)
    return 0.5, float(np.clip(y, 0.35, 0.92))


def stand_box(product_size: tuple[int, int], canvas: tuple[int, int], spot: tuple[float, float],
              fill: float, margin: float = 0.04) -> Box:
    """The product's box: its height `fill` of the frame's (its width within the frame
    too), its foot's middle on `spot` (shares of the frame), moved in from the edges."""
    pw, ph = product_size
    W, H = canvas
    s = min(fill * H / ph, (1 - 2 * margin) * W / pw, (1 - 2 * margin) * H / ph)
    w, h = max(1, round(pw * s)), max(1, round(ph * s))
    x = round(spot[0] * W - w / 2)
    y = round(spot[1] * H - h)
    mx, my = round(margin * W), round(margin * H)
    x = min(max(x, mx), W - mx - w)
    y = min(max(y, my), H - my - h)
    return Box(int(x), int(y), int(w), int(h))


def depth_of_field(img: np.ndarray, foot_y: int, amount: float) -> np.ndarray:
    """`img` (float RGB) softened above the product's foot, the blur growing with the
    distance behind it (up to `amount` × 1% of the height, as a sigma); below, as it is."""
    if amount <= 0:
        return img
    H = img.shape[0]
    far = soft_blur(img, amount * 0.01 * H)
    rows = np.arange(H, dtype=np.float32)
    weight = np.clip((foot_y - rows) / max(1.0, 0.35 * H), 0, 1)[:, None, None]
    return img + (far - img) * weight

