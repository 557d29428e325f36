"""A shot's variants painted in one pipeline call (issue 30, item 5): each variant is the
image its seed gives alone, the siblings' stages take theirs instead of painting again,
a batch that runs out of memory falls back to one at a time, and the card's memory
decides how many go together."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from studio.models import variant_batch  # noqa: E402
from studio.models.base import GenerateRequest  # noqa: E402
from studio.models.devices import Card  # noqa: E402
from studio.models.generate_flux import FluxFillGenerator  # noqa: E402
from studio.models.generate_klein import PLANS as KLEIN_PLANS  # noqa: E402
from studio.models.generate_klein import KleinGenerator  # noqa: E402
from studio.models.generate_sdxl import SDXLInpaintGenerator  # noqa: E402
from studio.models.holder import HOLDER  # noqa: E402
from studio.models.inpaint_common import fill_canvas  # noqa: E402
from studio.scenes import load_scenes  # noqa: E402
from tests.synth import make_case  # noqa: E402
from tests.tiny_flux import (  # noqa: E402
    build_tiny_flux2_klein,
    build_tiny_flux_fill,
    build_tiny_sdxl_inpaint,
    plant_in_hf_cache,
)


@pytest.fixture(autouse=True)
def empty_shelf():
    variant_batch.SHELF.clear()
    variant_batch._too_big.clear()
    yield
    variant_batch.SHELF.clear()
    variant_batch._too_big.clear()


def _request(seed: int, seeds: tuple[int, ...] = (), key: str = "job/0", steps: int = 2) -> GenerateRequest:
    photo, truth = make_case("red-bottle-on-gradient")
    cut = Image.fromarray(np.dstack([photo, truth.astype(np.uint8) * 255]), "RGBA")
    scene = load_scenes()["marble"]
    canvas, mask, box = fill_canvas(scene, cut, 64)
    return GenerateRequest(scene, cut, "a red bottle on marble", seed=seed, steps=steps, long_side=64,
                           max_sequence_length=16, canvas=canvas, mask=mask, box=box, batch_seeds=seeds,
                           batch_key=key)


class Counting:
    """Counts the pipeline calls a generator makes (the real pipeline runs every time)."""

    def __init__(self, monkeypatch, cls):
        self.calls: list[int] = []
        real = cls.run

        def run(gen, pipe, request, steps, guidance):
            out = real(gen, pipe, request, steps, guidance)
            self.calls.append(len(out))
            return out

        monkeypatch.setattr(cls, "run", run)


MODELS = {
    "klein": (KleinGenerator, "black-forest-labs/FLUX.2-klein-4B", build_tiny_flux2_klein),
    "flux-fill": (FluxFillGenerator, "black-forest-labs/FLUX.1-Fill-dev", build_tiny_flux_fill),
    "sdxl": (SDXLInpaintGenerator, "diffusers/stable-diffusion-xl-1.0-inpainting-0.1", build_tiny_sdxl_inpaint),
}


def test_each_variant_of_a_klein_batch_is_what_its_seed_gives_alone(hf_hub, monkeypatch):
    cls, repo, build = MODELS["klein"]
    plant_in_hf_cache(hf_hub, repo, build)
    counted = Counting(monkeypatch, cls)
    seeds = (5, 6, 7)
    together = [cls().generate(_request(s, seeds)) for s in seeds]
    assert counted.calls == [3]  # one call painted all three; the others came off the shelf
    assert [g.info["variants_per_call"] for g in together] == [3, 3, 3]
    alone = [cls().generate(_request(s)) for s in seeds]
    assert counted.calls == [3, 1, 1, 1]
    for a, b in zip(together, alone, strict=True):
        diff = np.abs(np.asarray(a.image, np.int16) - np.asarray(b.image, np.int16))
        assert diff.max() <= 2, diff.max()  # the same picture (batched matmuls round a little differently)
    # three different seeds: three different pictures
    assert np.abs(np.asarray(together[0].image, np.int16) - np.asarray(together[1].image, np.int16)).mean() > 1


@pytest.mark.parametrize("model", ["flux-fill", "sdxl"])
def test_models_whose_batch_would_change_a_variant_paint_one_at_a_time(model, hf_hub, monkeypatch):
    """FLUX.1 Fill and SDXL sample the kept image's latents with the first generator: a
    batched variant 2 would not be seed 2's picture, so they are not batched."""
    cls, repo, build = MODELS[model]
    plant_in_hf_cache(hf_hub, repo, build)
    counted = Counting(monkeypatch, cls)
    seeds = (5, 6)
    shoot = [cls().generate(_request(s, seeds)) for s in seeds]
    assert counted.calls == [1, 1] and [g.info["variants_per_call"] for g in shoot] == [1, 1]
    alone = cls().generate(_request(6))
    assert np.array_equal(np.asarray(alone.image), np.asarray(shoot[1].image))


def test_a_sibling_whose_request_differs_paints_its_own(hf_hub, monkeypatch):
    plant_in_hf_cache(hf_hub, *MODELS["klein"][1:])
    counted = Counting(monkeypatch, KleinGenerator)
    KleinGenerator().generate(_request(1, (1, 2)))
    other_job = KleinGenerator().generate(_request(2, (1, 2), key="another-job/0"))
    more_steps = KleinGenerator().generate(_request(2, (1, 2), steps=3))
    assert counted.calls == [2, 2, 2]
    assert other_job.info["painted_size"] == more_steps.info["painted_size"]


