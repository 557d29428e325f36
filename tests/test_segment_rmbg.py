"""The BiRefNet-family cut-outs (RMBG-2.0, BiRefNet, BiRefNet lite) through our loader,
with stand-ins that keep every quirk of the real downloads (tests/standin_birefnet.py),
planted in the models folder or the Hugging Face cache with HF_HUB_OFFLINE=1; and the
licences: what `auto` may pick for a seller, what the CLI and the table say."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from studio import cli  # noqa: E402
from studio.models import registry  # noqa: E402
from studio.models.holder import HOLDER  # noqa: E402
from studio.models.segment_birefnet import BiRefNetSegmenter  # noqa: E402
from studio.models.segment_rmbg import RMBGSegmenter  # noqa: E402
from tests.standin_birefnet import build_standin, iou, plant_in_hf_cache, red_on_blue  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_holder():
    HOLDER.release_all()
    yield
    HOLDER.release_all()


def models_dir(studio_home):
    return studio_home / "models"


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


def test_the_standin_is_as_unkind_as_the_real_download(studio_home):
    from transformers import AutoModelForImageSegmentation

    repo = build_standin(models_dir(studio_home) / "briaai--RMBG-2.0")
    code = (repo / "birefnet.py").read_text()
    assert "import kornia" in code and "from timm" in code and "post_init" not in code
    assert "def __init__(self, bb_pretrained=True, config=BiRefNetConfig()):" in code
    # the way the first version loaded it, and transformers 5 users report it fails
    with pytest.raises(Exception):  # noqa: B017 (any failure: what matters is that this path does not load)
        AutoModelForImageSegmentation.from_pretrained(str(repo), trust_remote_code=True, local_files_only=True)


def test_rmbg_loads_through_our_loader_and_segments(studio_home):
    repo = build_standin(models_dir(studio_home) / "briaai--RMBG-2.0")
    seg = registry.pick_segmenter("rmbg")
    assert isinstance(seg, RMBGSegmenter) and seg.path == repo
    image, mask = red_on_blue()
    result = seg.segment(image)
    assert result.backend == "rmbg-2.0" and result.alpha.shape == (200, 300)
    assert seg.device == "cpu" and next(seg.load().parameters()).dtype == torch.float32
    assert iou(result.alpha > 0.5, mask) > 0.95 and result.confidence > 0.8
    assert seg.load() is seg.load()  # the holder keeps it loaded


def test_each_step_of_the_loader_matters(studio_home):
    """The stand-in's weights mean something: skip a step and the mask is wrong."""
    repo = build_standin(models_dir(studio_home) / "ZhengPeng7--BiRefNet", "ZhengPeng7/BiRefNet")
    seg = BiRefNetSegmenter(repo, device="cpu")
    image, mask = red_on_blue()
    model = seg.load()
    x = seg.preprocess(image)
    with torch.inference_mode():
        right = seg.postprocess(model(x)[-1], image.size) > 0.5
        raw = torch.from_numpy(np.asarray(image.resize((1024, 1024)), np.float32) / 255).permute(2, 0, 1)[None]
        unnormalised = seg.postprocess(model(raw)[-1], image.size) > 0.5
        unresized = model(x)[-1][0, 0].sigmoid().numpy() > 0.5
        fresh = type(model)(config=type(model).config_class())  # constructed, weights not loaded
        unloaded = seg.postprocess(fresh.eval()(x)[-1], image.size) > 0.5
    assert iou(right, mask) > 0.95
    assert iou(unnormalised, mask) < 0.5 and iou(unloaded, mask) < 0.7
    assert unresized.shape != mask.shape


