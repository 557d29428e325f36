"""Product-like photos with known masks, made in code (nothing downloaded)."""

from __future__ import annotations

import cv2
import numpy as np


def _noise(h: int, w: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    small = rng.normal(0, 1, (max(2, int(h / scale)), max(2, int(w / scale)))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def background(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "gradient":
        t = (ys / h)[..., None]
        return (np.array([235, 228, 215]) * (1 - t) + np.array([170, 165, 160]) * t).astype(np.float32)
    if kind == "pattern":  # low-contrast checked tablecloth
        check = (((xs // 24) + (ys // 24)) % 2)[..., None]
        return np.array([200, 205, 212], np.float32) + check * np.array([14, 12, 8], np.float32)
    if kind == "sheet":  # creased bedsheet
        n = _noise(h, w, rng, 40)[..., None] * 10 + _noise(h, w, rng, 6)[..., None] * 3
        return np.array([222, 210, 190], np.float32) + n
    if kind == "paper":
        return np.array([244, 243, 240], np.float32) + _noise(h, w, rng, 3)[..., None] * 1.5
    if kind == "wood":
        grain = np.sin(xs / 7 + _noise(h, w, rng, 60) * 2)[..., None] * 10
        return np.array([180, 140, 100], np.float32) + grain
    raise ValueError(kind)


def shape_mask(kind: str, h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cx, cy = w // 2, h // 2
    if kind == "bottle":
        cv2.ellipse(m, (cx, cy + h // 10), (w // 9, h // 4), 0, 0, 360, 1, -1)
        cv2.rectangle(m, (cx - w // 30, cy - h // 3), (cx + w // 30, cy), 1, -1)
    elif kind == "box":
        pts = np.array([[cx - w // 6, cy - h // 5], [cx + w // 7, cy - h // 4], [cx + w // 6, cy + h // 4],
                        [cx - w // 7, cy + h // 5]], np.int32)
        cv2.fillPoly(m, [pts], 1)
    elif kind == "mug":
        r = min(h, w) // 5
        cv2.rectangle(m, (cx - r, cy - r), (cx + r, cy + r), 1, -1)
        cv2.ellipse(m, (cx + r, cy), (r // 2 + r // 6, r // 2 + r // 6), 0, -90, 90, 1, -1)
        cv2.ellipse(m, (cx + r, cy), (r // 2 - r // 8, r // 2 - r // 8), 0, -90, 90, 0, -1)  # the handle's gap
    elif kind == "round":
        cv2.circle(m, (cx, cy), min(h, w) // 4, 1, -1)
    else:
        raise ValueError(kind)
    return m.astype(bool)


def product_texture(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "red":
        base = np.array([190, 30, 35], np.float32) + _noise(h, w, rng, 30)[..., None] * 6
    elif kind == "striped":
        stripe = ((ys // 14) % 2)[..., None]
        base = np.array([30, 70, 160], np.float32) * (1 - stripe) + np.array([240, 200, 40], np.float32) * stripe
    elif kind == "green":
        base = np.array([40, 140, 80], np.float32) + (xs / w)[..., None] * 40
    elif kind == "white":  # a white product, lit from the left: its own shading is its edge
        base = np.array([252, 252, 252], np.float32) - (xs / w)[..., None] * 30
    elif kind == "dark":
        base = np.array([35, 32, 40], np.float32) + _noise(h, w, rng, 20)[..., None] * 4
    elif kind == "colourful":
        base = np.dstack([128 + _noise(h, w, rng, 25) * 80 for _ in range(3)])
    else:
        raise ValueError(kind)
    return base


CASES = {
    # name: (shape, texture, background, shadow)
    "red-bottle-on-gradient": ("bottle", "red", "gradient", False),
    "striped-box-on-pattern": ("box", "striped", "pattern", False),
    "green-mug-on-sheet": ("mug", "green", "sheet", False),
    "white-on-white": ("round", "white", "paper", False),
    "dark-bottle-with-shadow": ("bottle", "dark", "gradient", True),
    "colourful-box-on-wood": ("box", "colourful", "wood", False),
}


def make_case(name: str, h: int = 480, w: int = 640, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 photo, true mask bool) with a soft anti-aliased product edge."""
    shape, texture, bg_kind, shadow = CASES[name]
    rng = np.random.default_rng(seed)
    bg = background(bg_kind, h, w, rng)
    mask = shape_mask(shape, h, w)
    if shadow:
        sh = np.zeros((h, w), np.float32)
        ys, xs = np.nonzero(mask)
        cv2.ellipse(sh, (int(xs.mean()) + w // 12, int(ys.max())), (w // 6, h // 22), 0, 0, 360, 1, -1)
        sh = cv2.GaussianBlur(sh, (0, 0), h / 40)
        bg = bg * (1 - 0.45 * sh[..., None])
    if texture == "white":
        # the paper around the product is a touch darker and the product casts a faint edge
        bg = bg - 6
    product = product_texture(texture, h, w, rng)
    if texture == "white":
        # a real white object darkens towards its outline (it turns away from the light)
        d = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
        product = product * (1 - 0.12 * np.exp(-d / 5))[..., None]
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.8)[..., None]
    img = bg * (1 - soft) + product * soft
    img += rng.normal(0, 2.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


def boundary_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean symmetric distance (px) between the two masks' boundaries."""
    def contour(m):
        m8 = m.astype(np.uint8)
        return (m8 - cv2.erode(m8, np.ones((3, 3), np.uint8))).astype(bool)

    cp, ct = contour(pred), contour(true)
    if not cp.any() or not ct.any():
        return float("inf")
    dt_true = cv2.distanceTransform((~ct).astype(np.uint8), cv2.DIST_L2, 3)
    dt_pred = cv2.distanceTransform((~cp).astype(np.uint8), cv2.DIST_L2, 3)
    return float((dt_true[cp].mean() + dt_pred[ct].mean()) / 2)
