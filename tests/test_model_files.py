"""Models as a seller meets them (issue 29): each model downloads only what its loader
reads, is found in the Hugging Face cache however it got there, and counts as installed
only when whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub.utils import filter_repo_objects

from studio.models import registry, weights
from tests.hub_cache import as_hub_leaves_it, drop

LISTINGS = json.loads((Path(__file__).parent / "data" / "hub_listings.json").read_text())
ROOT = Path(__file__).resolve().parents[1]


def _selected(spec, files: dict[str, int]) -> list[str]:
    """What huggingface_hub fetches of `files` with the spec's patterns (its own filter)."""
    return list(filter_repo_objects(list(files), allow_patterns=list(spec.allow_patterns) or None,
                                    ignore_patterns=list(spec.ignore_patterns) or None))


@pytest.mark.parametrize("model_id", sorted(registry.specs()))
def test_patterns_select_what_the_loader_reads_and_little_else(model_id):
    spec = registry.specs()[model_id]
    listing = LISTINGS[spec.repo_id]
    files, reads = listing["files"], set(listing["loader_reads"])
    chosen = set(_selected(spec, files))
    assert spec.allow_patterns, "every model downloads with patterns"
    assert reads <= chosen, sorted(reads - chosen)
    needed = sum(files[p] for p in reads)
    fetched = sum(files[p] for p in chosen)
    assert fetched <= 1.05 * needed, (fetched / 1e9, needed / 1e9)
    # what the Models tab says it weighs is what the patterns fetch
    assert spec.size_gb == pytest.approx(fetched / 1e9, rel=0.03)
    # and every file the completeness rule asks for is among them
    for entry in spec.files:
        assert any(alt in chosen for alt in entry.split("|")), entry


def test_models_json_lists_the_patterns_of_every_model(studio_home):
    out = subprocess.run([sys.executable, "-m", "studio", "models", "--json"], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "STUDIO_HOME": str(studio_home)}, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["models"]
    assert {r["id"] for r in rows} == set(registry.specs())
    for r in rows:
        assert r["allow_patterns"] and isinstance(r["ignore_patterns"], list)
        assert r["status"] == "not installed" and r["installed"] is False


# -- found where it is, whole or not --------------------------------------------------

def _tiny_klein(folder: Path) -> Path:
    from tests.tiny_flux import build_tiny_flux2_klein

    return build_tiny_flux2_klein(folder)


KLEIN = "black-forest-labs/FLUX.2-klein-4B"
NOT_FETCHED = {"flux-2-klein-4b.safetensors": 7_750_000_000, "README.md": 7_800, "LICENSE.md": 9_600,
               "editing.jpg": 2_500_000}


def test_klein_fetched_by_diffusers_under_hub_2_is_found_offline(studio_home, hf_hub):
    """diffusers' from_pretrained fetches the folders only; huggingface_hub 2.x keeps the
    whole tree listing, so its own offline lookup calls the snapshot incomplete (the
    single-file checkpoint is missing). Studio judges the files its loader reads."""
    snap = as_hub_leaves_it(hf_hub, KLEIN, _tiny_klein, listed_not_fetched=NOT_FETCHED)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import IncompleteSnapshotError

    with pytest.raises(IncompleteSnapshotError):  # what a loader without our rule meets
        snapshot_download(KLEIN, local_files_only=True)
    found = weights.find(registry.specs()["flux2-klein-4b"])
    assert found.status == "installed" and found.path == snap
    assert registry.locate("flux2-klein-4b") == snap


def test_a_download_cut_short_is_incomplete_and_says_how_to_finish(studio_home, hf_hub, capsys):
    snap = as_hub_leaves_it(hf_hub, KLEIN, _tiny_klein, listed_not_fetched=NOT_FETCHED)
    drop(snap, "transformer/diffusion_pytorch_model.safetensors")
    spec = registry.specs()["flux2-klein-4b"]
    found = weights.find(spec)
    assert found.path == snap and found.missing == ("transformer/diffusion_pytorch_model.safetensors",)
    assert found.status == "incomplete (1 file missing)" and registry.locate(spec) is None
    row = next(r for r in registry.model_table() if r["id"] == "flux2-klein-4b")
    assert row["installed"] is False and row["status"] == "incomplete (1 file missing)"
    # auto passes it over
    assert "klein" not in registry._usable_locals("commercial", ())


