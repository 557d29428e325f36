"""What the inpainting backends (FLUX Fill, SDXL inpaint) share: the canvas with the
product placed and the mask of what to paint, and the per-step callback that reports
progress and stops between steps when asked."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from studio.imaging.compose import Box, crop_to_alpha, over, paste_layer, place, resize_product
from studio.scenes import Scene

# FLUX works on 16-px multiples (8× VAE, then 2×2 patches); SDXL on 8.
MULTIPLE = 16


def fill_canvas(scene: Scene, cutout: Image.Image, long_side: int | None, erode_px: int = 3,
                multiple: int = MULTIPLE) -> tuple[Image.Image, Image.Image, Box]:
    """(canvas RGB with the product placed on neutral grey, mask L: 255 = paint, 0 = keep, box)."""
    W, H = scene.canvas_size(long_side)
    W, H = max(multiple, W - W % multiple), max(multiple, H - H % multiple)
    product = crop_to_alpha(cutout)
    box = place(product.size, (W, H), scene.placement)
    layer = paste_layer((H, W), resize_product(product, box), box)
    grey = np.full((H, W, 3), 0.5, np.float32)
    canvas = over(grey, layer[..., :3], layer[..., 3])
    keep = (layer[..., 3] >= 0.999).astype(np.uint8)
    if erode_px > 0:
        # the model may repaint a thin rim, so it can blend the product into the scene
        keep = cv2.erode(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1,) * 2))
    mask = np.where(keep > 0, 0, 255).astype(np.uint8)
    return (Image.fromarray(np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)), Image.fromarray(mask, "L"), box)


def step_callback(steps: int, on_step: Callable[[int, int], None] | None,
                  cancelled: Callable[[], bool] | None):
    """A diffusers `callback_on_step_end`: progress after each step, and an interrupt
    (honoured before the next step) when the job was cancelled."""

    def step_end(pipeline, i, t, kwargs):
        if on_step:
            on_step(i + 1, steps)
        if cancelled and cancelled():
            pipeline._interrupt = True
        return kwargs

    return step_end
