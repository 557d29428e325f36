"""Swin2SR super-resolution through transformers (`Swin2SRForImageSuperResolution`),
Apache-2.0 checkpoints from CAIDAS (University of Würzburg): ×2 for classical images,
×4 for real-world photos, ×4 for compressed JPEGs (what phones save).

The image goes through in overlapping tiles, so any size fits in memory; the tiles are
blended with feathered weights (no seams). The model's own factor is applied once; the
rest of the way to the size asked for is plain resampling. Weights stay fp32 (a small
model); on the GPU where there is one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from studio.models.devices import OnTorchDevice
from studio.models.holder import HOLDER
from studio.models.spec import ModelSpec

_APACHE = "https://www.apache.org/licenses/LICENSE-2.0"
_NOTE = "Commercial use is allowed; keep the licence notice."
# the ×2 repository has model.safetensors; the ×4 ones hold only pytorch_model.bin on
# their main branch (their safetensors copies sit in unmerged pull requests)
_FILES = ("config.json", "model.safetensors|pytorch_model.bin")  # what from_pretrained reads

X2 = ModelSpec("swin2sr-x2", "caidas/swin2SR-classical-sr-x2-64", "upscale", _FILES, 0.049, "Apache-2.0", _APACHE,
               "yes", _NOTE, 0.5, "Swin2SR ×2 (classical)",
               allow_patterns=("config.json", "preprocessor_config.json", "model.safetensors"))
X4 = ModelSpec("swin2sr-x4", "caidas/swin2SR-realworld-sr-x4-64-bsrgan-psnr", "upscale", _FILES, 0.049, "Apache-2.0",
               _APACHE, "yes", _NOTE, 0.5, "Swin2SR ×4 (real-world photos)",
               allow_patterns=("config.json", "preprocessor_config.json", "pytorch_model.bin"))
X4_JPEG = ModelSpec("swin2sr-x4-jpeg", "caidas/swin2SR-compressed-sr-x4-48", "upscale", _FILES, 0.049, "Apache-2.0",
                    _APACHE, "yes", _NOTE, 0.5, "Swin2SR ×4 (compressed JPEG)",
                    allow_patterns=("config.json", "preprocessor_config.json", "pytorch_model.bin"))
WEIGHTS = (X2, X4, X4_JPEG)

TILE = 256  # input pixels per tile side
OVERLAP = 16


class Swin2SRUpscaler(OnTorchDevice):
    """One Swin2SR checkpoint. `spec` says which; `path` is its folder."""

    def __init__(self, spec: ModelSpec, path: Path | str, device: str | None = None):
        self.spec, self.path, self._device = spec, Path(path), device
        self.name = spec.id
        self.title = spec.title

    def _load(self):
        from transformers import Swin2SRForImageSuperResolution

        model = Swin2SRForImageSuperResolution.from_pretrained(str(self.path), local_files_only=True)
        return model.eval().to(self.device)

    def load(self):
        return HOLDER.get((str(self.path), "swin2sr", self.device), self._load)

    def enlarge(self, rgb: np.ndarray) -> np.ndarray:
        """The model's own factor, tile by tile: (H, W, 3) uint8 → (sH, sW, 3) uint8."""
        import torch

        model = self.load()
        s = int(model.config.upscale)
        h, w = rgb.shape[:2]
        x = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        out = torch.zeros((3, h * s, w * s))
        weight = torch.zeros((1, h * s, w * s))
        step = TILE - 2 * OVERLAP
        ys = list(range(0, max(1, h - 2 * OVERLAP), step)) or [0]
        xs = list(range(0, max(1, w - 2 * OVERLAP), step)) or [0]
        for y0 in ys:
            for x0 in xs:
                y1, x1 = min(h, y0 + TILE), min(w, x0 + TILE)
                y0c, x0c = max(0, y1 - TILE), max(0, x1 - TILE)
                rec = self._run(model, x[:, :, y0c:y1, x0c:x1])
                th, tw = (y1 - y0c) * s, (x1 - x0c) * s
                feather = _feather(th, tw, OVERLAP * s)
                out[:, y0c * s:y1 * s, x0c * s:x1 * s] += rec * feather
                weight[:, y0c * s:y1 * s, x0c * s:x1 * s] += feather
        out = out / weight.clamp_min(1e-6)
        return (out.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)

    def _run(self, model, tile):
        """The model on one tile, padded (reflected) to its window size as its image
        processor would (the model itself fails on other sizes), the output cropped back."""
        import torch
        import torch.nn.functional as F

        win = int(model.config.window_size)
        h, w = tile.shape[-2:]
        ph, pw = -h % win, -w % win
        if ph or pw:
            tile = F.pad(tile, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        with HOLDER.lock, torch.inference_mode():
            rec = model(pixel_values=tile.to(self.device)).reconstruction[0].float().clamp(0, 1).cpu()
        s = int(model.config.upscale)
        return rec[:, :h * s, :w * s]

    def upscale(self, image: Image.Image, size: tuple[int, int]) -> Image.Image:
        import cv2

        rgb = np.asarray(image.convert("RGB"))
        big = self.enlarge(rgb)
        interp = cv2.INTER_AREA if size[0] <= big.shape[1] else cv2.INTER_LANCZOS4
        return Image.fromarray(cv2.resize(big, size, interpolation=interp))


def _feather(h: int, w: int, ramp: int):
    """Weights rising from the tile's edges over `ramp` pixels (never zero)."""
    import torch

    def ramp1d(n: int):
        r = torch.ones(n)
        k = min(ramp, n // 2)
        if k > 0:
            edge = torch.linspace(0.05, 1.0, k)
            r[:k], r[n - k:] = edge, edge.flip(0)
        return r

    return (ramp1d(h)[:, None] * ramp1d(w)[None, :])[None]
