"""Sharp at the export size (issue 30): generators paint at their own resolution, an
upscaler takes the plate to the canvas, and a product photographed small is enlarged
and said to be. Tiny Swin2SR checkpoints (tests/tiny_swin2sr.py) stand in for the real
ones, planted as huggingface_hub leaves a download."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from studio import cli
from studio.models import registry
from studio.models.holder import HOLDER
from studio.models.upscale_classic import ClassicUpscaler
from tests.hub_cache import as_hub_leaves_it
from tests.synth import make_case
from tests.test_api import server, wait  # noqa: F401 (server is a fixture)
from tests.tiny_swin2sr import build_tiny_swin2sr

torch = pytest.importorskip("torch")

X2 = "caidas/swin2SR-classical-sr-x2-64"
X4_JPEG = "caidas/swin2SR-compressed-sr-x4-48"


@pytest.fixture(autouse=True)
def fresh_holder():
    HOLDER.release_all()
    yield
    HOLDER.release_all()


def _plant(hf_hub, repo: str):
    return as_hub_leaves_it(hf_hub, repo, lambda folder: build_tiny_swin2sr(folder, repo),
                            listed_not_fetched={"README.md": 642, ".gitattributes": 1480})


def test_swin2sr_loads_offline_from_the_hf_cache_and_tiles_without_seams(studio_home, hf_hub):
    snap = _plant(hf_hub, X2)
    up = registry.pick_upscaler("auto", 1.8)
    assert up.name == "swin2sr-x2" and up.path == snap
    rng = np.random.default_rng(0)
    rgb = (rng.random((304, 520, 3)) * 255).astype(np.uint8)  # larger than a tile: several, overlapping
    tiled = up.enlarge(rgb)
    with torch.inference_mode():
        whole = up.load()(pixel_values=torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None])
    whole = (whole.reconstruction[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert tiled.shape == (608, 1040, 3)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1  # the tiles blend into the model's own output
    # any size, even one the model's windows do not divide, to the size asked for
    out = up.upscale(Image.fromarray(rgb[:37, :61]), (150, 91))
    assert out.size == (150, 91)


def test_the_x4_checkpoints_load_from_their_pickled_weights(studio_home, hf_hub):
    snap = _plant(hf_hub, X4_JPEG)
    assert (snap / "pytorch_model.bin").exists() and not (snap / "model.safetensors").exists()
    up = registry.pick_upscaler("auto", 3.0, photo=True)
    assert up.name == "swin2sr-x4-jpeg"
    assert up.enlarge(np.zeros((24, 40, 3), np.uint8)).shape == (96, 160, 3)


def test_without_a_model_auto_is_the_classic_upscaler_and_off_is_none(studio_home, hf_hub):
    assert isinstance(registry.pick_upscaler("auto", 2.0), ClassicUpscaler)
    assert registry.pick_upscaler("off", 2.0) is None
    from studio.models.base import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="studio models download swin2sr-x2"):
        registry.pick_upscaler("swin2sr-x2", 2.0)
    # the classic one is sharper than plain resampling on a real edge
    photo, _ = make_case("red-bottle-on-gradient", h=120, w=160)
    import cv2

    big = np.asarray(ClassicUpscaler().upscale(Image.fromarray(photo), (480, 360))).astype(np.float32)
    plain = cv2.resize(photo, (480, 360), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    grad = [float(np.abs(np.diff(x.mean(axis=2), axis=1)).mean()) for x in (big, plain)]
    assert grad[0] > grad[1]


@pytest.mark.parametrize("installed", [True, False])
def test_klein_paints_at_its_own_size_and_the_plate_goes_up_to_a_2048_canvas(studio_home, hf_hub, tmp_path,
                                                                            capsys, monkeypatch, installed):
    """A 2048 px scene through `studio shoot` with the tiny klein: painted at klein's
    size (1 MP for the real model; 128² here, where a CPU paints the tiny one in
    seconds), taken up to the canvas by the tiny Swin2SR ×4 (or, with no upscaling model
    installed, the classic upscaler), recorded on the variant; the export is the
    preset's size."""
    from studio.app.context import open_store
    from studio.app.history import job_detail
    from studio.models.generate_klein import KleinGenerator
    from studio.models.inpaint_common import paint_size
    from tests.tiny_flux import build_tiny_flux2_klein

    assert paint_size((2048, 2048), KleinGenerator.paint_px) == (1024, 1024)  # the real model's
    monkeypatch.setattr(KleinGenerator, "paint_px", 128 * 128)
    as_hub_leaves_it(hf_hub, "black-forest-labs/FLUX.2-klein-4B", build_tiny_flux2_klein, listed_not_fetched={})
    if installed:
        _plant(hf_hub, "caidas/swin2SR-realworld-sr-x4-64-bsrgan-psnr")
    photo, _ = make_case("red-bottle-on-gradient", h=600, w=800)
    Image.fromarray(photo).save(tmp_path / "bottle.png")
    code = cli.main(["shoot", str(tmp_path / "bottle.png"), "--engine", "klein", "--steps", "1", "--variants", "1",
                     "--scene", "marble", "--long-side", "2048", "--out", str(tmp_path / "out"), "--json"])
    [r] = json.loads(capsys.readouterr().out)
    assert code == 0 and r["status"] == "done", r
    [v] = job_detail(open_store(), r["job"])["variants"]
    cw, ch = 2048, 2048  # frame first: the canvas is the shopify preset's square
    w, h = v["painted_size"]
    assert [w, h] == list(paint_size((cw - cw % 16, ch - ch % 16), 128 * 128)) and w * h <= 128 * 128
    assert v["upscaler"] == ("swin2sr-x4" if installed else "classic") and v["upscale_factor"] >= 15
    with Image.open(r["files"][0]) as shot:
        assert shot.size == (2048, 2048)  # the shopify preset, from the 2048 canvas


