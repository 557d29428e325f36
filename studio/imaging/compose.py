"""Placement maths and compositing shared by every generator (and the preserve stage)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
from PIL import Image

from studio.bytecache import ByteBoundedCache
from studio.scenes import Placement


@dataclass(frozen=True)
class Box:
    """Where the product goes on the canvas: top-left corner and size in pixels."""

    x: int
    y: int
    w: int
    h: int

    def as_dict(self) -> dict:
        return asdict(self)

    def within(self, win: tuple[slice, slice]) -> Box:
        """This box in the coordinates of a window (rows, columns) of its frame."""
        return Box(self.x - win[1].start, self.y - win[0].start, self.w, self.h)


def rgb_array(image: Image.Image) -> np.ndarray:
    """The image's RGB pixels (read-only), with no copy when it is RGB already."""
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def crop_to_alpha(rgba: Image.Image, pad: int = 0) -> Image.Image:
    """The cut-out cropped to its visible pixels."""
    bbox = rgba.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if bbox is None:
        raise ValueError("the cut-out is empty: nothing to place")
    x0, y0, x1, y1 = bbox
    crop = (max(0, x0 - pad), max(0, y0 - pad), min(rgba.width, x1 + pad), min(rgba.height, y1 + pad))
    out = rgba.crop(crop)
    if ARTIFACT in rgba.info:  # the same stored cut-out, cropped the same way: see resize_product
        out.info[ARTIFACT] = (rgba.info[ARTIFACT], crop)
    return out


