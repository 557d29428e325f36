"""Run inside the oldest versions pyproject allows (tests/test_min_versions.py puts them
first on the path): import every backend module, and load and run the real loaders on
tiny models built with the same classes. Prints the versions it ran with."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
from packaging.version import Version
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
home = Path(tempfile.mkdtemp())
os.environ.update(STUDIO_HOME=str(home / "studio"), HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(home / "hub"))

for name in sys.argv[1:]:  # the versions the caller pinned must be what is imported
    dist, _, wanted = name.partition("==")
    assert Version(version(dist)) == Version(wanted), (dist, version(dist), wanted)

import studio.models  # noqa: E402

for mod in pkgutil.iter_modules(studio.models.__path__):
    importlib.import_module(f"studio.models.{mod.name}")

from studio.config import load_settings  # noqa: E402
from studio.models import registry, score_clip  # noqa: E402
from studio.models.base import GenerateRequest  # noqa: E402
from studio.models.generate_klein import KleinGenerator  # noqa: E402
from studio.models.inpaint_common import fill_canvas  # noqa: E402
from studio.scenes import load_scenes  # noqa: E402
from tests.standin_birefnet import build_standin, iou, red_on_blue  # noqa: E402
from tests.tiny_clip import build_tiny_clip  # noqa: E402
from tests.tiny_flux import build_tiny_flux2_klein  # noqa: E402

models = load_settings().models_path()
# klein: the loader, the inpaint pipeline, a step on the CPU
build_tiny_flux2_klein(models / "black-forest-labs--FLUX.2-klein-4B")
assert registry.locate("flux2-klein-4b") is not None
image, mask = red_on_blue()
cut = Image.fromarray(np.dstack([np.asarray(image), mask.astype(np.uint8) * 255]), "RGBA")
scene = load_scenes()["marble"]
canvas, paint, box = fill_canvas(scene, cut, 64)
out = KleinGenerator().generate(GenerateRequest(scene, cut, "a red box", seed=1, steps=1, long_side=64,
                                                max_sequence_length=32, canvas=canvas, mask=paint, box=box))
assert out.image.size == canvas.size
# CLIP through open_clip's local-dir schema
build_tiny_clip(models)
scorer = score_clip.get_scorer("clip-vit-b-32")
assert scorer.embed_images([image]).shape[0] == 1
# a BiRefNet-family model through our loader, its remote code importing kornia and timm
build_standin(models / "ZhengPeng7--BiRefNet_lite", "ZhengPeng7/BiRefNet_lite")
seg = registry.pick_segmenter("birefnet-lite")
assert iou(seg.segment(image).alpha > 0.5, mask) > 0.9
print("ran with", ", ".join(f"{d} {version(d)}" for d in ("diffusers", "transformers", "huggingface_hub",
                                                          "open_clip_torch", "accelerate", "timm", "kornia")))