def test_a_small_product_is_enlarged_and_the_report_says_so(studio_home, tmp_path, capsys):
    """A bottle a third of a 360×270 photo's height, shot on a 2048 px canvas for Amazon's
    2000² main image: enlarged several times, said in the compliance report and by the
    CLI. With --upscale off the product's pixels are the photo's, resampled as before."""
    from studio.app.context import open_store
    from studio.pipeline import keys, queries

    photo, _ = make_case("red-bottle-on-gradient", h=270, w=360)
    Image.fromarray(photo).save(tmp_path / "small.png")
    args = ["shoot", str(tmp_path / "small.png"), "--engine", "classic", "--variants", "1", "--scene", "marble",
            "--preset", "amazon-main", "--long-side", "2048"]
    assert cli.main([*args, "--out", str(tmp_path / "a"), "--json"]) == 0
    [r] = json.loads(capsys.readouterr().out)
    enlarged = r["cutout"]["enlarged"]
    assert enlarged["upscaler"] == "classic" and enlarged["factor"] > 3
    assert enlarged["note"].startswith(f"product enlarged {enlarged['factor']:.1f}× from {enlarged['from_px']} px")
    assert r["variants"][0]["compliance"]["product_enlarged"] == enlarged["note"]
    big = queries.stage_output(open_store(), r["job"], keys.ENLARGE)["cutout"]
    matte = queries.stage_output(open_store(), r["job"], keys.MATTE)["cutout"]
    assert max(big.size) > 3 * max(matte.size)
    assert cli.main([*args, "--out", str(tmp_path / "b"), "--upscale", "off"]) == 0
    out = capsys.readouterr().out
    assert "product enlarged" not in out
    assert cli.main([*args, "--out", str(tmp_path / "c")]) == 0
    assert "product enlarged" in capsys.readouterr().out


def test_a_tiny_sdxl_paints_at_about_a_megapixel(studio_home, hf_hub, tmp_path):
    from studio.models.inpaint_common import paint_size

    assert paint_size((2048, 2048), 1024 * 1024, 8) == (1024, 1024)
    w, h = paint_size((2000, 1600), 1024 * 1024, 8)
    assert w * h <= 1024 * 1024 and abs(w / h - 2000 / 1600) < 0.02 and w % 8 == 0 and h % 8 == 0
    assert paint_size((640, 480), 1024 * 1024) == (640, 480)  # small canvases are painted as they are


def test_the_api_takes_upscale_and_answers_what_was_enlarged(server):  # noqa: F811
    import io

    client, _, _ = server
    photo, _ = make_case("red-bottle-on-gradient", h=270, w=360)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "PNG")
    jobs = {}
    for upscale in ("classic", "off"):
        params = {"engine": "classic", "variants": 1, "scene": "marble", "long_side": 1024, "upscale": upscale}
        r = client.post("/shoots", files={"photo": ("small.png", buf.getvalue(), "image/png")},
                        data={"params": json.dumps(params)})
        assert r.status_code == 202, r.text
        jobs[upscale] = wait(client, r.json()["id"], timeout=120)
    assert jobs["classic"]["cutout"]["enlarged"]["upscaler"] == "classic"
    assert jobs["off"]["cutout"]["enlarged"] is None
    bad = client.post("/shoots", files={"photo": ("small.png", buf.getvalue(), "image/png")},
                      data={"params": json.dumps({"upscale": "sharpen-please"})})
    assert bad.status_code == 422 and "upscale" in bad.text
