"""Put the original product back: whatever a generator drew, the product's own
pixels (the decontaminated cut-out) are composited over it through the matte, at
the box where the generator placed it. Only the edge band is harmonised with the
scene, so the product itself is never redrawn."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from studio.imaging.compose import Box, crop_to_alpha, eroded, over, paste_layer, resize_product, rgb_array, window


def preserve(generated: Image.Image, cutout: Image.Image, box: Box, edge_px: int = 2) -> Image.Image:
    """`generated` RGB scene, `cutout` RGBA (full photo or cropped), `box` from the generator."""
    frame = rgb_array(generated).copy()
    # Outside the box (and the blur's reach) the scene is kept as it is: work on a window.
    win = window(box, 4, frame.shape[:2])
    scene = frame[win].astype(np.float32) / 255.0
    layer = paste_layer(scene.shape[:2], resize_product(crop_to_alpha(cutout), box),
                        box.within(win))
    fg, alpha = layer[..., :3], layer[..., 3]
    out = over(scene, fg, alpha)
    # Harmonise the rim only: inside the eroded matte the product stays exactly itself;
    # in the band the generator's own edge light (wrap, grade) is kept in part.
    inner = eroded(alpha, edge_px)
    band = np.clip(cv2.GaussianBlur((alpha > 0).astype(np.float32) - inner, (0, 0), 1.0), 0, 1) * (alpha > 0)
    band[inner] = 0.0
    w = 0.5 * band[..., None]
    out = out * (1 - w) + scene * w
    out[inner] = fg[inner]
    frame[win] = cv2.convertScaleAbs(out, alpha=255.0)  # out ≥ 0: rounds and clips to 8 bits
    return Image.fromarray(frame, "RGB")
