"""The product stands in the seller's backdrop photo (issue 39): on hard backdrops of the
kinds sellers bring (tests/backdrops.py: a wooden table against a wall, a table with
bokeh behind, a lit table in a dark studio, a pink three-tier podium, a dark room's
floor) the surfaces are found, the default spot puts the product's foot on the main top
surface, wholly in the frame, at a plausible size, with a contact shadow under it;
further back is smaller; shadows lie on the plane and the light never comes from below
the horizon; light match 1 in a dark room makes a dark product whose colour under that
light stays true; Depth Anything V2 (a tiny stand-in built with transformers' classes)
is read once when the backdrop is added, kept with the scene and used by every shot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.app.backdrops import add_backdrop_scene, keep_clicked_spot, preview, update_backdrop
from studio.imaging import backdrop as bdrop
from studio.imaging import light
from studio.models.generate_classic import compose
from tests.backdrops import HARD, dark_room_floor, table_photo
from tests.synth import make_case

SIZES = [(1024, 768), (768, 1024)]


def _cutout(case: str = "red-bottle-on-gradient") -> Image.Image:
    photo, truth = make_case(case)
    return Image.fromarray(np.dstack([photo, truth.astype(np.uint8) * 255]), "RGBA")


def _add(tmp_path, name: str, rgb: np.ndarray, **choices):
    Image.fromarray(rgb).save(tmp_path / f"{name}.png")
    return add_backdrop_scene(name, tmp_path / f"{name}.png", **choices)


def _shot(scene, cutout=None, light_match: float = 0.0, seed: int = 0):
    photo = np.asarray(Image.open(scene.backdrop.path(scene.source)))
    return compose(scene, cutout or _cutout(), seed, None, None, photo, light_match), photo


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", list(HARD))
def test_the_classical_finder_finds_the_main_top_surface(kind, size):
    rgb, truth = HARD[kind]()
    plate = bdrop.plate(rgb, size)
    # the photo's own framing is the truth's: a cover crop changes rows only when the aspect does
    geo = bdrop.find_surfaces(plate)
    top, bottom = truth["top"]
    h, w = rgb.shape[:2]
    W, H = size
    s = max(W / w, H / h)
    crop_y = (h * s - H) / 2 / (h * s)
    to_frame = lambda v: (v - crop_y) / (1 - 2 * crop_y)  # noqa: E731
    main = geo.main
    assert main is not None
    assert main.top == pytest.approx(to_frame(top), abs=0.02)
    assert main.bottom == pytest.approx(min(1.0, to_frame(bottom)), abs=0.02)
    x, y = bdrop.default_spot(geo)
    assert main.contains(x, y) and to_frame(top) < y < to_frame(bottom)
    # the front of the table or of the step, right under the top, is no surface
    assert not any(abs(s.top - main.bottom) < 0.01 for s in geo.surfaces)
    assert 0.0 < geo.horizon < main.top or geo.horizon <= 0.0  # above the surface's far edge


def test_depth_confirms_the_surfaces_and_places_the_horizon():
    """With the depth a model would read (disparity: large near), the same surfaces are
    found, marked as facing up; a depth map that says nothing (flat) changes nothing."""
    for kind, make in HARD.items():
        rgb, truth = make()
        plain = bdrop.find_surfaces(rgb)
        deep = bdrop.find_surfaces(rgb, truth["disparity"])
        assert deep.main.top == pytest.approx(plain.main.top, abs=0.01), kind
        assert deep.main.faces_up and deep.from_depth, kind
        assert deep.horizon < deep.main.top, kind
        flat = bdrop.find_surfaces(rgb, np.full((48, 64), 0.5, np.float32))
        assert flat.surfaces == plain.surfaces and not flat.from_depth
    # depth that says the band in front of the lit table's top faces up and the top does not
    rgb, truth = HARD["lit-table-dark-studio"]()
    d = truth["disparity"].copy()
    ys = np.linspace(0, 1, d.shape[0])[:, None] * np.ones_like(d)
    top = (ys >= 0.49) & (ys < 0.8)
    d[top] = 0.6
    front = (ys >= 0.8) & (ys < 0.88)
    d[front] = 0.6 + (ys[front] - 0.8) * 4
    assert bdrop.find_surfaces(rgb, d).main.top == pytest.approx(0.8, abs=0.02)


@pytest.mark.parametrize("kind", list(HARD))
def test_the_default_spot_stands_the_product_on_the_top_surface_in_the_frame_with_a_contact_shadow(
        studio_home, tmp_path, kind):
    rgb, truth = HARD[kind]()
    scene = _add(tmp_path, kind, rgb)
    c, photo = _shot(scene)
    out = np.asarray(c.image).astype(np.int16)
    H, W = out.shape[:2]
    geo = bdrop.find_surfaces(bdrop.plate(photo, (W, H)))
    foot = (c.box.y + c.box.h) / H
    assert geo.main.top < foot <= geo.main.bottom + 0.01  # on the main top surface
    assert c.box.x >= 0 and c.box.y >= 0 and c.box.x + c.box.w <= W and c.box.y + c.box.h <= H
    share = c.box.h / H
    narrow = geo.main.right - geo.main.left < 0.5  # a podium's top tier: the product no wider than it
    assert (0.15 if narrow else 0.35) <= share <= 0.6, share
    assert c.box.w <= (geo.main.right - geo.main.left) * W + 2
    plate = bdrop.plate(photo, (W, H)).astype(np.int16)
    base = c.box.y + c.box.h
    under = (plate - out)[base:base + max(3, c.box.h // 40), c.box.x + c.box.w // 4: c.box.x + 3 * c.box.w // 4]
    assert under.sum(axis=2).mean() > 3  # darker right under its base: the contact shadow
    assert 0 <= c.look["light_direction"] <= 180  # never from below the horizon


def test_a_spot_further_back_gives_a_smaller_product_in_proportion(studio_home, tmp_path):
    scene = _add(tmp_path, "deep-table", HARD["wood-table"]()[0])
    front = update_backdrop(scene.id, spot=(0.5, 0.9))
    c_front, _ = _shot(front)
    back = update_backdrop(scene.id, spot=(0.5, 0.6))
    c_back, photo = _shot(back)
    W, H = scene.canvas_size()
    geo = bdrop.find_surfaces(bdrop.plate(photo, (W, H)))
    ratio = c_back.box.h / c_front.box.h
    expected = (0.6 - geo.horizon) / (0.9 - geo.horizon)  # distance below the horizon
    assert ratio < 0.85 and ratio == pytest.approx(expected, rel=0.06)


def test_a_real_size_comes_from_the_surfaces_width(studio_home, tmp_path):
    """A 120 cm table across the photo and a 30 cm product: a quarter of the table's width
    tall (at the table's far edge; nearer, larger by perspective)."""
    from dataclasses import replace

    scene = _add(tmp_path, "measured", HARD["lit-table-dark-studio"]()[0], surface_cm=120)
    sized = replace(scene, backdrop=replace(scene.backdrop, product_cm=30.0))
    c, photo = _shot(sized)
    W, H = scene.canvas_size()
    geo = bdrop.find_surfaces(bdrop.plate(photo, (W, H)))
    at_edge = 30 / 120 * (geo.main.right - geo.main.left) * W
    foot = (c.box.y + c.box.h) / H
    assert c.box.h == pytest.approx(at_edge * bdrop.scale_at(geo, foot, geo.main.top), rel=0.08)


def test_the_cast_shadow_lies_on_the_surface_not_on_the_wall(studio_home, tmp_path):
    scene = _add(tmp_path, "tier", HARD["pink-podium"]()[0], light=60.0)
    c, photo = _shot(scene)
    out = np.asarray(c.image).astype(np.int16)
    H, W = out.shape[:2]
    plate = bdrop.plate(photo, (W, H)).astype(np.int16)
    geo = bdrop.find_surfaces(plate.astype(np.uint8))
    darker = (plate - out).sum(axis=2) > 6
    darker[c.box.y:c.box.y + c.box.h, c.box.x:c.box.x + c.box.w] = False
    wall = darker[: max(0, round(geo.main.top * H) - 2)]
    assert wall.sum() < 0.02 * max(1, darker.sum())


def test_light_from_below_the_horizon_is_mirrored_up():
    assert light.above_horizon(346.0) == pytest.approx(14.0)
    assert light.above_horizon(200.0) == pytest.approx(160.0)
    assert light.above_horizon(135.0) == 135.0
    bright_floor = table_photo(1200, 900, 0.5, 270.0)  # lit from below: a bright table, a dim wall
    assert 0 <= light.read_direction(bright_floor, 0.5)[0] <= 180


def _lab_mean(rgb8: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean colour (averaged in linear light) in CIELAB."""
    from skimage.color import rgb2lab

    lin = (rgb8[mask].astype(np.float64) / 255)
    lin = np.where(lin <= 0.04045, lin / 12.92, ((lin + 0.055) / 1.055) ** 2.4).mean(axis=0)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return rgb2lab(srgb[None, None])[0, 0]


def _hue(rgb8: np.ndarray, mask: np.ndarray) -> float:
    import colorsys

    lin = rgb8[mask].astype(np.float64) / 255
    lin = np.where(lin <= 0.04045, lin / 12.92, ((lin + 0.055) / 1.055) ** 2.4).mean(axis=0)
    return colorsys.rgb_to_hsv(*lin)[0] * 360


def test_light_match_in_a_dark_room_makes_a_dark_product_whose_colour_stays_true(studio_home, tmp_path):
    from skimage.color import deltaE_ciede2000

    scene = _add(tmp_path, "dark-room", dark_room_floor()[0])
    cut = _cutout()
    exact, _ = _shot(scene, cut, 0.0)
    matched, _ = _shot(scene, cut, 1.0)
    assert exact.box == matched.box
    import cv2

    from studio.imaging.compose import crop_to_alpha, resize_product

    layer = resize_product(crop_to_alpha(cut), exact.box)
    inner = cv2.erode((layer[..., 3] > 0.99).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # the rim is blended
    win = (slice(exact.box.y, exact.box.y + exact.box.h), slice(exact.box.x, exact.box.x + exact.box.w))
    a, b = np.asarray(exact.image)[win], np.asarray(matched.image)[win]
    original = (layer[..., :3] * 255).round().astype(np.uint8)
    assert np.abs(a[inner].astype(int) - original[inner]).max() <= 1  # at 0: the photo's own pixels
    la, lb = _lab_mean(a, inner), _lab_mean(b, inner)
    assert la[0] - lb[0] > 10  # a product in a dark room is dark
    # its hue (of the mean colour's chromaticity, which no change of exposure moves) stays
    assert abs((_hue(a, inner) - _hue(b, inner) + 180) % 360 - 180) < 3
    report = light.exposure_report(b, a, inner)
    assert report["factor"] < 0.5 and report["stops"] < -1
    back = light.under_light(a, report["factor"])  # the photo under that light
    de = deltaE_ciede2000(_lab_mean(back, inner)[None, None], _lab_mean(b, inner)[None, None])[0, 0]
    assert de <= 2.0


def test_the_preview_shows_the_surfaces_and_a_click_snaps_onto_one(studio_home, tmp_path):
    scene = _add(tmp_path, "podium", HARD["pink-podium"]()[0])
    shown = np.asarray(preview(scene.id)).astype(np.int16)
    W, H = scene.canvas_size(768)
    plate = bdrop.plate(np.asarray(Image.open(scene.backdrop.path(scene.source))), (W, H)).astype(np.int16)
    geo = bdrop.find_surfaces(plate.astype(np.uint8))
    y0, y1 = round(geo.main.top * H), round(geo.main.bottom * H)
    x0, x1 = round(geo.main.left * W), round(geo.main.right * W)
    inside = np.abs(shown[y0 + 2:y1 - 2, x0 + 4:x1 - 4] - plate[y0 + 2:y1 - 2, x0 + 4:x1 - 4]).sum(axis=2)
    assert (inside > 10).mean() > 0.5  # tinted where a product can stand
    wall = slice(5, min(y0, round(geo.horizon * H)) - 10)  # (the horizon is drawn as a dashed line)
    assert np.abs(shown[wall] - plate[wall]).max() <= 1  # the wall as it is
    # with a product: it stands there, in front of the drawing
    with_product = np.asarray(preview(scene.id, _cutout())).astype(np.int16)
    assert np.abs(with_product[y0 + 2:y1 - 2, x0 + 4:x0 + 12] - shown[y0 + 2:y1 - 2, x0 + 4:x0 + 12]).max() < 40
    # a click on the wall above the podium lands on its top tier, and is kept
    spot = keep_clicked_spot(scene.id, W * 0.52, H * 0.3)
    assert geo.main.contains(*spot)
    from studio.scenes import get_scene

    assert get_scene(scene.id).backdrop.spot == spot


def test_depth_anything_is_read_once_on_adding_and_kept_with_the_scene(studio_home, hf_hub, tmp_path):
    """The tiny stand-in planted in the Hugging Face cache as a download leaves it (the
    repo's README and .gitattributes listed, not fetched): read through our loader when
    the backdrop is added, its grid kept in the scene's file, in the photo's aspect; its
    answer is the one its weights file holds (flat), so the shot is the classical one."""
    pytest.importorskip("transformers")
    from studio.models import registry
    from studio.models.depth_anything import WEIGHTS
    from studio.scenes import get_scene
    from tests.hub_cache import as_hub_leaves_it
    from tests.tiny_depth import REPO, build_tiny_depth_anything

    assert registry.specs()[WEIGHTS.id].licence == "Apache-2.0" and WEIGHTS.commercial_use == "yes"
    assert set(WEIGHTS.allow_patterns) == {"config.json", "preprocessor_config.json", "model.safetensors"}
    rgb, _ = HARD["lit-table-dark-studio"]()
    plain = _add(tmp_path, "before", rgb)
    assert plain.backdrop.depth is None
    as_hub_leaves_it(hf_hub, REPO, build_tiny_depth_anything,
                     listed_not_fetched={"README.md": 4400, ".gitattributes": 1520})
    assert registry.locate(WEIGHTS) is not None
    scene = _add(tmp_path, "with-depth", rgb)
    grid = np.asarray(scene.backdrop.depth)
    assert scene.backdrop.depth_model == WEIGHTS.id
    assert grid.shape == (48, 64) and np.ptp(grid) == 0  # the weights' flat answer, not random depth
    a, _ = _shot(plain)
    b, _ = _shot(scene)  # the classical finder's answer: the depth said nothing
    assert a.box == b.box and a.look["geometry"]["surfaces"] == b.look["geometry"]["surfaces"]
    kept = update_backdrop(scene.id, spot=(0.5, 0.7))  # a click keeps the depth read on adding
    assert get_scene(scene.id).backdrop.depth == scene.backdrop.depth and kept.backdrop.depth_model == WEIGHTS.id


def test_depth_anything_loads_from_a_models_folder_copy(studio_home, tmp_path):
    pytest.importorskip("transformers")
    from studio.config import load_settings
    from studio.models.depth_anything import WEIGHTS, installed
    from tests.tiny_depth import build_tiny_depth_anything

    target = load_settings().models_path() / WEIGHTS.repo_id.replace("/", "--")
    build_tiny_depth_anything(target)
    model = installed()
    assert model is not None and model.path == target
    d = model.disparity(Image.fromarray(HARD["wood-table"](600, 800)[0]))
    assert d.shape == (64, 48)  # portrait: the photo's aspect


def test_scenes_add_keeps_the_surfaces_width_and_a_catalogs_size_cm_becomes_the_real_size(studio_home, tmp_path,
                                                                                            capsys):
    from studio import cli
    from studio.pipeline.shot_inputs import shot_scene

    Image.fromarray(HARD["wood-table"](800, 600)[0]).save(tmp_path / "t.png")
    assert cli.main(["scenes", "add", "bench", "--backdrop", str(tmp_path / "t.png"), "--surface-cm", "120"]) == 0
    scene = shot_scene({"scene": "bench", "size_cm": 30.0, "size_ref_cm": 40.0})
    assert scene.backdrop.surface_cm == 120 and scene.backdrop.product_cm == 30.0
    assert scene.backdrop.fill is None  # the real size, not the catalog's relation, sets it
    capsys.readouterr()
    assert cli.main(["scenes", "add", "bench2", "--backdrop", str(tmp_path / "t.png"), "--surface-cm", "0"]) == 2
    assert "centimetres" in capsys.readouterr().err


def test_a_cluster_node_gets_the_depth_with_the_scene_and_finds_the_same_spot(studio_home, tmp_path, monkeypatch):
    """A head's backdrop scene with a kept depth map (written as a depth model leaves it)
    travels to a worker node in its package; the node reads the same geometry from it."""
    from studio.app.backdrops import install_package, scene_package
    from studio.scenes import get_scene

    rgb, truth = HARD["lit-table-dark-studio"]()
    scene = _add(tmp_path, "studio-table", rgb)
    # the depth a model would have read, kept in the scene's file as add_backdrop_scene keeps it
    import cv2

    grid = cv2.resize(truth["disparity"].astype(np.float32), (64, 48), interpolation=cv2.INTER_AREA)
    path = Path(scene.source)
    rows = repr([[round(float(v), 3) for v in row] for row in grid])
    path.write_text(path.read_text(encoding="utf-8").replace(
        "[backdrop]\n", f'[backdrop]\ndepth_model = "depth-anything-v2-small"\ndepth = {rows}\n', 1), encoding="utf-8")
    head = get_scene(scene.id)
    assert head.backdrop.depth is not None
    package = scene_package(scene.id)
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "node"))
    install_package(package)
    node = get_scene(scene.id)
    assert node.backdrop.depth == head.backdrop.depth
    W, H = node.canvas_size()
    geo = bdrop.geometry_of(node, bdrop.plate(rgb, (W, H)))
    assert geo.from_depth and geo.main.faces_up and geo.main.top == pytest.approx(0.49, abs=0.02)
    a, _ = _shot(node)
    monkeypatch.setenv("STUDIO_HOME", str(studio_home))
    b, _ = _shot(head)
    assert a.box == b.box
