"""Stand-ins for the BiRefNet-family model repositories (briaai/RMBG-2.0,
ZhengPeng7/BiRefNet, ZhengPeng7/BiRefNet_lite), as unkind to a loader as the real
downloads, checked against their public code (written here, not copied):

- `BiRefNet_config.py`: a `PretrainedConfig` with `model_type` "SegformerForSemanticSegmentation"
  (not a type transformers knows) and a `bb_pretrained` argument;
- `birefnet.py`: kornia and timm imported at module level (and einops, in BiRefNet's
  newer code), a relative import of the config module, a plain settings class `Config`;
  `BiRefNet(PreTrainedModel)` whose constructor takes `bb_pretrained` first and `config`
  second, reads `bb_pretrained` from the config, replaces `self.config` with a `Config()`
  (no `model_type`), never calls `post_init()`, and calls `.item()` on a tensor while
  building (the stochastic-depth rates of the Swin backbone: impossible on the meta
  device transformers 5 builds on); in eval mode it returns a list of logit maps, the
  last at the input's full resolution (RMBG-2.0's older copy returns four, BiRefNet's
  newer one only the last); in training, `[maps, [class predictions]]`; the Swin
  backbone's shifted-window attention mask is made in fp32 whatever the weights' dtype,
  so the model run after `.half()` fails in its attention matmul (RMBG-2.0's copy of
  the code; BiRefNet's own repository fixed that line in 2024, the stand-in keeps it for all);
- `config.json` with the `auto_map` that names both, and `model.safetensors`.

Its weights mean something: three 1×1 convolutions whose constants (in the weights
file) make the logit 6 × the ImageNet-normalised red channel. A red product on a blue
background comes out right only if the loader loads the weights, normalises the input
and resizes the map back to the photo; skip any of them and the mask is visibly wrong.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

CONFIG_PY = '''
from transformers import PretrainedConfig


class BiRefNetConfig(PretrainedConfig):
    model_type = "SegformerForSemanticSegmentation"

    def __init__(self, bb_pretrained=False, **kwargs):
        self.bb_pretrained = bb_pretrained
        super().__init__(**kwargs)
'''

MODEL_PY = '''
import math

import kornia
from kornia.filters import laplacian
{einops}
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.layers import to_2tuple
from transformers import PreTrainedModel

from .BiRefNet_config import BiRefNetConfig


class Config:
    """Settings the model reads, as a plain object (the real code keeps dozens)."""

    def __init__(self):
        self.size = to_2tuple(1024)
        self.ms_supervision = True
        self.out_ref = True
        self.eval_maps = {eval_maps}
        self.drop_path_rate = 0.1
        self.depths = [2, 2, 18, 2]


class BiRefNet(PreTrainedModel):
    config_class = BiRefNetConfig

    def __init__(self, bb_pretrained=True, config=BiRefNetConfig()):
        super(BiRefNet, self).__init__(config)
        bb_pretrained = config.bb_pretrained
        self.config = Config()
        if bb_pretrained:
            raise RuntimeError("would fetch the backbone's ImageNet weights from the internet")
        # the backbone's stochastic depth rates, as the Swin backbone computes them
        self.dpr = [x.item() for x in torch.linspace(0, self.config.drop_path_rate, sum(self.config.depths))]
        self.bb = nn.Conv2d(3, 4, 1)
        self.squeeze_module = nn.Conv2d(4, 4, 1)
        self.conv_out1 = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        feats = self.squeeze_module(self.bb(x))
        # the Swin backbone's shifted-window attention: its mask is built in fp32 whatever
        # the weights are, so after `.half()` the attention matmul meets fp32 and fp16
        tokens = feats.flatten(2)
        attn = (tokens @ tokens.transpose(1, 2)) / tokens.shape[-1]
        attn = (attn + torch.zeros((1, 1, 1), device=x.device)).softmax(-1)
        feats = feats + 0 * torch.matmul(attn, tokens).view_as(feats)
        outs = [self.conv_out1(F.avg_pool2d(feats, 2 ** k)) for k in range(self.config.eval_maps - 1, 0, -1)]
        outs.append(self.conv_out1(feats))
        if self.training and self.config.out_ref:
            _ = laplacian(torch.mean(x, dim=1, keepdim=True), kernel_size=5)
        return [outs, [None]] if self.training else outs
'''

FLAVOURS = {
    # repo id: (name in the cache, eval maps, einops imported)
    "briaai/RMBG-2.0": (4, False),
    "ZhengPeng7/BiRefNet": (1, True),
    "ZhengPeng7/BiRefNet_lite": (1, True),
}


def _import_folder(folder: Path):
    """The folder's modules as a package (so its relative import works), fresh each time."""
    pkg = f"standin_{abs(hash(str(folder)))}"
    for name in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
        del sys.modules[name]
    (folder / "__init__.py").write_text("")
    spec = importlib.util.spec_from_file_location(pkg, folder / "__init__.py", submodule_search_locations=[str(folder)])
    sys.modules[pkg] = importlib.util.module_from_spec(spec)
    try:
        return importlib.import_module(f"{pkg}.BiRefNet_config"), importlib.import_module(f"{pkg}.birefnet")
    finally:
        (folder / "__init__.py").unlink()


def build_standin(folder: Path, repo_id: str = "briaai/RMBG-2.0") -> Path:
    import torch
    from safetensors.torch import save_file

    maps, einops = FLAVOURS[repo_id]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "BiRefNet_config.py").write_text(CONFIG_PY)
    (folder / "birefnet.py").write_text(MODEL_PY.format(einops="from einops import rearrange" if einops else "",
                                                        eval_maps=maps))
    cfg_mod, model_mod = _import_folder(folder)
    model = model_mod.BiRefNet(config=cfg_mod.BiRefNetConfig())
    with torch.no_grad():  # the rule: logit = 6 × (normalised red)
        model.bb.weight.zero_()
        model.bb.bias.zero_()
        model.bb.weight[0, 0, 0, 0] = 1.0
        model.squeeze_module.weight.copy_(torch.eye(4).view(4, 4, 1, 1))
        model.squeeze_module.bias.zero_()
        model.conv_out1.weight.zero_()
        model.conv_out1.weight[0, 0, 0, 0] = 6.0
        model.conv_out1.bias.zero_()
    save_file({k: v.contiguous() for k, v in torch.nn.Module.state_dict(model).items()},
              str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({
        "_name_or_path": repo_id, "architectures": ["BiRefNet"],
        "auto_map": {"AutoConfig": "BiRefNet_config.BiRefNetConfig",
                     "AutoModelForImageSegmentation": "birefnet.BiRefNet"},
        "bb_pretrained": False, "model_type": "SegformerForSemanticSegmentation", "torch_dtype": "float32",
        "transformers_version": "4.42.4"}, indent=2))
    return folder


def plant_in_hf_cache(hub: Path, repo_id: str, revision: str = "0123456789abcdef") -> Path:
    """The stand-in where huggingface_hub leaves a download (snapshots/<rev>, refs/main)."""
    base = hub / f"models--{repo_id.replace('/', '--')}"
    snap = build_standin(base / "snapshots" / revision, repo_id)
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(revision)
    return snap


def red_on_blue(w: int = 300, h: int = 200) -> tuple[Image.Image, np.ndarray]:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:] = (20, 40, 200)
    mask = np.zeros((h, w), bool)
    mask[50:150, 100:220] = True
    arr[mask] = (220, 40, 20)
    return Image.fromarray(arr), mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))
