"""RMBG-2.0 (BRIA's BiRefNet), the model card's exact pre- and post-processing. Its
licence is non-commercial: under `usage: commercial` `auto` never picks it."""

from __future__ import annotations

from studio.models.base import ModelSpec
from studio.models.birefnet_family import BiRefNetFamily

WEIGHTS = ModelSpec(
    "rmbg-2.0", "briaai/RMBG-2.0", "segment", ("config.json", "model.safetensors", "birefnet.py",
                                               "BiRefNet_config.py"), 0.89,
    "CC BY-NC 4.0", "https://creativecommons.org/licenses/by-nc/4.0/", "paid-licence",
    "BRIA: commercial use needs a commercial agreement with BRIA (bria.ai); accept the licence on the model "
    "page to download it.", 2.5, "RMBG-2.0",
    # not pytorch_model.bin or the eight ONNX exports in onnx/
    allow_patterns=("config.json", "model.safetensors", "birefnet.py", "BiRefNet_config.py"))


class RMBGSegmenter(BiRefNetFamily):
    name = "rmbg-2.0"
    title = "RMBG-2.0"
    weights = WEIGHTS
