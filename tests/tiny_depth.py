"""A tiny random-config Depth Anything V2 built with transformers' own classes and saved
as the real `depth-anything/Depth-Anything-V2-Small-hf` holds it: `config.json` (a
`depth_anything` model over a `dinov2` backbone, patch 14, four stages fed to the neck,
relative depth), `model.safetensors`, and the repository's `preprocessor_config.json`
(a `DPTImageProcessor` that keeps the aspect at 518 px, a multiple of 14, ImageNet
normalisation, bicubic). The repository's README.md and .gitattributes are not read.

Its weights mean something: the head's last convolution is zero with a bias of
`FLAT` (in the weights file), so the model answers a flat disparity whatever the photo:
a loader that skipped the weights would answer random, uneven depth."""

from __future__ import annotations

import json
from pathlib import Path

REPO = "depth-anything/Depth-Anything-V2-Small-hf"
FLAT = 0.5
PREPROCESSOR = {
    "do_normalize": True, "do_pad": False, "do_rescale": True, "do_resize": True, "ensure_multiple_of": 14,
    "image_mean": [0.485, 0.456, 0.406], "image_processor_type": "DPTImageProcessor",
    "image_std": [0.229, 0.224, 0.225], "keep_aspect_ratio": True, "resample": 3,
    "rescale_factor": 0.00392156862745098, "size": {"height": 518, "width": 518}, "size_divisor": None,
}


def build_tiny_depth_anything(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(seed)
    backbone = Dinov2Config(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
                            image_size=518, patch_size=14, out_indices=[1, 2, 3, 4],
                            out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False,
                            architectures=["Dinov2Model"])
    config = DepthAnythingConfig(backbone_config=backbone, patch_size=14, reassemble_hidden_size=16,
                                 reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=[8, 8, 8, 8],
                                 fusion_hidden_size=8, head_hidden_size=4, head_in_index=-1,
                                 architectures=["DepthAnythingForDepthEstimation"])
    model = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():
        model.head.conv3.weight.zero_()
        model.head.conv3.bias.fill_(FLAT)
    folder = Path(folder)
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2))
    return folder
