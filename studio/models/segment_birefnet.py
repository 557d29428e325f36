"""BiRefNet (MIT), the cut-out a seller may use: the general model (1024²) and the
lite one (a smaller backbone, faster on a CPU), loaded the same way as RMBG-2.0."""

from __future__ import annotations

from studio.models.base import ModelSpec
from studio.models.birefnet_family import BiRefNetFamily

_MIT = "https://github.com/ZhengPeng7/BiRefNet/blob/main/LICENSE"
_NOTE = ("The author notes that part of its training data (DIS5K) has a stricter, research-only licence: "
         "weigh that before relying on it commercially.")
_FILES = ("config.json", "model.safetensors", "birefnet.py", "BiRefNet_config.py")
# what the loader reads: the code, its config and the safetensors weights (not the
# pytorch_model.bin, the ONNX exports or the handler beside them)
PATTERNS = _FILES

WEIGHTS = ModelSpec("birefnet", "ZhengPeng7/BiRefNet", "segment", _FILES, 0.89, "MIT", _MIT, "yes", _NOTE, 2.5,
                    "BiRefNet", allow_patterns=PATTERNS)
LITE_WEIGHTS = ModelSpec("birefnet-lite", "ZhengPeng7/BiRefNet_lite", "segment", _FILES, 0.18, "MIT", _MIT, "yes",
                         _NOTE, 1.0, "BiRefNet lite", allow_patterns=PATTERNS)


class BiRefNetSegmenter(BiRefNetFamily):
    name = "birefnet"
    title = "BiRefNet"
    weights = WEIGHTS


class BiRefNetLiteSegmenter(BiRefNetFamily):
    name = "birefnet-lite"
    title = "BiRefNet lite"
    weights = LITE_WEIGHTS
