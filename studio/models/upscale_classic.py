"""The upscaler that needs no weights: Lanczos resampling, then a mild detail pass
(an unsharp mask whose radius follows the enlargement), kept within the range of the
photo's pixels round each one so edges do not ring.
What `auto` uses when no upscaling model is installed, and says so."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image


class ClassicUpscaler:
    name = "classic"
    title = "Lanczos + detail (no model)"
    weights = None

    def upscale(self, image: Image.Image, size: tuple[int, int]) -> Image.Image:
        rgb = np.asarray(image.convert("RGB"))
        out = cv2.resize(rgb, size, interpolation=cv2.INTER_LANCZOS4)
        factor = max(size[0] / rgb.shape[1], size[1] / rgb.shape[0])
        if factor > 1.05:
            blur = cv2.GaussianBlur(out, (0, 0), 0.6 * factor)
            amount = min(0.6, 0.25 * factor)
            out = cv2.addWeighted(out, 1 + amount, blur, -amount, 0)
            # no value beyond what the photo holds round each pixel: Lanczos' lobes and the
            # unsharp mask would otherwise draw a light rim beside every dark line (a label's
            # print) and a dark one beside every light line
            k = np.ones((3, 3), np.uint8)
            lo = cv2.resize(cv2.erode(rgb, k), size, interpolation=cv2.INTER_LINEAR)
            hi = cv2.resize(cv2.dilate(rgb, k), size, interpolation=cv2.INTER_LINEAR)
            out = np.minimum(np.maximum(out, lo), hi)
        return Image.fromarray(out)
