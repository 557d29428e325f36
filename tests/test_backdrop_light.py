"""Issue 39's follow-ups on a seller's backdrop photo: the key light's direction from the
depth model's normals against the photo's shading (a scene rendered from its geometry
with a known light, its true depth kept as a depth model leaves it), never from below the
horizon; the product's cast shadow as soft as the photo's own shadows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from studio.app.backdrops import add_backdrop_scene
from studio.imaging import light
from studio.models.generate_classic import compose
from studio.scenes import get_scene
from tests.backdrops import lit_room, table_photo
from tests.synth import make_case


def _angle(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def _cutout() -> Image.Image:
    photo, truth = make_case("red-bottle-on-gradient")
    return Image.fromarray(np.dstack([photo, truth.astype(np.uint8) * 255]), "RGBA")


@pytest.mark.parametrize("true_light", [30, 90, 150, 200, 300])
def test_the_light_is_read_from_the_normals_against_the_shading(true_light):
    """A rug makes the floor's right half brighter (brightness that is not light): the
    normals' reading finds the true light all the same, mirrored above the horizon."""
    rgb, truth = lit_room(true_light, albedo_right=1.6)
    found = light.direction_from_depth(rgb, truth["disparity"])
    assert found is not None
    direction, strength = found
    assert 0 <= direction <= 180 and strength > 0
    assert _angle(direction, light.above_horizon(truth["direction"])) < 15


def test_the_brightness_reading_is_fooled_where_the_normals_are_not():
    rgb, truth = lit_room(150, albedo_right=1.6)
    assert _angle(light.read_direction(rgb)[0], truth["direction"]) > 40  # the rug reads as light
    assert _angle(light.direction_from_depth(rgb, truth["disparity"])[0], truth["direction"]) < 15


def test_a_depth_map_that_tells_nothing_leaves_the_brightness_reading():
    rgb, _ = lit_room(150)
    assert light.direction_from_depth(rgb, np.full((48, 64), 0.4, np.float32)) is None
    assert light.direction_from_depth(rgb, np.zeros((3, 3), np.float32)) is None


def _with_depth(scene, grid: np.ndarray):
    """The scene's file with a depth map kept in it, as add_backdrop_scene keeps a model's."""
    path = Path(scene.source)
    rows = repr([[round(float(v), 3) for v in row] for row in grid])
    path.write_text(path.read_text(encoding="utf-8").replace(
        "[backdrop]\n", f'[backdrop]\ndepth_model = "depth-anything-v2-small"\ndepth = {rows}\n', 1), encoding="utf-8")
    return get_scene(scene.id)


def test_a_shot_on_a_backdrop_with_depth_takes_its_light_from_the_normals(studio_home, tmp_path):
    rgb, truth = lit_room(150, albedo_right=1.6)
    Image.fromarray(rgb).save(tmp_path / "room.png")
    plain = add_backdrop_scene("lit-room", tmp_path / "room.png")
    deep = _with_depth(plain, truth["disparity"])
    assert deep.backdrop.depth is not None
    look = lambda scene: compose(scene, _cutout(), 0, 512, None, rgb).look  # noqa: E731
    assert _angle(look(deep)["light_direction"], truth["direction"]) < 15


def _shadowed(sigma: float, w: int = 1200, h: int = 900) -> np.ndarray:
    """A table photo with two cast shadows on its top (an ellipse, a box's), their edges
    blurred by `sigma` (a share of the height; 0: a point light's hard edge)."""
    rgb = table_photo(w, h, edge=0.5).astype(np.float32)
    m = np.zeros((h, w), np.float32)
    cv2.ellipse(m, (int(0.2 * w), int(0.75 * h)), (int(0.1 * w), int(0.06 * h)), 20, 0, 360, 1.0, -1)
    cv2.rectangle(m, (int(0.68 * w), int(0.62 * h)), (int(0.9 * w), int(0.8 * h)), 1.0, -1)
    if sigma > 0:
        m = cv2.GaussianBlur(m, (0, 0), sigma * h)
    return np.clip(rgb * (1 - 0.55 * m)[..., None], 0, 255).astype(np.uint8)