def test_a_batch_out_of_memory_paints_one_at_a_time_and_is_remembered(hf_hub, monkeypatch):
    import torch

    plant_in_hf_cache(hf_hub, *MODELS["klein"][1:])
    calls: list[int] = []
    real = KleinGenerator.run

    def run(gen, pipe, request, steps, guidance):  # a card whose memory holds one image's activations
        calls.append(max(1, len(request.batch_seeds)))
        if len(request.batch_seeds) > 1:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (a batch of {len(request.batch_seeds)})")
        return real(gen, pipe, request, steps, guidance)

    monkeypatch.setattr(KleinGenerator, "run", run)
    card = Card("Test GPU 80 GB", 80, 79.5, (9, 0))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    gen = KleinGenerator()
    plan = gen.plan(card, 64 * 64)
    assert variant_batch.variants_per_call(card, plan, 4, gen.per_image_gb) == 4
    request = _request(1, (1, 2, 3, 4))
    canvas = request.canvas
    pipe = gen.load(plant_in_hf_cache(hf_hub, *MODELS["klein"][1:]), KLEIN_PLANS[-1], "cpu")
    images, n = gen._paint(pipe, request, 2, 1.0, ("tiny", plan.id, "cpu"), card, plan)
    assert n == 1 and images.shape == (1, canvas.height, canvas.width, 3) and calls == [4, 1]
    assert variant_batch.variants_per_call(card, plan, 4, gen.per_image_gb) == 3  # never 4 again here
    HOLDER.release_all()


def test_how_many_fit_follows_the_cards_memory():
    plan = KLEIN_PLANS[0]  # 18 GB resident
    assert variant_batch.variants_per_call(None, plan, 4, 1.5) == 4  # the CPU: system memory
    assert variant_batch.variants_per_call(Card("24 GB", 24, 23, (8, 9)), plan, 4, 1.5) == 4
    assert variant_batch.variants_per_call(Card("20 GB", 20, 19, (8, 9)), plan, 4, 1.5) == 2
    assert variant_batch.variants_per_call(Card("18 GB", 18, 17, (8, 9)), plan, 4, 1.5) == 1
    assert variant_batch.variants_per_call(Card("80 GB", 80, 79, (9, 0)), plan, 1, 1.5) == 1


def test_a_shoot_paints_its_variants_in_one_call_and_a_gate_round_alone(hf_hub, studio_home, tmp_path, monkeypatch):
    from studio.app.context import open_store, run_jobs
    from studio.app.history import job_detail
    from studio.app.shoot import submit_shoot

    plant_in_hf_cache(hf_hub, *MODELS["klein"][1:])
    counted = Counting(monkeypatch, KleinGenerator)
    photo, _ = make_case("red-bottle-on-gradient")
    Image.fromarray(photo).save(tmp_path / "bottle.png")
    store = open_store()
    job = submit_shoot(store, tmp_path / "bottle.png", scene="marble", variants=3, engine="klein", seed=3,
                       steps=2, long_side=64)
    run_jobs([job], store=store, timeout=600)
    detail = job_detail(store, job)
    assert detail["status"] == "done", detail.get("error")
    first = [v for v in detail["variants"] if v.get("round", 0) == 0]
    assert sorted(v["seed"] for v in first) == [3, 4, 5]
    assert all(v["variants_per_call"] == 3 for v in first)
    assert counted.calls[0] == 3 and all(n == 1 for n in counted.calls[1:])  # later calls: gate rounds, alone


def test_klein_gets_the_reference_through_image_reference_and_it_changes_the_picture(hf_hub, monkeypatch):
    """A tiny klein of the real classes takes the reference photo through the pipeline's
    `image_reference` (its tokens join the kept image's), and the picture follows it."""
    from diffusers import Flux2KleinInpaintPipeline

    plant_in_hf_cache(hf_hub, *MODELS["klein"][1:])
    seen: list = []
    real = Flux2KleinInpaintPipeline.__call__

    def call(pipe, *args, **kwargs):
        seen.append(kwargs.get("image_reference"))
        return real(pipe, *args, **kwargs)

    monkeypatch.setattr(Flux2KleinInpaintPipeline, "__call__", call)
    warm = Image.new("RGB", (96, 64), (200, 120, 60))
    cool = Image.new("RGB", (96, 64), (40, 90, 200))
    plain = KleinGenerator().generate(_request(3))
    a = KleinGenerator().generate(replace_reference(_request(3), warm))
    b = KleinGenerator().generate(replace_reference(_request(3), cool))
    assert seen[0] is None and seen[1] == [warm] and seen[2] == [cool]
    diff = lambda x, y: np.abs(np.asarray(x.image, np.int16) - np.asarray(y.image, np.int16)).mean()  # noqa: E731
    assert diff(a, plain) > 0.01 and diff(a, b) > 0.01  # a random tiny model: changed, not styled


def replace_reference(request: GenerateRequest, image: Image.Image) -> GenerateRequest:
    from dataclasses import replace

    return replace(request, reference=image)


def test_a_batch_stopped_by_a_cancel_leaves_nothing_for_its_siblings(hf_hub):
    from dataclasses import replace

    plant_in_hf_cache(hf_hub, *MODELS["klein"][1:])
    stop = replace(_request(1, (1, 2, 3)), cancelled=lambda: True)
    KleinGenerator().generate(stop)
    assert variant_batch.SHELF.take(next(iter(variant_batch.SHELF._batches), ""), 2) is None
    assert not variant_batch.SHELF._batches
