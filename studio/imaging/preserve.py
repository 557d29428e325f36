"""Put the original product back: whatever a generator drew, the product's own
pixels (the decontaminated cut-out) are composited over it through the matte, at
the box where the generator placed it. Only the edge band is harmonised with the
scene, so the product itself is never redrawn."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from studio.imaging.compose import (
    Box,
    crop_to_alpha,
    eroded,
    paste_parts,
    resize_product,
    rgb_array,
    window,
)


def preserve(generated: Image.Image, cutout: Image.Image, box: Box, edge_px: int = 2) -> Image.Image:
    """`generated` RGB scene, `cutout` RGBA (full photo or cropped), `box` from the generator."""
    frame = rgb_array(generated).copy()
    # Outside the box (and the blur's reach) the scene is kept as it is: work on a window.
    win = window(box, 4, frame.shape[:2])
    fg, alpha = paste_parts(frame[win].shape[:2], resize_product(crop_to_alpha(cutout), box), box.within(win))
    frame[win] = put_back(frame[win], fg, alpha, edge_px)
    return Image.fromarray(frame, "RGB")


def put_back(scene8: np.ndarray, fg: np.ndarray, alpha: np.ndarray, edge_px: int = 2) -> np.ndarray:
    """The product (float colour and alpha, laid out like the window `scene8` of a uint8
    frame) over the scene: exactly its own pixels inside the matte eroded by `edge_px`;
    in the band round that, half of the generator's own edge light (wrap, grade) is kept.
    Only the rim is blended (a few percent of the window); the rest is copied."""
    out = np.array(scene8, order="C")  # a copy OpenCV can write into
    ys, xs, band = paste_inside(out, fg, alpha, edge_px)
    if len(ys):
        out[ys, xs] = blend_rim(fg[ys, xs], alpha[ys, xs, None], scene8[ys, xs].astype(np.float32) / 255.0, band)
    return out


def paste_inside(frame8: np.ndarray, fg: np.ndarray, alpha: np.ndarray, edge_px: int = 2) -> tuple:
    """Copy the product's own pixels into the C-contiguous uint8 `frame8` where its matte,
    eroded by `edge_px`, is opaque. Returns the rim left round that (rows, columns) and
    each rim pixel's weight in the band (n, 1), for `blend_rim`."""
    inner = eroded(alpha, edge_px)
    present = alpha > 0
    cv2.copyTo(cv2.convertScaleAbs(fg, alpha=255.0), inner.view(np.uint8), frame8)
    ys, xs = np.nonzero(present & ~inner)
    band = np.clip(cv2.GaussianBlur(present.astype(np.float32) - inner, (0, 0), 1.0), 0, 1)[ys, xs, None] \
        if len(ys) else np.zeros((0, 1), np.float32)
    return ys, xs, band


def blend_rim(fg: np.ndarray, alpha: np.ndarray, scene: np.ndarray, band: np.ndarray) -> np.ndarray:
    """The rim's pixels (float, n × 3; alpha and band n × 1): the product over the scene,
    with half of the scene's own edge light kept in the band; rounded to 8 bits."""
    mixed = fg * alpha + scene * (1 - alpha)
    return cv2.convertScaleAbs(mixed + (scene - mixed) * (0.5 * band), alpha=255.0)
