"""A product photographed small and enlarged for the frame keeps clean edges at 100%
(QA pass on the merged classic shoot): no rim of the photo's old background round it on
a dark scene, and no light halo beside the dark print of its label."""

from __future__ import annotations

import json

import cv2
import numpy as np
from PIL import Image

from studio import cli
from studio.imaging.masks import pad_colours
from studio.models.upscale_classic import ClassicUpscaler


def test_the_classic_upscaler_draws_no_halo_beside_a_dark_line():
    """A label's print: 2 px dark lines on light grey, enlarged 3.5×. Lanczos' lobes and
    the unsharp pass would put a lighter rim than the label beside each line, and a
    darker trough than the print inside it."""
    rgb = np.full((60, 80, 3), 200, np.uint8)
    rgb[20:22, 10:70] = 30
    rgb[40:42, 10:70] = 30
    rgb += np.random.default_rng(0).integers(0, 3, rgb.shape, dtype=np.uint8)  # a little grain
    out = np.asarray(ClassicUpscaler().upscale(Image.fromarray(rgb), (280, 210))).astype(int)
    assert out.max() <= int(rgb.max()) and out.min() >= int(rgb.min())
    # still an enlargement with edges, not a blur: the lines keep their full depth
    assert out[:, 140].min() <= 32


def test_padding_gives_the_edge_the_colour_of_the_product_not_the_background():
    rgb = np.zeros((30, 30, 3), np.uint8)
    rgb[:] = (250, 250, 250)
    rgb[8:22, 8:22] = (150, 30, 40)
    alpha = np.zeros((30, 30), np.uint8)
    alpha[8:22, 8:22] = 255
    alpha[7, 8:22] = 120  # a mixed pixel, lighter than the product
    rgb[7, 8:22] = (200, 140, 145)
    alpha[0, 0] = 60  # a wisp far from anything solid keeps its own colour
    out = pad_colours(rgb, alpha)
    assert (out[alpha == 255] == rgb[alpha == 255]).all()
    assert (out[7, 8:22] == (150, 30, 40)).all() and (out[25, 25] == (150, 30, 40)).all()
    assert (out[0, 0] == rgb[0, 0]).all()


def test_a_small_product_enlarged_onto_a_dark_scene_has_no_light_rim(studio_home, tmp_path, capsys):
    """A red card on white paper, photographed small and shot for a 2000² frame on the
    dark-luxury scene: enlarged several times. Its edge pixels (partly and wholly
    covered, next to the outline) carry the card's red, not the paper's white that the
    upscaler's kernel reaches across the edge for."""
    from studio.app.context import open_store
    from studio.pipeline import keys, queries

    h, w = 300, 400
    mask = np.zeros((h, w), np.float32)
    cv2.rectangle(mask, (150, 90), (250, 210), 1.0, -1)
    soft = cv2.GaussianBlur(mask, (0, 0), 0.8)[..., None]
    red, paper = np.array([170, 40, 45], np.float32), np.array([245, 245, 242], np.float32)
    photo = paper * (1 - soft) + red * soft + np.random.default_rng(1).normal(0, 1.5, (h, w, 3))
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(tmp_path / "card.png")
    assert cli.main(["shoot", str(tmp_path / "card.png"), "--engine", "classic", "--variants", "1",
                     "--scene", "dark-luxury", "--preset", "amazon-secondary", "--long-side", "1024",
                     "--out", str(tmp_path / "out"), "--json"]) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["cutout"]["enlarged"]["factor"] > 3
    big = np.asarray(queries.stage_output(open_store(), r["job"], keys.ENLARGE)["cutout"]).astype(float)
    a = big[..., 3] / 255
    inside = (a > 0.5).astype(np.uint8)
    edge = (inside > 0) & (cv2.erode(inside, np.ones((9, 9), np.uint8)) == 0)  # 4 px inside the outline
    # lightness added by the paper shows in green and blue (the card has little of either)
    gb = big[..., 1:3][edge].mean(axis=1)
    assert np.percentile(gb, 95) < 42 + 25, f"light rim: green/blue {np.percentile(gb, 95):.0f} at the edge"
