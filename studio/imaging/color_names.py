"""Dominant colours of a product, named in plain words (no model needed)."""

from __future__ import annotations

import cv2
import numpy as np

# A small palette of names people use for products, in sRGB.
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20), "charcoal": (60, 60, 62), "grey": (128, 128, 128), "silver": (192, 192, 196),
    "white": (245, 245, 245), "cream": (240, 228, 200), "beige": (215, 195, 160), "brown": (120, 75, 40),
    "tan": (190, 150, 100), "red": (200, 30, 35), "burgundy": (120, 20, 40), "pink": (240, 150, 180),
    "orange": (240, 130, 30), "gold": (205, 165, 60), "yellow": (240, 215, 50), "olive": (110, 110, 40),
    "green": (50, 150, 70), "dark green": (25, 80, 45), "mint": (160, 220, 190), "teal": (20, 130, 130),
    "light blue": (140, 190, 235), "blue": (40, 80, 190), "navy": (25, 35, 80), "purple": (110, 50, 150),
    "lavender": (190, 170, 225),
}
_NAMES = list(PALETTE)
_LAB = cv2.cvtColor(np.array([list(PALETTE.values())], np.uint8), cv2.COLOR_RGB2LAB)[0].astype(np.float32)


def name_color(rgb: tuple[int, int, int]) -> str:
    lab = cv2.cvtColor(np.array([[rgb]], np.uint8), cv2.COLOR_RGB2LAB)[0, 0].astype(np.float32)
    return _NAMES[int(np.argmin(np.linalg.norm(_LAB - lab, axis=1)))]


def dominant_colors(rgb: np.ndarray, alpha: np.ndarray, k: int = 3, min_share: float = 0.12) -> list[dict]:
    """The product's main colours (share of its pixels, hex, name), largest first."""
    pix = rgb[alpha > 0.5].reshape(-1, 3)
    if len(pix) == 0:
        return []
    pix = pix[:: max(1, len(pix) // 20000)].astype(np.float32)
    k = min(k, len(pix))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, labels, centers = cv2.kmeans(pix, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    shares = np.bincount(labels.ravel(), minlength=k) / len(labels)
    out, seen = [], set()
    for i in np.argsort(-shares):
        if shares[i] < min_share:
            continue
        c = tuple(int(round(v)) for v in centers[i])
        name = name_color(c)
        if name in seen:
            continue
        seen.add(name)
        out.append({"name": name, "hex": "#{:02x}{:02x}{:02x}".format(*c), "share": round(float(shares[i]), 3)})
    return out
