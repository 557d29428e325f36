"""FLUX.2 [klein] 4B through our loader and the whole shoot (a tiny model of the real
classes in the Hugging Face cache layout, offline), the VRAM plan rules on simulated
cards, licence-aware `auto`, the black/NaN guard, and the aesthetic head's check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from studio import cli  # noqa: E402
from studio.models import devices, registry  # noqa: E402
from studio.models.base import BlankImage, PlanFailed  # noqa: E402
from studio.models.devices import Card, choose_plan, tighter  # noqa: E402
from studio.models.generate_flux import PLANS as FLUX_PLANS  # noqa: E402
from studio.models.generate_flux import FluxFillGenerator  # noqa: E402
from studio.models.generate_klein import PLANS as KLEIN_PLANS  # noqa: E402
from studio.models.generate_klein import KleinGenerator  # noqa: E402
from studio.models.generate_sdxl import PLANS as SDXL_PLANS  # noqa: E402
from studio.models.holder import HOLDER  # noqa: E402
from tests.synth import make_case  # noqa: E402
from tests.tiny_flux import build_tiny_flux2_klein, plant_in_hf_cache  # noqa: E402


def card(gb: float, cap=(8, 9), name=None) -> Card:
    return Card(name or f"Test GPU {gb:g} GB", gb, gb - 0.5, cap)


@pytest.fixture
def no_bitsandbytes(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a))


@pytest.fixture
def with_bitsandbytes(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "bitsandbytes" else real(name, *a))


# -- klein 4B, shot through the CLI ---------------------------------------------------

def test_klein_shoots_through_the_cli_from_the_hf_cache(hf_hub, tmp_path, capsys):
    snap = plant_in_hf_cache(hf_hub, "black-forest-labs/FLUX.2-klein-4B", build_tiny_flux2_klein)
    assert registry.locate("flux2-klein-4b") == snap
    assert json.loads((snap / "model_index.json").read_text())["_class_name"] == "Flux2KleinPipeline"
    photo, _ = make_case("red-bottle-on-gradient")
    Image.fromarray(photo).save(tmp_path / "bottle.png")
    code = cli.main(["shoot", str(tmp_path / "bottle.png"), "--engine", "klein", "--steps", "2", "--variants", "2",
                     "--scene", "marble", "--seed", "11", "--long-side", "64", "--out", str(tmp_path / "out"),
                     "--json"])
    [r] = json.loads(capsys.readouterr().out)
    assert code == 0 and r["status"] == "done" and r["engine"] == "klein", r
    assert [v["seed"] for v in r["variants"]] == [11, 12]
    from studio.app.context import open_store
    from studio.app.history import job_detail

    variants = job_detail(open_store(), r["job"])["variants"]
    assert all(v["engine"] == "klein" and v["steps"] == 2 and v["plan"] == "cpu" for v in variants)
    # the product's own pixels are back in every variant (preserve), whatever klein painted
    from studio.imaging.compose import Box, crop_to_alpha, eroded, paste_layer, resize_product
    from studio.pipeline.queries import stage_output

    cut = stage_output(open_store(), r["job"], "enlarge")["cutout"]  # the product as placed
    for i in range(2):
        gen = stage_output(open_store(), r["job"], f"generate[{i}]")
        box = Box(**gen["box"])
        out = np.asarray(stage_output(open_store(), r["job"], f"preserve[{i}]")["image"])
        layer = paste_layer(out.shape[:2], resize_product(crop_to_alpha(cut), box), box)
        inner = eroded(layer[..., 3], 2)
        expected = np.clip(layer[..., :3] * 255 + 0.5, 0, 255).astype(np.uint8)
        assert inner.sum() > 20 and np.array_equal(out[inner], expected[inner])


def test_klein_defaults_are_a_distilled_models(hf_hub, tmp_path):
    from studio.models.base import GenerateRequest
    from studio.models.inpaint_common import fill_canvas
    from studio.scenes import load_scenes

    plant_in_hf_cache(hf_hub, "black-forest-labs/FLUX.2-klein-4B", build_tiny_flux2_klein)
    photo, truth = make_case("red-bottle-on-gradient")
    cut = Image.fromarray(np.dstack([photo, truth.astype(np.uint8) * 255]), "RGBA")
    scene = load_scenes()["marble"]
    canvas, mask, box = fill_canvas(scene, cut, 64)
    seen: list[int] = []
    out = KleinGenerator().generate(GenerateRequest(scene, cut, "a red bottle", seed=1, long_side=64,
                                                    max_sequence_length=32, canvas=canvas, mask=mask, box=box,
                                                    on_progress=lambda i, n: seen.append(n)))
    assert out.info["steps"] == 4 and seen[-1] == 4  # the model card's 4 steps, no settings needed
    assert out.image.size == canvas.size
    pipe = HOLDER.get(HOLDER.big_key, lambda: None, big=True)
    assert pipe.config.is_distilled and type(pipe).__name__ == "Flux2KleinInpaintPipeline"


# -- plans that load on every card ------------------------------------------------------

@pytest.mark.parametrize("gb,bnb,flux,klein", [
    (80, False, "bf16-resident", "klein-bf16-resident"),
    (24, False, "fp8-model-offload", "klein-bf16-resident"),
    (16, True, "nf4-model-offload", "klein-bf16-model-offload"),
    (15.99, False, "fp8-group-offload", "klein-bf16-model-offload"),  # a "16 GB" card without bitsandbytes
    (12, True, "nf4-model-offload", "klein-bf16-model-offload"),
    (12, False, "fp8-group-offload", "klein-bf16-model-offload"),
    (8, False, "fp8-group-offload", "klein-fp8-model-offload"),
])
def test_each_card_gets_a_plan_it_can_load(monkeypatch, gb, bnb, flux, klein):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (object() if bnb else None) if name == "bitsandbytes" else real(name, *a))
    assert choose_plan(card(gb), FLUX_PLANS).id == flux
    assert choose_plan(card(gb), KLEIN_PLANS).id == klein
    for plans in (FLUX_PLANS, KLEIN_PLANS):
        p = choose_plan(card(gb), plans)
        assert bnb or "bitsandbytes" not in p.needs  # never a plan whose package is missing


def test_the_16gb_card_that_failed_before(no_bitsandbytes):
    # 15.99 GiB, 1 GB headroom: NF4 used to be chosen and failed with ImportError; fp8 needs 15.6 (measured)
    plan = choose_plan(Card("RTX 4080", 15.99, 15.5, (8, 9)), FLUX_PLANS)
    assert plan.id == "fp8-group-offload" and not plan.missing()


def test_cards_without_bf16_never_run_the_flux_family_in_fp16():
    """FLUX-family models overflow to black or NaN in fp16: on a card without bf16 they
    run in fp32 with model offload where it fits (twice the memory), else not at all,
    and the sentence names the engines that do; SDXL holds in fp16."""
    t4 = card(16, cap=(7, 5), name="Tesla T4")
    assert choose_plan(t4, FLUX_PLANS) is None
    assert FluxFillGenerator().plan(t4, 1024 * 1024) is None
    assert choose_plan(t4, KLEIN_PLANS) is None  # klein's model-offload plan needs 20 GB in fp32
    assert choose_plan(t4, SDXL_PLANS).precision == "fp16"
    titan = card(24, cap=(7, 5), name="TITAN RTX")
    plan = choose_plan(titan, KLEIN_PLANS)
    assert (plan.id, plan.precision) == ("klein-bf16-model-offload", "fp32") and "in fp32" in plan.note
    v100 = card(32, cap=(7, 0), name="Tesla V100")
    assert choose_plan(v100, FLUX_PLANS) is None  # FLUX.1 Fill's 12B in fp32 does not fit
    assert all(p.fp16_ok is False for p in FLUX_PLANS + KLEIN_PLANS)


def test_no_plan_on_a_card_says_which_engines_run(monkeypatch):
    from studio.models.base import BackendUnavailable
    from studio.models.inpaint_common import fill_canvas
    from studio.scenes import load_scenes

    monkeypatch.setattr(devices, "detect_card", lambda: card(16, cap=(7, 5), name="Tesla T4"))
    monkeypatch.setattr("studio.models.registry.locate", lambda spec, models_dir=None: Path("/nowhere"))
    photo, truth = make_case("red-bottle-on-gradient")
    cut = Image.fromarray(np.dstack([photo, truth.astype(np.uint8) * 255]), "RGBA")
    scene = load_scenes()["marble"]
    canvas, mask, box = fill_canvas(scene, cut, 64)
    from studio.models.base import GenerateRequest

    with pytest.raises(BackendUnavailable, match="Tesla T4: it needs bf16 .* or 20 GB for fp32; use SDXL or the cloud"):
        KleinGenerator().generate(GenerateRequest(scene, cut, canvas=canvas, mask=mask, box=box))


def test_the_last_resorts_are_bf16_and_the_minimums_follow_the_measured_peaks():
    for plans in (FLUX_PLANS, KLEIN_PLANS):
        assert plans[-1].offload == "sequential" and plans[-1].quantization is None
    by_id = {p.id: p for p in FLUX_PLANS}
    assert by_id["fp8-model-offload"].min_vram_gb >= 15.6 and by_id["bf16-resident"].min_vram_gb >= 31.4
    assert all(p.offload != "sequential" or "bitsandbytes" not in p.needs for p in FLUX_PLANS + KLEIN_PLANS)


def test_a_load_error_moves_to_the_next_plan_that_does_not_need_what_is_missing(no_bitsandbytes):
    gen = FluxFillGenerator()
    nf4 = next(p for p in FLUX_PLANS if p.id == "nf4-model-offload")
    failure = gen._load_failure(ImportError("Using `bitsandbytes` 4-bit quantization requires bitsandbytes"), nf4,
                                card(12))
    assert isinstance(failure, PlanFailed) and failure.next_plan == "fp8-group-offload"
    assert "could not load on plan nf4-model-offload" in str(failure)
    # and the retry hook takes it
    from studio.pipeline.stages_shoot import _adjust_generator

    assert _adjust_generator({"engine": "flux", "plan": "nf4-model-offload"}, 1, failure)["plan"] == "fp8-group-offload"
    assert tighter(FLUX_PLANS[-1], FLUX_PLANS) is None


def test_black_or_nan_output_ends_the_precision_at_once():
    """A black or NaN image says the precision failed: every other plan on this card
    computes in the same one, so none is loaded again to make the same black image."""
    gen = KleinGenerator()
    titan = card(24, cap=(7, 5), name="TITAN RTX")
    plan = choose_plan(titan, KLEIN_PLANS)
    for bad in (np.full((1, 64, 48, 3), np.nan, np.float32), np.zeros((1, 64, 48, 3), np.float32)):
        with pytest.raises(BlankImage, match="black or NaN image on plan klein-bf16-model-offload in fp32") as info:
            gen._image(bad, plan, titan)
        assert info.value.next_plan is None and "use SDXL or the cloud" in str(info.value)
    ok = gen._image(np.random.default_rng(0).random((1, 64, 48, 3), np.float32), plan, card(16))
    assert ok.size == (48, 64)


def test_a_black_image_from_any_engine_is_retried(tmp_path, monkeypatch, capsys):
    """The stage's guard, for engines without plans too: a generator whose first image is
    black gets a second attempt, and the history says why."""
    from tests import tiny_generator

    monkeypatch.setitem(registry.GENERATORS, "blackout", "tests.tiny_generator:BlackOnceGenerator")
    photo, _ = make_case("green-mug-on-sheet")
    Image.fromarray(photo).save(tmp_path / "mug.png")
    tiny_generator.CALLS.clear()
    assert cli.main(["shoot", str(tmp_path / "mug.png"), "--engine", "blackout", "--variants", "1", "--scene",
                     "linen", "--long-side", "256", "--out", str(tmp_path / "o"), "--json"]) == 0
    from studio.app.context import open_store
    from studio.app.history import job_detail

    job = json.loads(capsys.readouterr().out)[0]["job"]
    [gen] = [s for s in job_detail(open_store(), job)["stages"] if s["key"] == "generate[0]"]
    assert gen["attempt"] == 2 and "blackout made a black image" in gen["history"][0]["error"]


# -- licence-aware auto ------------------------------------------------------------------

def _install(studio_home, *model_ids):
    """Folders with each model's files, enough for `locate` to count it installed."""
    for mid in model_ids:
        spec = registry.specs()[mid]
        folder = studio_home / "models" / spec.repo_id.replace("/", "--")
        for f in spec.files:  # `a|b`: either; a single weights file rather than an index of shards
            name = next(n for n in f.split("|") if not n.endswith(".index.json"))
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text("{}")


