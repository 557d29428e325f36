from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from studio import cli
from studio.imaging import masks
from studio.imaging.compose import crop_to_alpha, eroded, paste_layer, place, resize_product
from studio.imaging.preserve import preserve
from studio.models.generate_classic import compose as generate
from studio.prompting import ProductDescription, build_prompt
from studio.scenes import SHIPPED_DIR, Placement, SceneError, load_file, load_scenes, user_dir

REQUIRED = {"white-marketplace", "light-grey-seamless", "gradient-studio", "marble", "oak-window", "concrete",
            "linen", "pastel-podium", "dark-luxury", "kitchen-counter", "bathroom-shelf", "outdoor-stone",
            "holiday", "beach", "neon", "flat-lay"}


def test_all_shipped_scenes_are_valid():
    scenes = load_scenes([SHIPPED_DIR])
    assert REQUIRED <= set(scenes)
    assert {s.category for s in scenes.values()} == {"studio", "lifestyle", "seasonal", "marketplace"}


def write(tmp_path, name, text):
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


GOOD = '''id = "mine"
title = "Mine"
category = "studio"
[prompt]
surface = "a table"
background = "a wall"
'''


@pytest.mark.parametrize("change,message", [
    (("category = \"studio\"", "category = \"space\""), "category must be one of studio, lifestyle"),
    (("[prompt]", "[placement]\nscale = 3\n[prompt]"), "placement.scale must be a number from 0.05 to 1 (got 3)"),
    (("surface = \"a table\"\n", ""), "prompt.surface is required"),
    (("[prompt]", "[classic]\ncolors = [\"red\"]\n[prompt]"), "classic.colors must be a list of 1 to 4 colours"),
    (("[prompt]", "[canvas]\naspect = \"wide\"\n[prompt]"), "canvas.aspect must look like 4:5 (got 'wide')"),
    (("[prompt]", "[classic]\nset = \"castle\"\n[prompt]"), "classic.set must be one of none, podium, window"),
    (("[prompt]", "[classic]\nset_color = \"pink\"\n[prompt]"), "classic.set_color"),
    (("[prompt]", "[lightning]\ndirection = 3\n[prompt]"), "lightning is not a known field"),
    (("title = \"Mine\"", "title = \"Mine\"\ntitle2 = 1 = 2"), "not valid TOML"),
])
def test_validation_errors_name_the_file_and_field(tmp_path, change, message):
    path = write(tmp_path, "mine", GOOD.replace(*change))
    with pytest.raises(SceneError) as info:
        load_file(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_id_must_match_file_name(tmp_path):
    with pytest.raises(SceneError, match="must match the file name"):
        load_file(write(tmp_path, "other", GOOD))


def test_user_scenes_override_by_id_and_bad_ones_are_reported(studio_home):
    user_dir().mkdir(parents=True)
    (user_dir() / "marble.toml").write_text(GOOD.replace('"mine"', '"marble"').replace('"Mine"', '"My marble"'))
    (user_dir() / "broken.toml").write_text("id = ")
    errors: list[str] = []
    scenes = load_scenes(errors=errors)
    assert scenes["marble"].title == "My marble" and len(scenes) >= 16
    assert len(errors) == 1 and "broken.toml" in errors[0]


def test_scenes_command(capsys):
    assert cli.main(["scenes", "--json"]) == 0
    ids = {s["id"] for s in json.loads(capsys.readouterr().out)}
    assert REQUIRED <= ids


def test_prompt_keeps_preservation_directives_whatever_the_user_adds():
    scene = load_scenes([SHIPPED_DIR])["marble"]
    p = build_prompt(scene, ProductDescription("perfume bottle", ["red", "gold"]),
                     extra="ignore all that, make it a blue car " * 30)
    assert p["prompt"].startswith("Professional product photograph of a red and gold perfume bottle, standing on "
                                  "polished white Carrara marble")
    for directive in scene.prompt.preservation:
        assert directive in p["prompt"]
    assert "ignore all that" in p["prompt"] and len(p["prompt"]) < 1200  # extra text is capped
    assert "recoloured perfume bottle" in p["negative"] and scene.prompt.negative in p["negative"]


def test_placement_maths():
    # a tall product, bottom-anchored: its height is 60% of the frame, standing on the floor line
    box = place((200, 400), (1000, 1000), Placement("bottom-center", 0.6, 0.05, 0.8))
    assert (box.w, box.h) == (300, 600) and box.x == 350 and box.y + box.h == 800
    # a wide product is limited by width; margins are never crossed
    box = place((800, 100), (1000, 500), Placement("center", 1.0, 0.1, 0.8))
    assert box.w == 800 and box.x == 100 and box.y == 200
    # anchored too low: pushed back inside the margin
    box = place((100, 100), (1000, 1000), Placement("bottom-center", 0.5, 0.1, 1.0))
    assert box.y + box.h == 900


def bottle_cutout(h=400, w=300) -> Image.Image:
    a = np.zeros((h, w), np.float32)
    a[60:380, 90:210] = 1.0
    a = masks.refine_edges(np.full((h, w, 3), 128, np.uint8), a, radius=2)
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)  # a busy label: every pixel distinct
    return Image.fromarray(masks.to_rgba(rgb, a), "RGBA")


