"""A labelled product composited into a scene, faithfully or with one distortion of a
given strength: what a generator that redraws the product might do to it."""

from __future__ import annotations

import cv2
import numpy as np

from studio.imaging.compose import over
from tests.synth import background

H, W = 900, 1200
BOX = (470, 230, 260, 420)  # x, y, w, h of the product on the canvas
LABEL = (40, 150, 180, 150)  # x, y, w, h of the label inside the product
LOGO = (55, 165, 60, 60)


def product(w: int = BOX[2], h: int = BOX[3]) -> np.ndarray:
    """RGBA float [0, 1]: a blue carton with a white label, printed text lines and a red logo."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.array([40, 75, 160], np.float32) * (1 - 0.25 * xs / w)[..., None]  # lit from the left
    lx, ly, lw, lh = LABEL
    rgb[ly:ly + lh, lx:lx + lw] = (245, 242, 235)
    for i, y in enumerate(range(ly + 72, ly + lh - 8, 11)):  # "text": short dark strokes
        for x in range(lx + 10, lx + lw - 20, 16 + (i % 3) * 3):
            rgb[y:y + 4, x:x + 9] = (30, 30, 35)
    gx, gy, gw, gh = LOGO
    cv2.circle(rgb, (gx + gw // 2, gy + gh // 2), gw // 2, (210, 40, 40), -1)
    cv2.circle(rgb, (gx + gw // 2, gy + gh // 2), gw // 4, (250, 200, 40), -1)
    alpha = np.zeros((h, w), np.float32)
    cv2.rectangle(alpha, (0, 30), (w - 1, h - 1), 1.0, -1)
    cv2.ellipse(alpha, (w // 2, 30), (w // 2 - 1, 30), 0, 180, 360, 1.0, -1)  # a rounded top
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.8)
    return np.dstack([rgb / 255.0, alpha])


def backdrop(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bg = background("wood", H, W, rng) * 0.6 + background("gradient", H, W, rng) * 0.4
    x, y, w, h = BOX
    shadow = np.zeros((H, W), np.float32)
    cv2.ellipse(shadow, (x + w // 2 + 20, y + h), (w // 2 + 30, 18), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 9)
    return bg * (1 - 0.4 * shadow[..., None])


def placed(layer: np.ndarray | None = None, box: tuple[int, int, int, int] = BOX) -> np.ndarray:
    """The product layer (H×W×4 float) on the canvas at `box`, resized to it."""
    layer = product() if layer is None else layer
    x, y, w, h = box
    out = np.zeros((H, W, 4), np.float32)
    out[y:y + h, x:x + w] = cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA)
    return out


def composite(layer: np.ndarray | None = None, box: tuple[int, int, int, int] = BOX, seed: int = 0,
              extra: np.ndarray | None = None) -> np.ndarray:
    p = placed(layer, box)
    img = over(backdrop(seed) / 255.0, p[..., :3], p[..., 3])
    if extra is not None:  # (H×W×4) drawn over the product
        img = over(img, extra[..., :3], extra[..., 3])
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def _in_rect(layer: np.ndarray, rect: tuple[int, int, int, int], fn) -> np.ndarray:
    out = layer.copy()
    x, y, w, h = rect
    out[y:y + h, x:x + w, :3] = fn(out[y:y + h, x:x + w, :3])
    return out


def distorted(kind: str, t: float, seed: int = 0) -> np.ndarray:
    """The scene with the product distorted by `kind` at strength t (0 = faithful)."""
    p = product()
    x, y, w, h = BOX
    if kind == "color_shift":  # a warm cast on the whole product
        return composite(np.dstack([np.clip(p[..., :3] * (1 + 0.06 * t * np.array([1, 0.2, -1])), 0, 1),
                                    p[..., 3]]), seed=seed)
    if kind == "logo_hue":
        def rotate(rgb):
            hsv = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2HSV)
            hsv[..., 0] = (hsv[..., 0] + 25 * t) % 360
            return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        return composite(_in_rect(p, LOGO, rotate), seed=seed)
    if kind == "blur_label":
        lx, ly, lw, lh = LABEL
        return composite(_in_rect(p, (lx, ly + 60, lw, lh - 60),
                                  lambda rgb: cv2.GaussianBlur(rgb, (0, 0), 0.01 + 0.8 * t)), seed=seed)
    if kind == "warp":  # a sideways sinusoidal bend of the whole product
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        map_x = xs + 0.025 * t * w * np.sin(ys / h * np.pi * 2)
        return composite(cv2.remap(p, map_x, ys, cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0)), seed=seed)
    if kind == "move":
        dx = round(0.05 * t * w)
        return composite(p, (x + dx, y - dx // 2, w, h), seed=seed)
    if kind == "rescale":
        s = 1 + 0.07 * t
        nw, nh = round(w * s), round(h * s)
        return composite(p, (x - (nw - w) // 2, y - (nh - h), nw, nh), seed=seed)
    if kind == "extra_blob":  # a part the generator grew onto the product's side
        extra = np.zeros((H, W, 4), np.float32)
        r = round(12 * t)
        if r:
            cv2.ellipse(extra, (x + w + r // 2, y + h // 2), (r, round(r * 1.6)), 0, 0, 360,
                        (40 / 255 * 0.8, 75 / 255 * 0.8, 160 / 255 * 0.8, 1.0), -1)
        return composite(p, seed=seed, extra=extra)
    raise ValueError(kind)


KINDS = ("color_shift", "logo_hue", "blur_label", "warp", "move", "rescale", "extra_blob")