def test_auto_follows_the_licences(studio_home, monkeypatch):
    from studio.config import load_settings, save_settings
    from studio.secrets import save_key

    monkeypatch.setattr(devices, "detect_card", lambda: card(24))
    pick = registry.pick_generator
    _install(studio_home, "flux-fill-dev")
    assert pick("auto", "local-only", "commercial") == "classic"  # FLUX.1 Fill [dev] is non-commercial
    assert pick("auto", "local-only", "personal") == "flux"
    assert pick("auto", "local-only", "commercial", ("flux-fill-dev",)) == "flux"  # BFL's licence held
    _install(studio_home, "sdxl-inpaint")
    assert pick("auto", "local-only", "commercial") == "sdxl"
    _install(studio_home, "flux2-klein-4b")
    assert pick("auto", "local-only", "commercial") == "klein" and pick("auto", "local-only", "personal") == "klein"
    # a card without bf16: SDXL in fp16, never a FLUX-family model in fp16 (klein would
    # need 20 GB in fp32); a 24 GB one runs klein in fp32
    monkeypatch.setattr(devices, "detect_card", lambda: card(16, cap=(7, 5)))
    assert pick("auto", "local-only", "personal") == "sdxl"
    monkeypatch.setattr(devices, "detect_card", lambda: card(24, cap=(7, 5)))
    assert pick("auto", "local-only", "personal") == "klein"
    # no GPU: the cloud (with a key, where the policy allows), else classic
    monkeypatch.setattr(devices, "detect_card", lambda: None)
    assert pick("auto", "cloud-fallback", "commercial") == "classic"
    save_key("bfl", "sk-test")
    assert pick("auto", "cloud-fallback", "commercial") == "cloud"
    # the app reads the settings
    s = load_settings()
    s.usage, s.licences_held = "commercial", ["flux-fill-dev"]
    save_settings(s)
    from studio.app.engines import engine_note, resolve_engine

    assert resolve_engine("auto") == "classic"  # no card, local-only policy
    assert engine_note("flux") is None  # the licence is held
    s.licences_held = []
    save_settings(s)
    assert "FLUX.1 [dev] Non-Commercial License" in engine_note("flux") and engine_note("klein") is None