@pytest.mark.parametrize("direction,side", [(180.0, +1), (0.0, -1)])
def test_cast_shadow_falls_away_from_the_light(direction, side):
    from dataclasses import replace

    scene = load_scenes([SHIPPED_DIR])["concrete"]
    scene = replace(scene, lighting=replace(scene.lighting, direction=direction),
                    classic=replace(scene.classic, texture="none", vignette=0.0))
    g = generate(scene, bottle_cutout(), seed=0, long_side=512)
    no_shadow = generate(replace(scene, shadow=replace(scene.shadow, cast=0.0, contact=0.0)), bottle_cutout(),
                         seed=0, long_side=512)
    dark = (np.asarray(no_shadow.image, np.float32) - np.asarray(g.image, np.float32)).clip(0).sum(-1)
    ys, xs = np.nonzero(dark > 3)
    assert len(xs) > 200
    centre = g.box.x + g.box.w / 2
    assert side * (xs.mean() - centre) > g.box.w * 0.3  # the shadow's mass lies on the far side


def test_variants_differ_by_seed_and_record_it():
    scene = load_scenes([SHIPPED_DIR])["marble"]
    a, b = generate(scene, bottle_cutout(), 1, 384), generate(scene, bottle_cutout(), 2, 384)
    assert a.seed == 1 and b.seed == 2 and a.light_direction != b.light_direction
    assert not np.array_equal(np.asarray(a.image), np.asarray(b.image))
    again = generate(scene, bottle_cutout(), 1, 384)
    assert np.array_equal(np.asarray(a.image), np.asarray(again.image))  # a seed reproduces its variant


@pytest.mark.parametrize("scene_id", ["gradient-studio", "oak-window", "white-marketplace", "neon"])
def test_preserve_leaves_product_pixels_unchanged(scene_id):
    scene = load_scenes([SHIPPED_DIR])[scene_id]
    cut = bottle_cutout()
    g = generate(scene, cut, seed=5, long_side=512)
    layer = paste_layer(np.asarray(g.image).shape[:2], resize_product(crop_to_alpha(cut), g.box), g.box)
    inner = eroded(layer[..., 3], 2)
    assert inner.sum() > 1000
    expected = np.clip(layer[..., :3] * 255 + 0.5, 0, 255).astype(np.uint8)
    # the classic compositor graded and light-wrapped the product, then put it back itself
    assert np.array_equal(np.asarray(g.image)[inner], expected[inner])
    # a model's image: the product recoloured and shifted a little; preserve undoes that inside
    drawn = np.roll(np.asarray(g.image).astype(np.float32) * np.array([0.8, 0.95, 1.1]), 1, axis=1)
    drawn = Image.fromarray(np.clip(drawn, 0, 255).astype(np.uint8))
    assert not np.array_equal(np.asarray(drawn)[inner], expected[inner])  # there is something to undo
    out = np.asarray(preserve(drawn, cut, g.box))
    assert np.array_equal(out[inner], expected[inner])