def test_cli_cuts_out_with_each_named_model_from_the_models_folder_or_the_hf_cache(studio_home, hf_hub, tmp_path,
                                                                                   capsys):
    build_standin(models_dir(studio_home) / "briaai--RMBG-2.0")
    plant_in_hf_cache(hf_hub, "ZhengPeng7/BiRefNet")
    plant_in_hf_cache(hf_hub, "ZhengPeng7/BiRefNet_lite")
    image, mask = red_on_blue(600, 400)
    image.save(tmp_path / "red.png")
    for backend, name in (("rmbg", "rmbg-2.0"), ("birefnet", "birefnet"), ("birefnet-lite", "birefnet-lite")):
        assert cli.main(["cutout", str(tmp_path / "red.png"), "--backend", backend, "--out",
                         str(tmp_path / backend), "--json"]) == 0
        [r] = json.loads(capsys.readouterr().out)
        assert r["ok"] and r["backend"] == name
        alpha = np.asarray(Image.open(r["output"]).getchannel("A")) > 127
        assert iou(alpha, mask) > 0.9, backend
        licence_said = any("CC BY-NC 4.0" in n and "commercial" in n for n in r["notes"])
        assert licence_said == (backend == "rmbg")  # named explicitly, a non-commercial model says what it needs


def test_auto_picks_what_the_declared_use_allows(studio_home, hf_hub):
    from studio.config import load_settings, save_settings

    assert registry.pick_segmenter("auto").name == "classic"  # nothing installed
    build_standin(models_dir(studio_home) / "briaai--RMBG-2.0")
    assert registry.pick_segmenter("auto", "commercial").name == "classic"  # RMBG-2.0 is non-commercial
    assert registry.pick_segmenter("auto", "personal").name == "rmbg-2.0"
    plant_in_hf_cache(hf_hub, "ZhengPeng7/BiRefNet")
    assert registry.pick_segmenter("auto", "commercial").name == "birefnet"
    s = load_settings()
    s.usage = "personal"
    save_settings(s)
    assert registry.auto_segmenters("personal") == ["birefnet", "rmbg", "classic"]


def test_a_named_model_is_never_swapped_and_a_broken_one_is_a_sentence(studio_home, tmp_path, capsys):
    image, _ = red_on_blue(600, 400)
    image.save(tmp_path / "red.png")
    # not installed: named explicitly, it fails and says how to install it
    assert cli.main(["cutout", str(tmp_path / "red.png"), "--backend", "birefnet", "--out", str(tmp_path / "o"),
                     "--json"]) == 2
    [r] = json.loads(capsys.readouterr().out)
    assert not r["ok"] and "studio models download birefnet" in r["error"] and "Error:" not in r["error"]
    # installed but broken: a truncated weights file
    repo = build_standin(models_dir(studio_home) / "ZhengPeng7--BiRefNet", "ZhengPeng7/BiRefNet")
    weights = repo / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert cli.main(["cutout", str(tmp_path / "red.png"), "--backend", "birefnet", "--out", str(tmp_path / "o"),
                     "--json"]) == 2
    [r] = json.loads(capsys.readouterr().out)
    assert "BiRefNet: model.safetensors cannot be read" in r["error"] and "re-download" in r["error"]
    # code that needs a package this machine lacks names it
    build_standin(repo, "ZhengPeng7/BiRefNet")
    code = repo / "birefnet.py"
    code.write_text("import not_a_real_package_xyz\n" + code.read_text())
    HOLDER.release_all()
    assert cli.main(["cutout", str(tmp_path / "red.png"), "--backend", "birefnet", "--out", str(tmp_path / "o"),
                     "--json"]) == 2
    [r] = json.loads(capsys.readouterr().out)
    assert "its code cannot be imported" in r["error"] and "not_a_real_package_xyz" in r["error"]
    # weights from another model: the strict load refuses them
    build_standin(repo, "ZhengPeng7/BiRefNet")
    from safetensors.torch import load_file, save_file

    state = load_file(str(weights))
    state["bb.weight"] = torch.zeros(8, 3, 1, 1)
    save_file(state, str(weights))
    HOLDER.release_all()
    assert cli.main(["cutout", str(tmp_path / "red.png"), "--backend", "birefnet", "--out", str(tmp_path / "o"),
                     "--json"]) == 2
    [r] = json.loads(capsys.readouterr().out)
    assert "does not fit its code" in r["error"]


