"""Depth Anything V2 Small through transformers (`DepthAnythingForDepthEstimation` with
the repository's `DPTImageProcessor`): a backdrop photo's relative depth, read once when
the backdrop is added and kept with its scene (imaging.backdrop reads its surfaces,
horizon and scale from it). Apache-2.0, 25 M parameters: well under a second on a CPU.

The model gives relative *inverse* depth (disparity: large = near, unknown scale and
offset) at the processor's size (518 px on the short side, a multiple of 14); it is
resampled here to a coarse grid of the photo's aspect and stretched to 0..1, which is
all a surface finder needs and small enough to keep in the scene's file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from studio.models.devices import OnTorchDevice
from studio.models.holder import HOLDER
from studio.models.spec import ModelSpec

log = logging.getLogger(__name__)

# the repository holds config.json, model.safetensors and preprocessor_config.json (and
# its README): the loader reads those three
WEIGHTS = ModelSpec("depth-anything-v2-small", "depth-anything/Depth-Anything-V2-Small-hf", "depth",
                    ("config.json", "preprocessor_config.json", "model.safetensors"), 0.099, "Apache-2.0",
                    "https://www.apache.org/licenses/LICENSE-2.0", "yes",
                    "Commercial use is allowed; keep the licence notice.", 0.3, "Depth Anything V2 Small",
                    allow_patterns=("config.json", "preprocessor_config.json", "model.safetensors"))
GRID = 64  # the kept depth map's long side


class DepthAnything(OnTorchDevice):
    """Depth Anything V2 from the folder `path` (a snapshot or a models-folder copy)."""

    name = WEIGHTS.id
    title = WEIGHTS.title

    def __init__(self, path: Path | str, device: str | None = None):
        self.path, self._device = Path(path), device

    def _load(self):
        from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation

        processor = AutoImageProcessor.from_pretrained(str(self.path), local_files_only=True)
        model = DepthAnythingForDepthEstimation.from_pretrained(str(self.path), local_files_only=True)
        return processor, model.eval().to(self.device)

    def load(self):
        return HOLDER.get((str(self.path), "depth-anything", self.device), self._load)

    def disparity(self, image: Image.Image, grid: int = GRID) -> np.ndarray:
        """The photo's relative disparity (1 nearest, 0 farthest) on a grid `grid` px on
        its long side, the photo's aspect kept."""
        import torch
        import torch.nn.functional as F

        processor, model = self.load()
        inputs = processor(images=image.convert("RGB"), return_tensors="pt")
        with HOLDER.lock, torch.inference_mode():
            out = model(pixel_values=inputs["pixel_values"].to(self.device)).predicted_depth
        w, h = image.size
        size = (max(2, round(grid * h / max(w, h))), max(2, round(grid * w / max(w, h))))
        # the processor kept the aspect (to a multiple of 14): resampling to the photo's
        # aspect undoes only that rounding
        d = F.interpolate(out[:, None].float().cpu(), size=size, mode="bicubic", align_corners=False)[0, 0].numpy()
        lo, hi = np.percentile(d, (1, 99))
        if hi - lo <= 1e-3 * max(abs(float(hi)), 1e-6):  # the model sees no depth: a flat map, not its noise
            return np.zeros(d.shape, np.float32)
        return np.clip((d - lo) / max(float(hi - lo), 1e-6), 0, 1).astype(np.float32)


def installed() -> DepthAnything | None:
    """The depth model where its files are all present and transformers can run it, else
    None (backdrops are then read by the classical finder alone)."""
    from studio.models.weights import locate

    path = locate(WEIGHTS)
    if path is None:
        return None
    try:
        import transformers  # noqa: F401
    except ImportError:
        log.info("Depth Anything is installed but transformers is not: backdrops use the classical finder")
        return None
    return DepthAnything(path)


def depth_grid(image: Image.Image) -> tuple[list[list[float]], str] | None:
    """A backdrop photo's depth as a scene keeps it (rows of disparity, 3 decimals) and the
    model's id, or None without the model. A model that fails leaves the classical finder
    to do the work, and says so in the log."""
    model = installed()
    if model is None:
        return None
    try:
        d = model.disparity(image)
    except Exception as exc:  # noqa: BLE001 - a broken model must not lose the seller's backdrop
        log.warning("Depth Anything could not read the backdrop (%s): the classical surface finder is used", exc)
        return None
    return [[round(float(v), 3) for v in row] for row in d], WEIGHTS.id
