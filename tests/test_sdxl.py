"""The lighter generator (SDXL inpainting) through the registry, the shared model
holder and the whole shoot, with a tiny pipeline of the real classes (2 steps, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from studio.app.context import open_store, run_jobs  # noqa: E402
from studio.app.shoot import submit_shoot  # noqa: E402
from studio.imaging.compose import Box, crop_to_alpha, eroded, paste_layer, resize_product  # noqa: E402
from studio.models.devices import Card  # noqa: E402
from studio.models.generate_sdxl import sdxl_plan  # noqa: E402
from studio.models.holder import HOLDER  # noqa: E402
from studio.models.registry import locate  # noqa: E402
from studio.pipeline import jobs  # noqa: E402
from studio.pipeline.queries import stage_output  # noqa: E402
from tests.synth import make_case  # noqa: E402
from tests.tiny_flux import build_tiny_sdxl_inpaint  # noqa: E402


def test_sdxl_plan_by_card():
    assert sdxl_plan(Card("8 GB", 8, 7, (8, 6))).offload == "model"
    assert sdxl_plan(Card("16 GB", 16, 15, (8, 9))).id == "sdxl-resident"
    assert sdxl_plan(Card("T4", 16, 15, (7, 5))).precision == "fp16"
    assert sdxl_plan(None).precision == "fp32"


def test_whole_shoot_with_sdxl_keeps_product_pixels(studio_home, tmp_path):
    folder = build_tiny_sdxl_inpaint(studio_home / "models" / "diffusers--stable-diffusion-xl-1.0-inpainting-0.1")
    assert locate("sdxl-inpaint") == folder
    photo, _ = make_case("green-mug-on-sheet")
    Image.fromarray(photo).save(tmp_path / "mug.png")
    store = open_store()
    try:
        job = submit_shoot(store, tmp_path / "mug.png", scene="oak-window", variants=1, engine="sdxl",
                           preset="instagram", seed=9, long_side=64, steps=2)
        run_jobs([job], timeout=600)
        j = jobs.get_job(store, job)
        assert j["status"] == "done", j["error"]
        assert HOLDER.big_key is not None and HOLDER.big_key[1] == "SDXL inpainting"  # exactly this one pipeline
        gen = stage_output(store, job, "generate[0]")
        assert gen["seed"] == 9 and gen["image"].size == (51, 64)  # the instagram frame exactly (painted at 48×64)
        box = Box(**gen["box"])
        cut = stage_output(store, job, "enlarge")["cutout"]  # the product as placed
        out = np.asarray(stage_output(store, job, "preserve[0]")["image"])
        layer = paste_layer(out.shape[:2], resize_product(crop_to_alpha(cut), box), box)
        inner = eroded(layer[..., 3], 2)
        expected = np.clip(layer[..., :3] * 255 + 0.5, 0, 255).astype(np.uint8)
        assert inner.sum() > 20 and np.array_equal(out[inner], expected[inner])
    finally:
        HOLDER.release()
    assert HOLDER.big_key is None