def test_the_photos_shadow_edges_are_measured():
    hard, soft = light.shadow_edge_width(_shadowed(0.0), 0.5), light.shadow_edge_width(_shadowed(0.01), 0.5)
    assert hard < 0.005 and soft == pytest.approx(0.01, rel=0.3)
    assert light.shadow_edge_width(table_photo(edge=0.5), 0.5) is None  # wood grain and light falloff are no shadow


def _cast_edge(scene, photo: np.ndarray) -> tuple[float, float]:
    """(the product's cast shadow's edge width as a share of the frame's height, the
    softness the shot reports): the shot against the same shot with no shadow."""
    no_contact = dataclasses.replace(scene, shadow=dataclasses.replace(scene.shadow, contact=0.0, cast=0.6))
    bare = dataclasses.replace(scene, shadow=dataclasses.replace(scene.shadow, contact=0.0, cast=0.0))
    shot = compose(no_contact, _cutout(), 0, 768, None, photo)
    plate = compose(bare, _cutout(), 0, 768, None, photo)
    assert shot.box == plate.box
    a = np.asarray(shot.image, np.float32).mean(axis=2) + 1
    b = np.asarray(plate.image, np.float32).mean(axis=2) + 1
    dark = 1 - np.clip(a / b, 0, 1)
    gy, gx = np.gradient(cv2.GaussianBlur(dark, (0, 0), 0.8))
    steep = np.hypot(gx, gy)
    x, y, w, h, m = shot.box.x, shot.box.y, shot.box.w, shot.box.h, 10
    steep[max(0, y - m):y + h + m, max(0, x - m):x + w + m] = 0  # where the product hides the shadow's root
    # a blurred edge of darkness Δ is steepest at Δ / (σ√(2π)): its width is Δ over that
    return float(dark.max() / steep.max()) / dark.shape[0], shot.look["light_softness"]


def test_the_products_cast_shadow_is_as_soft_as_the_photos_own(studio_home, tmp_path):
    widths = {}
    for kind, sigma in (("hard", 0.0), ("soft", 0.012)):
        Image.fromarray(_shadowed(sigma)).save(tmp_path / f"{kind}.png")
        scene = add_backdrop_scene(f"table-{kind}", tmp_path / f"{kind}.png")
        widths[kind] = _cast_edge(scene, np.asarray(Image.open(tmp_path / f"{kind}.png")))
    (hard, hard_soft), (soft, soft_soft) = widths["hard"], widths["soft"]
    assert hard_soft < soft_soft
    assert soft > 1.8 * hard


