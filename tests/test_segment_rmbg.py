"""RMBG-2.0's loading path and our pre/post-processing, with a stand-in BiRefNet that
has the real model's input/output contract (the real weights and code can't be
fetched here). The stand-in is remote code in a folder laid out like briaai/RMBG-2.0,
loaded through our registry and AutoModelForImageSegmentation(trust_remote_code)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from studio.models import registry  # noqa: E402
from studio.models.segment_rmbg import RMBGSegmenter  # noqa: E402

CONFIG_PY = '''
from transformers import PretrainedConfig


class BiRefNetConfig(PretrainedConfig):
    model_type = "SegformerForSemanticSegmentation"

    def __init__(self, bb_pretrained=False, **kwargs):
        self.bb_pretrained = bb_pretrained
        super().__init__(**kwargs)
'''

MODEL_PY = '''
import torch
from torch import nn
from transformers import PreTrainedModel

from .BiRefNet_config import BiRefNetConfig


class BiRefNet(PreTrainedModel):
    """Stand-in: BiRefNet's contract (1x3xHxW normalised input -> list of logit maps,
    the last at full resolution), with a 1x1 conv instead of the real network."""

    config_class = BiRefNetConfig

    def __init__(self, config):
        super().__init__(config)
        self.head = nn.Conv2d(3, 1, 1)
        self.post_init()

    def _init_weights(self, module):
        pass

    def forward(self, x):
        low = nn.functional.avg_pool2d(x, 4)
        return [self.head(low), self.head(x)]
'''


def build_standin_repo(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "BiRefNet_config.py").write_text(CONFIG_PY)
    (folder / "birefnet.py").write_text(MODEL_PY)
    pkg = f"standin_{abs(hash(str(folder)))}"
    spec = importlib.util.spec_from_file_location(pkg, folder / "__init__.py", submodule_search_locations=[str(folder)])
    (folder / "__init__.py").write_text("")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[pkg] = mod
    cfg_mod = importlib.import_module(f"{pkg}.BiRefNet_config")
    model_mod = importlib.import_module(f"{pkg}.birefnet")
    config = cfg_mod.BiRefNetConfig()
    config.auto_map = {"AutoConfig": "BiRefNet_config.BiRefNetConfig",
                       "AutoModelForImageSegmentation": "birefnet.BiRefNet"}
    model = model_mod.BiRefNet(config)
    with torch.no_grad():  # logit = 8 * (red - blue) of the normalised input
        model.head.weight[:] = torch.tensor([8.0, 0.0, -8.0]).view(1, 3, 1, 1)
        model.head.bias.zero_()
    model.save_pretrained(folder)
    (folder / "__init__.py").unlink()


def red_on_blue(w: int = 300, h: int = 200) -> tuple[Image.Image, np.ndarray]:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:] = (20, 40, 200)
    mask = np.zeros((h, w), bool)
    mask[50:150, 100:220] = True
    arr[mask] = (220, 40, 20)
    return Image.fromarray(arr), mask


def test_preprocess_matches_the_model_card():
    seg = RMBGSegmenter("unused", device="cpu")
    x = seg.preprocess(Image.new("RGB", (300, 200), (255, 0, 128)))
    assert tuple(x.shape) == (1, 3, 1024, 1024) and x.dtype == torch.float32
    expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    assert torch.allclose(x[0, :, 500, 500], torch.tensor(expected), atol=1e-4)


def test_postprocess_resizes_sigmoid_back_to_photo_size():
    logits = torch.full((1, 1, 1024, 1024), -10.0)
    logits[..., :, 512:] = 10.0
    alpha = RMBGSegmenter.postprocess(logits, (300, 200))
    assert alpha.shape == (200, 300) and alpha.dtype == np.float32
    assert alpha[:, :140].max() < 0.01 and alpha[:, 160:].min() > 0.99


def test_loads_from_models_dir_and_segments(studio_home):
    repo = studio_home / "models" / "briaai--RMBG-2.0"
    build_standin_repo(repo)
    seg = registry.pick_segmenter("auto")
    assert isinstance(seg, RMBGSegmenter) and seg.path == repo
    image, mask = red_on_blue()
    result = seg.segment(image)
    assert result.backend == "rmbg-2.0" and result.alpha.shape == (200, 300)
    assert seg.device == "cpu" and next(seg.load().parameters()).dtype == torch.float32
    pred = result.alpha > 0.5
    iou = (pred & mask).sum() / (pred | mask).sum()
    assert iou > 0.95 and result.confidence > 0.8


def test_found_in_the_hugging_face_cache(tmp_path, monkeypatch):
    hub = tmp_path / "hf" / "hub"
    snap = hub / "models--briaai--RMBG-2.0" / "snapshots" / "0123456789abcdef"
    build_standin_repo(snap)
    (hub / "models--briaai--RMBG-2.0" / "refs").mkdir()
    (hub / "models--briaai--RMBG-2.0" / "refs" / "main").write_text("0123456789abcdef")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(hub))
    assert registry.locate("rmbg-2.0") == snap


def test_missing_model_falls_back_or_says_how_to_install():
    assert registry.locate("rmbg-2.0") is None
    assert registry.pick_segmenter("auto").name == "classic"
    with pytest.raises(registry.BackendUnavailable, match="briaai/RMBG-2.0"):
        registry.pick_segmenter("rmbg")
