"""FLUX.1 Fill [dev] through our registry, loader and the whole shoot pipeline,
with a tiny random-config pipeline built from the real classes (2 steps, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from studio.app.context import open_store, run_jobs  # noqa: E402
from studio.app.shoot import submit_shoot  # noqa: E402
from studio.imaging.compose import Box, crop_to_alpha, eroded, paste_layer, resize_product  # noqa: E402
from studio.models import generate_flux  # noqa: E402
from studio.models.base import GenerateRequest  # noqa: E402
from studio.models.devices import CPU_PLAN  # noqa: E402
from studio.models.holder import HOLDER  # noqa: E402
from studio.models.inpaint_common import fill_canvas  # noqa: E402
from studio.models.registry import locate  # noqa: E402
from studio.pipeline import jobs  # noqa: E402
from studio.pipeline.queries import stage_output  # noqa: E402
from studio.scenes import load_scenes  # noqa: E402
from tests.synth import make_case  # noqa: E402
from tests.tiny_flux import build_tiny_flux_fill  # noqa: E402


@pytest.fixture
def tiny_flux(studio_home):
    folder = build_tiny_flux_fill(studio_home / "models" / "black-forest-labs--FLUX.1-Fill-dev")
    yield folder
    HOLDER.release()


def flux_call(path, plan, device, cut, prompt, seed, steps, on_step=None, cancelled=None):
    """Our loader and our pipeline call, on the marble scene at 64 px, with this plan."""
    canvas, mask, box = fill_canvas(load_scenes()["marble"], cut, 64)
    request = GenerateRequest(load_scenes()["marble"], cut, prompt, seed=seed, steps=steps, long_side=64,
                              max_sequence_length=16, canvas=canvas, mask=mask, box=box, on_progress=on_step,
                              cancelled=cancelled)
    gen = generate_flux.FluxFillGenerator()
    pipe = gen.load(path, plan, device)
    return gen._image(gen.run(pipe, request, steps, 30.0), plan, None).resize(canvas.size)


def test_saved_in_the_real_layout_and_found_by_the_registry(tiny_flux):
    assert locate("flux-fill-dev") == tiny_flux
    for sub in ("transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler"):
        assert (tiny_flux / sub).is_dir()


def test_fill_canvas_masks_everything_but_the_eroded_product():
    photo, truth = make_case("red-bottle-on-gradient")
    cut = Image.fromarray(np.dstack([photo, truth.astype(np.uint8) * 255]), "RGBA")
    canvas, mask, box = fill_canvas(load_scenes()["marble"], cut, 512)
    assert canvas.size == mask.size and canvas.width % 16 == 0 and canvas.height % 16 == 0
    m = np.asarray(mask)
    assert m[box.y + box.h // 2, box.x + box.w // 2] == 0  # the product is kept
    assert m[2, 2] == 255 and (m == 255).mean() > 0.7  # the scene is painted


def test_progress_and_cancel_between_steps(tiny_flux):
    photo, truth = make_case("red-bottle-on-gradient")
    cut = Image.fromarray(np.dstack([photo, truth.astype(np.uint8) * 255]), "RGBA")
    steps_seen: list[int] = []
    scene = load_scenes()["marble"]
    canvas, mask, box = fill_canvas(scene, cut, 64)
    request = GenerateRequest(scene, cut, "a bottle", seed=7, steps=3, long_side=64, max_sequence_length=16,
                              canvas=canvas, mask=mask, box=box, on_progress=lambda i, n: steps_seen.append(i),
                              cancelled=lambda: len(steps_seen) >= 1)
    result = generate_flux.FluxFillGenerator().generate(request)  # the registry's backend: no GPU, the CPU plan
    image = result.image
    assert result.info["plan"] == CPU_PLAN.id
    assert steps_seen == [1]  # it stopped after the first step when asked
    assert image.size == (48, 64)


def test_whole_shoot_with_flux_keeps_product_pixels(tiny_flux, tmp_path):
    photo, _ = make_case("striped-box-on-pattern")
    Image.fromarray(photo).save(tmp_path / "box.png")
    store = open_store()
    job = submit_shoot(store, tmp_path / "box.png", scene="marble", variants=2, engine="auto", preset="shopify",
                       seed=3, steps=2, guidance=30.0, long_side=64, max_sequence_length=16)
    params = jobs.job_params(store, job)
    assert params["engine"] == "classic"  # auto: no CUDA GPU here, so the classic engine is chosen
    job = submit_shoot(store, tmp_path / "box.png", scene="marble", variants=2, engine="flux", preset="shopify",
                       seed=3, steps=2, guidance=30.0, long_side=64, max_sequence_length=16)
    run_jobs([job], timeout=600)
    j = jobs.get_job(store, job)
    assert j["status"] == "done", j["error"]
    cut = stage_output(store, job, "enlarge")["cutout"]  # the product as placed
    for i in range(2):
        gen = stage_output(store, job, f"generate[{i}]")
        assert gen["seed"] == 3 + i and gen["image"].size == (64, 64)  # frame first: the shopify square at the draft size
        box = Box(**gen["box"])
        out = np.asarray(stage_output(store, job, f"preserve[{i}]")["image"])
        layer = paste_layer(out.shape[:2], resize_product(crop_to_alpha(cut), box), box)
        inner = eroded(layer[..., 3], 2)
        expected = np.clip(layer[..., :3] * 255 + 0.5, 0, 255).astype(np.uint8)
        assert inner.sum() > 20 and np.array_equal(out[inner], expected[inner])
    variants = store.query("SELECT idx, seed, data FROM variants WHERE job_id = ? ORDER BY idx", (job,))
    assert [(v["idx"], v["seed"]) for v in variants] == [(0, 3), (1, 4)] and '"engine": "flux"' in variants[0]["data"]


@pytest.mark.cuda
@pytest.mark.parametrize("plan_id", [p.id for p in generate_flux.PLANS])
def test_every_vram_plan_places_and_runs_on_a_gpu(tiny_flux, plan_id):
    """Each plan's placement code (offload hooks, fp8 layerwise casting, NF4) on a real GPU."""
    from dataclasses import replace

    from studio.models.generate_flux import BY_ID

    if "bitsandbytes" in BY_ID[plan_id].needs:
        pytest.importorskip("bitsandbytes", reason="NF4 plans need the quant extra")
    photo, truth = make_case("red-bottle-on-gradient")
    cut = Image.fromarray(np.dstack([photo, truth.astype(np.uint8) * 255]), "RGBA")
    plan = replace(BY_ID[plan_id], vae_tiling=True)
    image = flux_call(tiny_flux, plan, "cuda", cut, "a bottle", 1, steps=2)
    assert image.size == (48, 64)
    assert np.asarray(image).std() > 0