def test_a_backdrops_depth_is_read_again_when_the_photo_changes_or_the_model_arrives(studio_home, hf_hub, tmp_path,
                                                                                     capsys):
    """Scenes kept before Depth Anything was installed get their depth: a shoot's
    `--backdrop` of the same photo on its next use, `studio scenes depth NAME` on asking;
    `scenes add --force` with another photo reads that photo's depth (its aspect)."""
    pytest.importorskip("transformers")
    from studio import cli
    from studio.app.backdrops import scene_for_photo
    from studio.models.depth_anything import WEIGHTS
    from tests.backdrops import HARD
    from tests.hub_cache import as_hub_leaves_it
    from tests.tiny_depth import REPO, build_tiny_depth_anything

    wide, tall = tmp_path / "wide.png", tmp_path / "tall.png"
    Image.fromarray(HARD["wood-table"](640, 480)[0]).save(wide)
    Image.fromarray(HARD["wood-table"](480, 640)[0]).save(tall)
    assert cli.main(["scenes", "add", "bench", "--backdrop", str(wide), "--spot", "0.4,0.8"]) == 0
    shoot_scene = scene_for_photo(wide)
    assert get_scene("bench").backdrop.depth is None and shoot_scene.backdrop.depth is None
    capsys.readouterr()
    assert cli.main(["scenes", "depth", "bench"]) == 2  # no model: said, nothing changed
    assert "no depth model" in capsys.readouterr().err and get_scene("bench").backdrop.depth is None
    assert cli.main(["scenes", "depth", "concrete"]) == 2  # a shipped scene is not the seller's

    as_hub_leaves_it(hf_hub, REPO, build_tiny_depth_anything,
                     listed_not_fetched={"README.md": 4400, ".gitattributes": 1520})
    again = scene_for_photo(wide)
    assert again.id == shoot_scene.id and again.backdrop.depth_model == WEIGHTS.id
    assert np.asarray(again.backdrop.depth).shape == (48, 64)
    assert cli.main(["scenes", "depth", "bench"]) == 0
    bench = get_scene("bench")
    assert bench.backdrop.depth_model == WEIGHTS.id and bench.backdrop.spot == (0.4, 0.8)  # the click stays
    assert cli.main(["scenes", "add", "bench", "--backdrop", str(tall), "--force"]) == 0
    assert np.asarray(get_scene("bench").backdrop.depth).shape == (64, 48)  # the new photo's, not the old


def test_a_reference_object_in_the_photo_gives_the_product_its_real_size():
    from studio.imaging import backdrop as bdrop
    from tests.backdrops import HARD

    rgb, _ = HARD["wood-table"](800, 600)
    geo = bdrop.find_surfaces(rgb)
    mug = ((0.2, 0.55, 0.3, 0.75), 10.0)  # a 10 cm mug standing at 0.75
    beside = bdrop.fill_at(geo, (0.5, 0.75), (100, 300), (800, 600), product_cm=10.0, reference=mug)
    assert beside == pytest.approx(0.2, abs=0.005)  # as tall as the mug beside it
    assert bdrop.fill_at(geo, (0.5, 0.75), (100, 300), (800, 600), product_cm=20.0, reference=mug) == pytest.approx(
        2 * beside, rel=0.01)
    assert bdrop.fill_at(geo, (0.5, 0.6), (100, 300), (800, 600), product_cm=10.0, reference=mug) < 0.9 * beside


def test_scenes_add_keeps_a_reference_object_and_a_shots_size_cm_follows_it(studio_home, tmp_path, capsys):
    from studio import cli
    from studio.pipeline.shot_inputs import shot_scene
    from tests.backdrops import HARD

    Image.fromarray(HARD["wood-table"](800, 600)[0]).save(tmp_path / "t.png")
    add = ["scenes", "add", "bench", "--backdrop", str(tmp_path / "t.png"), "--spot", "0.5,0.8"]
    assert cli.main([*add, "--reference-box", "0.2,0.55,0.3,0.8", "--reference-cm", "25"]) == 0
    scene = get_scene("bench")
    assert scene.backdrop.reference_box == (0.2, 0.55, 0.3, 0.8) and scene.backdrop.reference_cm == 25
    photo = np.asarray(Image.open(scene.backdrop.path(scene.source)))
    boxes = [compose(shot_scene({"scene": "bench", "size_cm": cm}), _cutout(), 0, 768, None, photo).box
             for cm in (5.0, 10.0)]
    assert boxes[1].h == pytest.approx(2 * boxes[0].h, rel=0.05)
    capsys.readouterr()
    for bad in (["--reference-box", "0.3,0.55,0.2,0.8", "--reference-cm", "25"], ["--reference-box", "0.2,0.55,0.3"],
                ["--reference-box", "0.2,0.55,0.3,0.8"], ["--reference-box", "0.2,0.5,0.3,nan", "--reference-cm", "9"]):
        assert cli.main([*add, "--force", *bad]) == 2, bad
        assert "reference" in capsys.readouterr().err
    assert get_scene("bench").backdrop.reference_cm == 25  # a refusal changed nothing
