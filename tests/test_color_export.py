from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studio.imaging.color import Adjustments, apply_adjustments, correct, delta_e
from studio.imaging.export import PRESETS, custom_preset, export, get_preset, zip_files


def product_scene(h=600, w=500):
    """A green-grey scene with a multicoloured product in the middle, and its alpha."""
    rng = np.random.default_rng(0)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (120, 160, 130)
    alpha = np.zeros((h, w), np.float32)
    alpha[150:450, 175:325] = 1.0
    product = rng.integers(30, 225, (300, 150, 3), dtype=np.uint8)
    img[150:450, 175:325] = product
    return img, alpha


def test_colour_match_removes_a_deliberate_cast():
    original, alpha = product_scene()
    cast = np.clip(original.astype(np.float32) * np.array([1.18, 1.0, 0.78]) + 6, 0, 255).astype(np.uint8)
    product = alpha > 0.99
    out, report = correct(cast, Adjustments(match_product=True), product, original)
    before, after = report["delta_e_before"]["mean"], report["delta_e_after"]["mean"]
    assert before > 5 and after < 1.5 and after < before / 4
    assert delta_e(out, original, product)["mean"] == after
    # without matching, nothing improves
    _, report = correct(cast, Adjustments(match_product=False), product, original)
    assert report["delta_e_after"] == report["delta_e_before"]


def test_auto_white_balance_neutralises_a_grey_background():
    img = np.full((100, 100, 3), (150, 130, 100), np.uint8)  # a warm cast on a grey card
    out = apply_adjustments(img, Adjustments(auto_white_balance=1.0), np.ones((100, 100), bool))
    r, g, b = out[50, 50].astype(int)
    assert max(r, g, b) - min(r, g, b) <= 2


@pytest.mark.parametrize("field,value,check", [
    ("exposure", 1.0, lambda a, b: b.mean() > a.mean() * 1.2),
    ("temperature", 60, lambda a, b: (b[..., 0].mean() - b[..., 2].mean()) > (a[..., 0].mean() - a[..., 2].mean())),
    ("tint", 60, lambda a, b: b[..., 1].mean() < a[..., 1].mean()),
    ("saturation", -100, lambda a, b: np.abs(b.astype(int) - b.mean(-1, keepdims=True)).max() <= 1),
    ("contrast", 50, lambda a, b: b.std() > a.std()),
])
def test_manual_adjustments(field, value, check):
    img, _ = product_scene()
    out = apply_adjustments(img, Adjustments(**{field: value}))
    assert check(img.astype(np.float32), out.astype(np.float32))
    assert Adjustments.from_dict({field: value, "bogus": 1}) == Adjustments(**{field: value})


@pytest.mark.parametrize("preset_id", sorted(PRESETS))
def test_each_preset_size_and_verdict(preset_id):
    img, alpha = product_scene()
    preset = get_preset(preset_id)
    data, report = export(img, alpha, preset)
    im = Image.open(io.BytesIO(data))
    assert im.size == (preset.width, preset.height) and im.format == "JPEG"
    assert report["ok"], report
    names = {c["check"] for c in report["checks"]}
    assert {"size", "colour space"} <= names
    if preset.white_background:
        assert {"background purity", "fill"} <= names
        rgb = np.asarray(im.convert("RGB"))
        assert (rgb[:20, :20] == 255).all()


def test_amazon_main_fails_when_the_background_is_not_white():
    from dataclasses import replace

    from studio.imaging.export import compliance, encode, render

    img, alpha = product_scene()
    main = get_preset("amazon-main")
    # the scene kept (not replaced by white) and the product left small: both rules fail
    kept = replace(main, white_background=False, fill=None)
    rgb, out_alpha = render(img, alpha, kept)
    report = compliance(encode(rgb, kept), out_alpha, main)
    assert not report["ok"]
    assert {c["check"] for c in report["checks"] if not c["ok"]} == {"background purity", "fill"}


def test_white_background_blends_the_product_edge_and_whitens_the_rest():
    """A frame at the preset's size over white: the soft edge is the alpha blend over
    white, full alpha the product's own pixels, no alpha pure white (the blend runs only
    over the product's box)."""
    from studio.imaging.export import render

    main = get_preset("amazon-main")
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (main.height, main.width, 3), dtype=np.uint8)
    alpha = np.zeros((main.height, main.width), np.float32)
    alpha[300:1700, 600:1400] = 1.0
    alpha[300:1700, 590:600] = np.linspace(0.001, 0.9, 10, dtype=np.float32)
    rgb, out_alpha = render(img, alpha, main)
    want = np.clip(img * alpha[..., None] + 255.0 * (1 - alpha[..., None]) + 0.5, 0, 255).astype(np.uint8)
    want[alpha < 0.004] = 255
    assert np.array_equal(rgb, want) and np.array_equal(out_alpha, alpha)
    assert (rgb[:300] == 255).all() and np.array_equal(rgb[300:1700, 600:1400], img[300:1700, 600:1400])


def test_small_custom_export_fails_ebay_size_rule_and_formats():
    img, alpha = product_scene()
    data, report = export(img, alpha, custom_preset(800, 800, "PNG"))
    assert report["ok"] and Image.open(io.BytesIO(data)).format == "PNG"
    from dataclasses import replace

    small_ebay = replace(get_preset("ebay"), width=1000, height=1000)
    _, report = export(img, alpha, small_ebay)
    assert not report["ok"] and [c["check"] for c in report["checks"] if not c["ok"]] == ["size"]
    data, _ = export(img, alpha, get_preset("shopify", fmt="webp", quality=80))
    assert Image.open(io.BytesIO(data)).format == "WEBP"
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("myspace")


def test_zip_holds_every_file():
    import zipfile

    z = zipfile.ZipFile(io.BytesIO(zip_files({"a.jpg": b"1", "b/c.jpg": b"22"})))
    assert sorted(z.namelist()) == ["a.jpg", "b/c.jpg"] and z.read("b/c.jpg") == b"22"