def test_naming_an_incomplete_model_fails_at_once_with_one_sentence(studio_home, hf_hub, tmp_path):
    """`studio shoot --engine klein` with the transformer's weights missing: exits
    non-zero within seconds, says `studio models download`, prints no traceback."""
    from PIL import Image

    snap = as_hub_leaves_it(hf_hub, KLEIN, _tiny_klein, listed_not_fetched=NOT_FETCHED)
    drop(snap, "transformer/diffusion_pytorch_model.safetensors")
    Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "p.png")
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "HF_HUB_CACHE": str(hf_hub),
           "HF_HUB_OFFLINE": "1"}
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "studio", "shoot", str(tmp_path / "p.png"), "--engine", "klein",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120)
    took = time.monotonic() - start
    said = out.stdout + out.stderr
    assert out.returncode != 0 and took < 30, (out.returncode, took)
    assert "studio models download flux2-klein-4b" in said and "incomplete" in said
    assert "Traceback" not in said and "diffusion_pytorch_model.bin" not in said


def test_a_missing_shard_named_by_an_index_makes_a_model_incomplete(studio_home, tmp_path):
    """FLUX.1 Fill's transformer comes in three shards under an index; one shard short
    is not installed, whatever the config files say."""
    spec = registry.specs()["flux-fill-dev"]
    folder = tmp_path / "models" / spec.repo_id.replace("/", "--")
    listing = LISTINGS[spec.repo_id]["files"]
    chosen = _selected(spec, listing)
    for rel in chosen:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("{}")
    for index in [p for p in chosen if p.endswith(".index.json")]:  # each names the shards beside it
        parts = sorted(p for p in chosen if Path(p).parent == Path(index).parent and "-of-" in p)
        (folder / index).write_text(json.dumps(
            {"metadata": {}, "weight_map": {f"layer.{i}": Path(p).name for i, p in enumerate(parts)}}))
    shards = sorted(p for p in listing if p.startswith("transformer/diffusion_pytorch_model-"))
    assert weights.find(spec, tmp_path / "models").complete
    (folder / shards[1]).unlink()
    found = weights.inspect(spec, tmp_path / "models")  # find() believes a whole model while its folder stands
    assert found.missing == (shards[1],) and "1 file missing" in found.status
    (folder / "transformer/diffusion_pytorch_model.safetensors.index.json").write_text("not json")
    assert weights.inspect(spec, tmp_path / "models").missing == (
        "transformer/diffusion_pytorch_model.safetensors.index.json",)


def test_a_model_fetched_with_hf_download_and_no_patterns_is_found(studio_home, hf_hub):
    """`hf download` of the whole repository (tree listing, every file fetched): found."""
    def whole(folder: Path) -> Path:
        _tiny_klein(folder)
        (folder / "flux-2-klein-4b.safetensors").write_bytes(b"single file")
        return folder

    snap = as_hub_leaves_it(hf_hub, KLEIN, whole, listed_not_fetched={})
    assert registry.locate("flux2-klein-4b") == snap


def test_download_passes_the_patterns_to_huggingface_hub(studio_home, monkeypatch, tmp_path):
    """What `studio models download` asks of huggingface_hub (its call, recorded)."""
    import huggingface_hub

    seen = {}
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kw: seen.update(repo=repo, **kw))
    registry.download("sdxl-inpaint", models_dir=tmp_path)
    assert seen["repo"] == "diffusers/stable-diffusion-xl-1.0-inpainting-0.1"
    assert seen["allow_patterns"] == list(registry.specs()["sdxl-inpaint"].allow_patterns)
    assert seen["local_dir"] == tmp_path / "diffusers--stable-diffusion-xl-1.0-inpainting-0.1"


def test_a_download_cut_short_in_the_hf_cache_is_finished_there(studio_home, hf_hub, monkeypatch, tmp_path):
    import huggingface_hub

    snap = as_hub_leaves_it(hf_hub, KLEIN, _tiny_klein, listed_not_fetched=NOT_FETCHED)
    drop(snap, "vae/diffusion_pytorch_model.safetensors")
    seen = {}
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kw: seen.update(kw) or str(snap))
    assert registry.download("flux2-klein-4b", models_dir=tmp_path) == snap
    assert "local_dir" not in seen and seen["allow_patterns"]
