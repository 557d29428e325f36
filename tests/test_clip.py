"""open_clip from local weights: a tiny random-config model built with open_clip's own
classes, saved in the Hub's layout and loaded through our registry and loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from studio.imaging.fidelity import fidelity
from studio.models import score_clip
from studio.models.holder import HOLDER
from studio.models.registry import locate
from tests.distort import distorted, placed
from tests.tiny_clip import build_tiny_clip


@pytest.fixture
def tiny_clip(studio_home):
    from studio.config import load_settings

    HOLDER.release_all()
    path = build_tiny_clip(load_settings().models_path(), aesthetic=True)
    yield path
    HOLDER.release_all()


def test_registry_finds_it_and_the_loader_loads_its_weights(tiny_clip):
    import open_clip

    assert locate("clip-vit-b-32") == tiny_clip
    scorer = score_clip.get_scorer()
    assert scorer is score_clip.get_scorer()  # loaded once per process
    # the same weights as saved: compare with the model open_clip builds from the file itself
    ref = open_clip.create_model("local-dir:" + str(tiny_clip))
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 60, 3), np.uint8))
    with torch.inference_mode():
        want = torch.nn.functional.normalize(ref.encode_image(scorer.preprocess(img)[None]), dim=-1)[0].numpy()
    np.testing.assert_allclose(scorer.embed_images([img])[0], want, atol=1e-5)
    # and not what a fresh random model would give
    torch.manual_seed(123)
    other = open_clip.create_model("local-dir:" + str(tiny_clip), pretrained=None)
    other.load_state_dict({k: torch.randn_like(v) for k, v in other.state_dict().items()})
    with torch.inference_mode():
        fresh = torch.nn.functional.normalize(other.encode_image(scorer.preprocess(img)[None]), dim=-1)[0].numpy()
    assert np.abs(fresh - want).max() > 1e-2


def test_alignment_zero_shot_and_aesthetic_are_batched_and_well_formed(tiny_clip):
    scorer = score_clip.get_scorer()
    imgs = [np.full((64, 48, 3), c, np.uint8) for c in (0, 128, 255)]
    align = scorer.alignment(imgs, "a red bottle on marble")
    assert len(align) == 3 and all(-1.0 <= a <= 1.0 for a in align) and len(set(align)) == 3
    ranked = scorer.zero_shot(imgs[0], ["bottle", "mug", "shoe"])
    assert sorted(lab for lab, _ in ranked) == ["bottle", "mug", "shoe"]
    assert sum(p for _, p in ranked) == pytest.approx(1.0) and ranked[0][1] >= ranked[-1][1]
    aest = scorer.aesthetic_scores(imgs)
    assert len(aest) == 3 and len(set(aest)) == 3


def test_no_model_means_none_and_unknown_model_is_an_error(studio_home):
    HOLDER.release_all()
    assert score_clip.get_scorer() is None
    with pytest.raises(ValueError, match="unknown CLIP model"):
        score_clip.get_scorer("clip-huge")


def test_fidelity_uses_the_embedding_when_clip_is_there(tiny_clip):
    scorer = score_clip.get_scorer()
    expected = placed()
    same = fidelity(distorted("move", 0), expected, embed=scorer.embed_images)
    assert same.terms["embedding"] == pytest.approx(1.0, abs=1e-4) and not same.notes
    moved = fidelity(distorted("color_shift", 4), expected, embed=scorer.embed_images)
    assert moved.measures["embedding_cos"] < same.measures["embedding_cos"]


def test_describe_takes_the_category_from_clip_zero_shot(tiny_clip, tmp_path):
    from studio.app.context import open_store, run_jobs
    from studio.app.shoot import submit_shoot
    from studio.config import data_dir
    from studio.pipeline.queries import stage_output
    from tests.synth import make_case

    (data_dir() / "product-categories.txt").write_text("# mine\nsnow globe\nkettle\n")
    photo, _ = make_case("green-mug-on-sheet")
    Image.fromarray(photo).save(tmp_path / "m.png")
    store = open_store()
    job = submit_shoot(store, tmp_path / "m.png", variants=2, long_side=384)
    run_jobs([job], timeout=300)
    d = stage_output(store, job, "describe")
    assert d["source"] == "clip" and d["category"] in ("snow globe", "kettle")
    assert d["category"] in stage_output(store, job, "prompt")["prompt"]
    sel = stage_output(store, job, "select")
    assert all(r["alignment"] is not None and r["aesthetic"] is not None for r in sel["ranking"])
    assert sel["notes"] == []


def test_openais_vit_l_14_runs_with_quick_gelu_whatever_its_config_says(studio_home):
    """timm's repository for OpenAI's ViT-L/14 has no `quick_gelu` in its config; the
    model was trained with it, so Studio forces it for that id (and only that one)."""
    from open_clip.transformer import QuickGELU

    from studio.config import load_settings

    HOLDER.release_all()
    models = load_settings().models_path()
    openai = build_tiny_clip(models, repo="timm--vit_large_patch14_clip_224.openai")
    laion = build_tiny_clip(models)
    try:
        def gelu_kinds(scorer) -> set[type]:
            return {type(m) for m in scorer.model.modules() if "GELU" in type(m).__name__}

        assert gelu_kinds(score_clip.ClipScorer(openai, model_id="clip-vit-l-14-openai")) == {QuickGELU}
        assert QuickGELU not in gelu_kinds(score_clip.ClipScorer(laion, model_id="clip-vit-b-32"))
    finally:
        HOLDER.release_all()
