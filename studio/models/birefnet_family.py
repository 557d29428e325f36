"""What the BiRefNet-family cut-out models share (BRIA's RMBG-2.0 is a BiRefNet):
loading their remote code from a local folder, their pre- and post-processing, and
an honest confidence.

Why not `AutoModelForImageSegmentation.from_pretrained`: the repositories' code
predates transformers 5. Its class takes `bb_pretrained` first and `config` second,
never calls `post_init()` (transformers 5 reads `all_tied_weights_keys`, which only
`post_init` sets), replaces `self.config` with a plain settings object with no
`model_type`, and calls `.item()` on tensors while constructing (transformers 5
constructs on the meta device, where that fails). So the loader does the steps
itself: the config and model classes are resolved from the folder's own code (local
files only), the model is constructed with the config by keyword, `model.safetensors`
is loaded with a strict state-dict load (every tensor must match), then moved and
cast. Checked with transformers 4.45 – 5.24.

The models' code imports kornia, timm and einops at module level: they are Studio
dependencies, and a missing one is named in the error.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
from PIL import Image

from studio.models.base import BackendUnavailable, ModelSpec, Segmentation
from studio.models.devices import OnTorchDevice
from studio.models.holder import HOLDER

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODEL_CLASS_KEY = "AutoModelForImageSegmentation"


class ModelBroken(BackendUnavailable):
    """The model's folder is there but does not load; the message says why and what to do."""


def load_remote_birefnet(path: Path, title: str):
    """The model's own class, built from the folder's config and weights, in eval mode
    on the CPU in fp32. Raises ModelBroken with a sentence when the folder is not a
    loadable model (missing files, code that needs a package, weights that do not fit)."""
    import json

    import torch
    from safetensors.torch import load_file
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    fix = f"re-download it (studio models download) or check the folder {path}"
    try:
        auto_map = json.loads((path / "config.json").read_text(encoding="utf-8")).get("auto_map") or {}
        model_ref, config_ref = auto_map[MODEL_CLASS_KEY], auto_map["AutoConfig"]
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise ModelBroken(f"{title}: config.json is missing or has no auto_map for its code ({exc}); {fix}") from exc
    try:
        config_cls = get_class_from_dynamic_module(config_ref, str(path), local_files_only=True)
        model_cls = get_class_from_dynamic_module(model_ref, str(path), local_files_only=True)
    except ImportError as exc:  # transformers names the packages the code imports but are missing
        raise ModelBroken(f"{title}: its code cannot be imported: {exc}. Reinstall Studio "
                          "(`python launcher.py setup`), which installs kornia, timm and einops") from exc
    except (OSError, SyntaxError, AttributeError, ValueError) as exc:
        raise ModelBroken(f"{title}: its code ({model_ref}) cannot be loaded ({type(exc).__name__}: {exc}); "
                          f"{fix}") from exc
    try:
        config = config_cls.from_pretrained(str(path), local_files_only=True)
        # by keyword: the real class takes `bb_pretrained` first; the config says not to fetch a backbone
        model = model_cls(config=config)
    except Exception as exc:  # remote code: anything can go wrong in a constructor
        raise ModelBroken(f"{title}: its code fails to build the model ({type(exc).__name__}: {exc}); "
                          f"{fix}") from exc
    weights = path / "model.safetensors"
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error type for a damaged file
        raise ModelBroken(f"{title}: {weights.name} cannot be read ({exc}); {fix}") from exc
    try:
        torch.nn.Module.load_state_dict(model, state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:300]
        raise ModelBroken(f"{title}: {weights.name} does not fit its code ({first}); {fix}") from exc
    return torch.nn.Module.eval(model)


def run_model(model, x, autocast_dtype=None):
    """The model's forward on `x`, under autocast to `autocast_dtype` where one is given."""
    import torch

    if autocast_dtype is None:
        return model(x)
    with torch.autocast(x.device.type, dtype=autocast_dtype):
        return model(x)


class BiRefNetFamily(OnTorchDevice):
    """A cut-out model of the BiRefNet family: 1024² input, ImageNet normalisation, the
    last of the logit maps it returns at full resolution, sigmoid, resized back to the
    photo. fp32 weights; fp16 autocast on CUDA. One subclass per model (its weights, its name)."""

    name: ClassVar[str]
    title: ClassVar[str]
    weights: ClassVar[ModelSpec]
    input_size: ClassVar[tuple[int, int]] = (1024, 1024)

    def __init__(self, path: Path | str, device: str | None = None):
        self.path = Path(path)
        self._device = device

    @property
    def autocast_dtype(self):
        """The precision it computes in on this device (None: fp32). The weights stay
        fp32: RMBG-2.0's Swin code builds its window mask in fp32, and after `.half()`
        the attention matmul fails on mismatched dtypes; autocast casts each op instead."""
        import torch

        return torch.float16 if self.device == "cuda" else None

    def _load_model(self):
        import torch

        model = load_remote_birefnet(self.path, self.title)
        torch.set_float32_matmul_precision("high")
        # torch's own `to`: transformers' override reads the config, which this code replaced
        return torch.nn.Module.to(model, self.device, dtype=torch.float32)

    def _key(self) -> tuple:
        return (str(self.path), self.name, self.device)

    def load(self):
        """The model, loaded once per process by the model holder."""
        return HOLDER.get(self._key(), self._load_model)

    def unload(self) -> None:
        HOLDER.release(self._key())

    def preprocess(self, image: Image.Image):
        """PIL image → (1, 3, 1024, 1024) tensor, as the model card's transforms do."""
        import torch

        rgb = image.convert("RGB").resize(self.input_size, Image.Resampling.BILINEAR)
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
        x = self.preprocess(image).to(self.device)
        with HOLDER.lock, torch.inference_mode():
            preds = run_model(model, x, self.autocast_dtype)
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
