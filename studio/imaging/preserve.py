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
    inner = eroded(alpha, edge_px)
    present = alpha > 0
    out = np.ascontiguousarray(scene8).copy()
    cv2.copyTo(cv2.convertScaleAbs(fg, alpha=255.0), inner.view(np.uint8), out)
    ys, xs = np.nonzero(present & ~inner)
    if len(ys):
        band = np.clip(cv2.GaussianBlur(present.astype(np.float32) - inner, (0, 0), 1.0), 0, 1)
        s = scene8[ys, xs].astype(np.float32) / 255.0
        a, w = alpha[ys, xs, None], 0.5 * band[ys, xs, None]
        mixed = fg[ys, xs] * a + s * (1 - a)
        out[ys, xs] = cv2.convertScaleAbs(mixed * (1 - w) + s * w, alpha=255.0)
    return out
