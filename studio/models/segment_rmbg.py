"""RMBG-2.0 (BRIA's BiRefNet) through transformers, with its model card's exact
pre- and post-processing: 1024×1024 resize, ImageNet normalisation, sigmoid of the
last output, resized back to the photo's size. fp16 on CUDA, fp32 elsewhere.

The model's code ships with its weights (`trust_remote_code`), so it is loaded only
from a local folder the user installed; nothing is fetched.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from studio.models.base import ModelSpec, Segmentation
from studio.models.holder import HOLDER

INPUT_SIZE = (1024, 1024)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


WEIGHTS = ModelSpec("rmbg-2.0", "briaai/RMBG-2.0", "segment", ("config.json", "model.safetensors"), 0.9,
                    "CC BY-NC 4.0 (non-commercial; BRIA offers a commercial licence)")


class RMBGSegmenter:
    name = "rmbg-2.0"
    weights = WEIGHTS

    def __init__(self, path: Path | str, device: str | None = None):
        self.path = Path(path)
        self._device = device

    @property
    def device(self) -> str:
        if self._device is None:
            from studio.models.devices import torch_device

            self._device = torch_device()
        return self._device

    @property
    def dtype(self):
        import torch

        return torch.float16 if self.device == "cuda" else torch.float32

    def _load_model(self):
        import torch
        from transformers import AutoModelForImageSegmentation

        model = AutoModelForImageSegmentation.from_pretrained(
            str(self.path), trust_remote_code=True, local_files_only=True)
        torch.set_float32_matmul_precision("high")
        return model.to(self.device, dtype=self.dtype).eval()

    def _key(self) -> tuple:
        return (str(self.path), "rmbg", self.device)

    def load(self):
        """The model, loaded once per process by the model holder."""
        return HOLDER.get(self._key(), self._load_model)

    def unload(self) -> None:
        HOLDER.release(self._key())

    def preprocess(self, image: Image.Image):
        """PIL image → (1, 3, 1024, 1024) tensor, as the model card's transforms do."""
        import torch

        rgb = image.convert("RGB").resize(INPUT_SIZE, Image.Resampling.BILINEAR)
        x = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        return ((x - mean) / std).unsqueeze(0)

    @staticmethod
    def postprocess(logits, size: tuple[int, int]) -> np.ndarray:
        """Last output's logits (1, 1, h, w) → float32 alpha at `size` (W, H)."""
        prob = logits.float().sigmoid()[0, 0].cpu().numpy()
        alpha = Image.fromarray(prob.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR)
        return np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)

    def segment(self, image: Image.Image) -> Segmentation:
        import torch

        model = self.load()
        x = self.preprocess(image).to(self.device, dtype=self.dtype)
        with torch.inference_mode():
            preds = model(x)
        logits = preds[-1] if isinstance(preds, list | tuple) else preds
        alpha = self.postprocess(logits, image.size)
        # Confidence: how decided the matte is. Undecided pixels (0.1..0.9) per boundary
        # pixel is the width of the soft edge: a crisp 1-3 px is sure, 15 px is not.
        fg = alpha > 0.5
        undecided = int(((alpha > 0.1) & (alpha < 0.9)).sum())
        fg8 = fg.astype(np.uint8)
        boundary = int((fg8 - cv2.erode(fg8, np.ones((3, 3), np.uint8))).sum())
        width = undecided / max(boundary, 1)
        conf = float(np.clip(1.0 - (width - 3.0) / 12.0, 0.0, 1.0)) if fg.any() else 0.0
        notes = [] if fg.any() else ["no product found: paint it in with the touch-up brush"]
        return Segmentation(alpha=alpha, confidence=round(conf, 3), backend=self.name, notes=notes)