def test_auto_falls_back_to_classic_when_its_model_breaks_and_says_so(studio_home, tmp_path, capsys):
    repo = build_standin(models_dir(studio_home) / "ZhengPeng7--BiRefNet", "ZhengPeng7/BiRefNet")
    (repo / "model.safetensors").write_bytes(b"not weights")
    image, _ = red_on_blue(600, 400)
    image.save(tmp_path / "red.png")
    assert cli.main(["cutout", str(tmp_path / "red.png"), "--out", str(tmp_path / "o"), "--json"]) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["backend"] == "classic" and any("birefnet failed" in n and "classic" in n for n in r["notes"])


def test_found_in_the_hugging_face_cache(hf_hub):
    snap = plant_in_hf_cache(hf_hub, "briaai/RMBG-2.0")
    assert registry.locate("rmbg-2.0") == snap


def test_every_model_carries_its_licence(capsys):
    assert cli.main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)["models"]
    assert {"rmbg-2.0", "birefnet", "birefnet-lite", "flux-fill-dev", "sdxl-inpaint", "clip-vit-b-32"} <= {
        m["id"] for m in models}
    for m in models:
        assert m["licence"] and m["licence_url"].startswith("https://") and m["licence_note"]
        assert m["commercial_use"] in ("yes", "no", "paid-licence") and m["size_gb"] > 0 and m["vram_gb"] > 0
    by_id = {m["id"]: m for m in models}
    assert by_id["rmbg-2.0"]["commercial_use"] == "paid-licence" and by_id["birefnet"]["commercial_use"] == "yes"
    assert "DIS5K" in by_id["birefnet"]["licence_note"]


def test_downloading_a_non_commercial_model_says_so_first(capsys):
    assert cli.main(["models", "download", "rmbg-2.0"]) == 2  # offline here
    out = capsys.readouterr()
    assert out.out.startswith("note: RMBG-2.0: CC BY-NC 4.0") and "commercial agreement" in out.out
    assert "offline" in out.err


def test_rmbgs_fp32_window_mask_breaks_a_half_model_and_autocast_runs_it(studio_home):
    """RMBG-2.0's code builds the Swin window mask in fp32: the model turned to fp16 with
    `.half()` fails in its attention matmul. Studio keeps the weights fp32 and lets
    autocast pick each op's precision (fp16 on CUDA); on this CPU the same code path
    runs under bf16 autocast and still cuts the product out."""
    from studio.models.birefnet_family import load_remote_birefnet, run_model

    repo = build_standin(models_dir(studio_home) / "briaai--RMBG-2.0")
    seg = RMBGSegmenter(repo, device="cpu")
    image, mask = red_on_blue()
    x = seg.preprocess(image)
    half = load_remote_birefnet(repo, "RMBG-2.0").half()
    with pytest.raises(RuntimeError, match="dtype|Half|Float"), torch.inference_mode():
        half(x.half())
    model = seg.load()
    assert next(model.parameters()).dtype == torch.float32
    with torch.inference_mode():
        logits = run_model(model, x, torch.bfloat16)[-1]
    assert logits.dtype == torch.bfloat16  # the ops ran in the lower precision
    assert iou(seg.postprocess(logits, image.size) > 0.5, mask) > 0.95


@pytest.mark.cuda
def test_rmbg_runs_on_cuda_under_fp16_autocast(studio_home):
    repo = build_standin(models_dir(studio_home) / "briaai--RMBG-2.0")
    seg = RMBGSegmenter(repo, device="cuda")
    image, mask = red_on_blue()
    result = seg.segment(image)
    assert next(seg.load().parameters()).dtype == torch.float32 and seg.autocast_dtype == torch.float16
    assert iou(result.alpha > 0.5, mask) > 0.95