def place(product_size: tuple[int, int], canvas: tuple[int, int], placement: Placement,
          jitter: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Box:
    """Fit the product (w, h) into the canvas (W, H): its longer side becomes
    `scale` of the frame's matching side, never past the margins; then anchor it.
    jitter = (dx, dy, dscale) as shares of the frame, for variants."""
    pw, ph = product_size
    W, H = canvas
    if placement.exact:
        jitter = (0.0, 0.0, 0.0)
    scale = placement.scale * (1 + jitter[2])
    s = (scale * W / pw) if pw / W >= ph / H else (scale * H / ph)
    margin_x, margin_y = placement.margin * W, placement.margin * H
    s = min(s, (W - 2 * margin_x) / pw, (H - 2 * margin_y) / ph)
    w, h = max(1, round(pw * s)), max(1, round(ph * s))
    cx = W / 2 + jitter[0] * W
    cy = H / 2 + jitter[1] * H
    if placement.anchor == "bottom-center":
        y = placement.floor * H - h + jitter[1] * H
    elif placement.anchor == "top-center":
        y = margin_y + jitter[1] * H
    else:
        y = cy - h / 2
    if placement.anchor == "left-center":
        x = margin_x + jitter[0] * W
    elif placement.anchor == "right-center":
        x = W - margin_x - w + jitter[0] * W
    else:
        x = cx - w / 2
    x = int(round(min(max(x, margin_x), W - margin_x - w)))
    y = int(round(min(max(y, margin_y), H - margin_y - h)))
    return Box(x, y, w, h)


# An image decoded from the artifact store carries its digest in `info` under this key
# (pipeline.codec sets it): the same digest is the same pixels.
ARTIFACT = "studio_artifact"


# Placed-size cut-outs by (stored cut-out, crop, size): a variant's generate, preserve,
# score, colour and export stages each place the product at the same box, and resizing
# a 12 MP cut-out costs ~0.1 s each time. Kept read-only.
_RESIZED = ByteBoundedCache(384 * 1024**2)


def resize_product(rgba: Image.Image, box: Box) -> np.ndarray:
    """The cut-out at its placed size, as float32 RGBA 0..1 (read-only when it comes
    from the cache: copy before changing it). Every stage that places the product uses
    this, so generator and preserve agree pixel for pixel."""
    key = (rgba.info[ARTIFACT], rgba.size, box.w, box.h) if ARTIFACT in rgba.info else None
    cached = _RESIZED.get(key) if key else None
    if cached is not None:
        return cached
    out = np.asarray(rgba.resize((box.w, box.h), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0
    if key:
        out.flags.writeable = False
        _RESIZED.put(key, out, out.nbytes)
    return out


def resize_alpha(rgba: Image.Image, box: Box) -> np.ndarray:
    """Only the alpha of `resize_product` (the same values), as float32 (h, w, 1)."""
    key = (rgba.info[ARTIFACT], rgba.size, box.w, box.h) if ARTIFACT in rgba.info else None
    cached = _RESIZED.get(key) if key else None
    if cached is not None:
        return cached[..., 3:]
    a = rgba.getchannel("A").resize((box.w, box.h), Image.Resampling.LANCZOS)
    return (np.asarray(a, dtype=np.float32) / 255.0)[..., None]


def paste_layer(canvas_shape: tuple[int, int], layer: np.ndarray, box: Box) -> np.ndarray:
    """A (h, w, C) layer placed into an all-zero (H, W, C) canvas at box."""
    H, W = canvas_shape
    out = np.zeros((H, W, layer.shape[2]), np.float32)
    x0, y0 = max(box.x, 0), max(box.y, 0)
    x1, y1 = min(box.x + box.w, W), min(box.y + box.h, H)
    out[y0:y1, x0:x1] = layer[y0 - box.y: y1 - box.y, x0 - box.x: x1 - box.x]
    return out


def paste_parts(canvas_shape: tuple[int, int], layer: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """`paste_layer` as two contiguous arrays, colour (H, W, 3) and alpha (H, W): what
    OpenCV's blend takes without copying them first."""
    H, W = canvas_shape
    fg, alpha = np.zeros((H, W, 3), np.float32), np.zeros((H, W), np.float32)
    x0, y0 = max(box.x, 0), max(box.y, 0)
    x1, y1 = min(box.x + box.w, W), min(box.y + box.h, H)
    src = layer[y0 - box.y: y1 - box.y, x0 - box.x: x1 - box.x]
    fg[y0:y1, x0:x1] = src[..., :3]
    alpha[y0:y1, x0:x1] = src[..., 3]
    return fg, alpha


def window(box: Box, margin: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns of the box grown by margin, clipped to an (H, W) frame: the
    only part of a frame that work about the product touches."""
    H, W = shape
    return (slice(max(0, box.y - margin), min(H, box.y + box.h + margin)),
            slice(max(0, box.x - margin), min(W, box.x + box.w + margin)))


def over(background: np.ndarray, fg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """fg·a + background·(1 − a), float32 (OpenCV's blend: a few times quicker than numpy)."""
    return blend(fg, background, alpha)


def blend(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """a·w + b·(1 − w) per pixel, for float32 (h, w, c) images and an (h, w) weight."""
    w = np.ascontiguousarray(weight, np.float32)
    return cv2.blendLinear(np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32), w, 1 - w)


def hex_rgb(color: str) -> np.ndarray:
    return np.array([int(color[i: i + 2], 16) for i in (1, 3, 5)], np.float32) / 255.0


def eroded(alpha: np.ndarray, px: int) -> np.ndarray:
    """Where the matte is fully opaque even px pixels in: the product's sure interior."""
    solid = (alpha >= 0.999).astype(np.uint8)
    if px <= 0:
        return solid.astype(bool)
    return cv2.erode(solid, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))).astype(bool)


def placed_alpha(cutout: Image.Image, box: dict | Box, shape: tuple[int, int]) -> np.ndarray:
    """Only the alpha of `placed_layer` (the same values), as float32 (H, W): the product's
    matte on a finished shot (what an export checks its background against, and what a
    clip moves)."""
    b = box if isinstance(box, Box) else Box(**box)
    return paste_layer(shape, resize_alpha(crop_to_alpha(cutout), b), b).reshape(shape)


def placed_layer(cutout: Image.Image, box: dict | Box, shape: tuple[int, int],
                 win: tuple[slice, slice] | None = None) -> np.ndarray:
    """The original cut-out on a variant's canvas (of `shape`) where the generator was
    asked to put it, as float RGBA; with `win`, only that window of the canvas."""
    b = box if isinstance(box, Box) else Box(**box)
    if win is None:
        return paste_layer(shape, resize_product(crop_to_alpha(cutout), b), b)
    shape = (win[0].stop - win[0].start, win[1].stop - win[1].start)
    return paste_layer(shape, resize_product(crop_to_alpha(cutout), b), b.within(win))