def test_naming_flux_says_what_its_licence_requires(studio_home, tmp_path, capsys):
    photo, _ = make_case("red-bottle-on-gradient")
    Image.fromarray(photo).save(tmp_path / "b.png")
    cli.main(["shoot", str(tmp_path / "b.png"), "--engine", "flux", "--variants", "1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "note: FLUX.1 Fill [dev]: FLUX.1 [dev] Non-Commercial License" in err and "BFL's commercial licence" in err


def test_klein_is_listed_with_its_licence(capsys):
    assert cli.main(["models", "--json"]) == 0
    models = {m["id"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    klein = models["flux2-klein-4b"]
    assert klein["licence"] == "Apache-2.0" and klein["commercial_use"] == "yes"
    assert klein["repo_id"] == "black-forest-labs/FLUX.2-klein-4B" and klein["size_gb"] > 0


# -- the aesthetic head's check; CLIP's file names ----------------------------------------

@pytest.mark.parametrize("head_for,head_in,used", [
    ("laion2b/ViT-B-32", None, True),  # trained on this CLIP's embeddings, same size
    (None, None, False),  # LAION's own file: trained on OpenAI ViT-L/14, not this model
    ("laion2b/ViT-B-32", 768, False),  # the 768-d head on a 32-d model (the crash it used to be)
])
def test_the_aesthetic_head_is_used_only_on_the_embeddings_it_was_trained_on(studio_home, head_for, head_in, used):
    from studio.config import load_settings
    from studio.models import score_clip
    from tests.tiny_clip import build_tiny_clip

    HOLDER.release_all()
    build_tiny_clip(load_settings().models_path(), aesthetic=True, head_for=head_for, head_in=head_in)
    scorer = score_clip.get_scorer()
    imgs = [np.full((64, 48, 3), c, np.uint8) for c in (0, 200)]
    if used:
        assert scorer.aesthetic is not None and len(scorer.aesthetic_scores(imgs)) == 2 and not scorer.notes
    else:
        assert scorer.aesthetic_scores(imgs) is None and "aesthetic head left out" in scorer.notes[0]
    HOLDER.release_all()


def test_clip_weights_are_found_under_any_of_open_clips_names(studio_home):
    from studio.config import load_settings
    from studio.models import score_clip
    from tests.tiny_clip import build_tiny_clip

    HOLDER.release_all()
    path = build_tiny_clip(load_settings().models_path())
    (path / "open_clip_model.safetensors").rename(path / "open_clip_pytorch_model.safetensors")
    assert registry.locate("clip-vit-b-32") == path
    assert score_clip.get_scorer().embed_texts(["a mug"]).shape == (1, 32)
    HOLDER.release_all()


def test_fp8_storage_keeps_the_tied_embeddings_of_the_text_encoder(tmp_path):
    """Qwen3-4B ties lm_head to the token embeddings. Storing the layers in fp8 must not
    cast that shared tensor: the first norm then fails (found on an H200 with this tiny
    model, before the fix). fp8 storage with bf16 compute runs on a CPU as well."""
    import torch
    from diffusers import Flux2KleinInpaintPipeline

    from studio.models.generate_klein import store_text_encoder_in_fp8

    build_tiny_flux2_klein(tmp_path)
    pipe = Flux2KleinInpaintPipeline.from_pretrained(str(tmp_path), dtype=torch.bfloat16, local_files_only=True)
    te = pipe.text_encoder
    assert te.lm_head.weight is te.model.embed_tokens.weight  # tied, as in the real model
    ids = torch.tensor([[1, 5, 9, 2]])
    before = te(input_ids=ids, output_hidden_states=True).hidden_states[-1]
    store_text_encoder_in_fp8(te, torch.bfloat16)
    assert te.model.layers[0].mlp.up_proj.weight.dtype == torch.float8_e4m3fn  # stored small
    assert te.model.embed_tokens.weight.dtype == torch.bfloat16
    after = te(input_ids=ids, output_hidden_states=True).hidden_states[-1]
    assert after.dtype == torch.bfloat16 and torch.isfinite(after.float()).all()
    assert torch.nn.functional.cosine_similarity(before.float().flatten(), after.float().flatten(), dim=0) > 0.9


@pytest.mark.cuda
@pytest.mark.parametrize("plan_id", [p.id for p in KLEIN_PLANS])
def test_every_klein_plan_places_and_runs_on_a_gpu(hf_hub, plan_id):
    """Each plan's placement (fp8 layerwise on both big parts, NF4, model/sequential
    offload) with the tiny klein on a real GPU; the guard passes its output."""
    from dataclasses import replace

    from studio.models.base import GenerateRequest
    from studio.models.generate_klein import BY_ID
    from studio.models.inpaint_common import fill_canvas
    from studio.scenes import load_scenes

    if "bitsandbytes" in BY_ID[plan_id].needs:
        pytest.importorskip("bitsandbytes", reason="NF4 plans need the quant extra")
    snap = plant_in_hf_cache(hf_hub, "black-forest-labs/FLUX.2-klein-4B", build_tiny_flux2_klein)
    photo, truth = make_case("red-bottle-on-gradient")
    cut = Image.fromarray(np.dstack([photo, truth.astype(np.uint8) * 255]), "RGBA")
    scene = load_scenes()["marble"]
    canvas, mask, box = fill_canvas(scene, cut, 64)
    gen = KleinGenerator()
    plan = replace(BY_ID[plan_id], vae_tiling=True)
    pipe = gen.load(snap, plan, "cuda")
    request = GenerateRequest(scene, cut, "a bottle", seed=1, long_side=64, max_sequence_length=32, canvas=canvas,
                              mask=mask, box=box)
    image = gen._image(gen.run(pipe, request, 2, 1.0), plan, card(80))
    assert image.size == canvas.size
