"""Classic scenes that look photographed: the plate is grained like the product's own
photo (one sensor), never stepped; materials do not repeat; each scene shows the set
its name promises."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from studio.imaging import masks
from studio.models import classic_grain
from studio.models.classic_materials import MATERIALS, surface
from studio.models.generate_classic import compose
from studio.scenes import SHIPPED_DIR, load_scenes

SCENES = load_scenes([SHIPPED_DIR])
# a marketplace's main image must be pure white: its plate gets no grain
GRAINED = sorted(sid for sid, s in SCENES.items() if s.category != "marketplace")


def _product(level: float, size: float = 0.0, h: int = 700, w: int = 420, seed: int = 3) -> Image.Image:
    """A smoothly lit bottle photographed with sensor noise of `level` (8-bit steps) and
    grain `size` (px of correlation): broad smooth areas where the noise can be read."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    m = np.zeros((h, w), np.float32)
    cv2.ellipse(m, (w // 2, int(h * 0.62)), (int(w * 0.45), int(h * 0.37)), 0, 0, 360, 1.0, -1)
    cv2.rectangle(m, (int(w * 0.38), 4), (int(w * 0.62), int(h * 0.3)), 1.0, -1)
    m = cv2.GaussianBlur(m, (0, 0), 1.0)
    shade = 0.55 + 0.4 * np.clip(1 - ((xs - w * 0.35) / (w * 0.6)) ** 2, 0, 1)
    rgb = np.dstack([shade * 170 + 40, shade * 90 + 30, shade * 60 + 20])
    noise = classic_grain.render(classic_grain.Grain(level, size, 0.7), h, w, np.random.default_rng(seed)) * 255
    rgb = np.clip(rgb + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(masks.to_rgba(rgb, m), "RGBA")


def _mean_run(row: np.ndarray) -> float:
    """Mean length of the runs of equal values along a row."""
    changes = np.flatnonzero(np.diff(row.astype(np.int16)) != 0)
    return len(row) / (len(changes) + 1)


@pytest.mark.parametrize("scene_id", GRAINED)
def test_smooth_walls_carry_grain_not_steps(scene_id):
    # before: 15–68 px runs of one 8-bit value across gradient-studio, neon, pastel-podium
    # and dark-luxury's walls; photos measure 1.3–2.6 px (their sensor's grain)
    shot = compose(SCENES[scene_id], _product(1.0), 2, long_side=1024)
    img = np.asarray(shot.image)
    H, W = img.shape[:2]
    keep = np.ones(W, bool)
    keep[max(0, shot.box.x - 8): shot.box.x + shot.box.w + 8] = False
    for y in (int(H * 0.06), int(H * 0.2)):
        for ch in range(3):
            row = img[y, keep, ch]
            assert _mean_run(row) <= 4.0, (scene_id, y, ch, _mean_run(row))


def _level_in(img: np.ndarray, where: np.ndarray) -> float:
    """The grain level `measure` reads from the pixels `where` (cropped to them)."""
    ys, xs = np.nonzero(where)
    win = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
    alpha = where[win].astype(np.float32)
    return classic_grain.measure(np.dstack([img[win].astype(np.float32) / 255.0, alpha])).level


@pytest.mark.parametrize("level,size", [(1.5, 0.0), (4.0, 0.0), (4.0, 0.9)])
def test_plate_and_product_share_one_grain_level(level, size):
    scene = SCENES["gradient-studio"]
    shot = compose(scene, _product(level, size), 1, long_side=1024)
    img = np.asarray(shot.image)
    H, W = img.shape[:2]
    b = shot.box
    product = np.zeros((H, W), bool)
    product[b.y + b.h // 3: b.y + b.h - 8, b.x + 8: b.x + b.w - 8] = True  # inside the bottle's body
    inside = product & (cv2.erode(np.asarray(_placed_alpha(shot, H, W)), np.ones((15, 15), np.uint8)) > 0)
    wall = np.zeros((H, W), bool)
    wall[int(H * 0.05): int(H * 0.3), int(W * 0.05): max(int(W * 0.05) + 10, b.x - 20)] = True
    on_product, on_plate = _level_in(img, inside), _level_in(img, wall)
    assert on_plate == pytest.approx(on_product, rel=0.3), (on_product, on_plate)


def _placed_alpha(shot, H: int, W: int) -> np.ndarray:
    """Where the product is opaque in the frame: its pixels differ from an empty plate's."""
    out = np.zeros((H, W), np.uint8)
    b = shot.box
    img = np.asarray(shot.image).astype(np.int16)
    red = (img[..., 0] - img[..., 2]) > 60  # the bottle is red; the wall is blue
    out[b.y: b.y + b.h, b.x: b.x + b.w] = red[b.y: b.y + b.h, b.x: b.x + b.w]
    return out


def test_a_noisier_photo_gets_a_noisier_plate():
    scene = SCENES["dark-luxury"]
    levels = []
    for level in (1.0, 5.0):
        img = np.asarray(compose(scene, _product(level), 1, long_side=768).image)
        H, W = img.shape[:2]
        wall = np.zeros((H, W), bool)
        wall[int(H * 0.05): int(H * 0.25), int(W * 0.03): int(W * 0.2)] = True
        levels.append(_level_in(img, wall))
    assert levels[1] > 1.6 * levels[0], levels  # (less than 5×: the product is shrunk to its box, and so is its noise)


def test_grain_is_measured_back_as_rendered():
    rng = np.random.default_rng(0)
    for grain in (classic_grain.Grain(2.0, 0.0, 0.8), classic_grain.Grain(4.0, 1.0, 0.5)):
        noise = classic_grain.render(grain, 512, 512, rng)
        rgba = np.dstack([np.clip(0.5 + noise, 0, 1), np.ones((512, 512), np.float32)])
        got = classic_grain.measure(rgba)
        assert got.level == pytest.approx(grain.level, rel=0.15)
        assert got.size == pytest.approx(grain.size, abs=0.25)
        assert got.shared == pytest.approx(grain.shared, abs=0.1)


@pytest.mark.parametrize("kind", sorted(MATERIALS))
def test_materials_do_not_repeat(kind):
    # a tiled texture correlates with itself one tile away: no material may (at a scale
    # coarser than a thread of linen or a pore of oak)
    n = 768
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)
    pattern = surface(kind, xs, ys, np.ones((n, n), np.float32), np.random.default_rng(5), 1600.0)
    small = cv2.resize(pattern, (n // 4, n // 4), interpolation=cv2.INTER_AREA)
    small = small - small.mean()
    spec = np.fft.fft2(small)
    corr = np.fft.fftshift(np.real(np.fft.ifft2(spec * np.conj(spec))))
    corr /= corr.max()
    c = n // 8
    yy, xx = np.mgrid[0:n // 4, 0:n // 4]
    far = np.hypot(yy - c, xx - c) > 24  # beyond 96 px of the full size
    assert corr[far].max() < 0.6, (kind, float(corr[far].max()))


def _lum(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def test_pastel_podium_stands_the_product_on_a_podium():
    scene = SCENES["pastel-podium"]
    shot = compose(scene, _product(1.0), 0, long_side=1024)
    img = np.asarray(shot.image)
    H = img.shape[0]
    b = shot.box
    foot = b.y + b.h
    # the product's foot is well above the floor line the scene places it on
    assert foot < scene.placement.floor * H - 0.08 * H
    # under its foot, down to the floor: the podium's drum (its own colour, lighter than
    # the floor), with a shaded edge: its side darker towards the side away from the light
    column = img[foot + 10: int(scene.placement.floor * H) - 10, b.x + b.w // 2]
    assert len(column) > 20
    floor = img[int(H * 0.95), 10]
    assert _lum(column).mean() > _lum(floor[None]).mean() + 8
    row = _lum(img[foot + int(0.05 * H)])
    half = b.w // 2
    lit_left = scene.lighting.direction > 90  # light from the left: the left of the drum is lit
    left, right = row[b.x + b.w // 2 - half: b.x + b.w // 2 - half // 2], row[b.x + b.w // 2 + half // 2: b.x + b.w]
    assert (left.mean() > right.mean()) == lit_left


def test_oak_window_throws_window_light_across_wall_and_floor():
    scene = SCENES["oak-window"]
    shot = compose(scene, _product(1.0), 0, long_side=1024)
    lum = _lum(np.asarray(shot.image))
    H, W = lum.shape
    hy = int(scene.classic.horizon * H)
    wall = cv2.GaussianBlur(lum[: hy - 20], (0, 0), 3)
    # bright panes (sun through glass) against a wall in the room's light, split by bars
    assert np.quantile(wall, 0.97) > 1.25 * np.median(wall)
    lit = wall > (np.quantile(wall, 0.97) + np.median(wall)) / 2
    n_panes, _ = cv2.connectedComponents(lit.astype(np.uint8))
    assert n_panes - 1 >= 3


def test_outdoor_stone_is_a_garden_not_a_green_screen():
    scene = SCENES["outdoor-stone"]
    img = np.asarray(compose(scene, _product(1.0), 0, long_side=1024).image)
    H = img.shape[0]
    wall = img[: int(scene.classic.horizon * H) - 20].astype(np.float32)
    lum = _lum(wall)
    # leaves in light and shade and sky between them: wide tonal range at a broad scale
    broad = cv2.resize(lum, (32, 32), interpolation=cv2.INTER_AREA)
    assert broad.std() > 18
    hsv = cv2.cvtColor(wall.astype(np.uint8), cv2.COLOR_RGB2HSV)
    assert hsv[..., 1].std() > 20  # not one saturated key colour


@pytest.mark.parametrize("scene_id", ["bathroom-shelf", "kitchen-counter"])
def test_shelf_and_counter_end_at_a_front_edge_below_the_product(scene_id):
    scene = SCENES[scene_id]
    shot = compose(scene, _product(1.0), 0, long_side=1024)
    lum = cv2.GaussianBlur(_lum(np.asarray(shot.image)), (0, 0), 1.5)
    foot = shot.box.y + shot.box.h
    rows = lum[foot + 5:, : shot.box.x - 5].mean(axis=1)  # beside the product, below its foot
    step = np.abs(np.diff(rows))
    assert step.max() > 6  # the edge: the lit top turns into the darker front
    assert foot + 5 + int(np.argmax(step)) < lum.shape[0] - 5


def test_a_marketplace_white_gets_no_grain():
    # its main image must be pure white: the plate is not grained (its product is)
    shot = compose(SCENES["white-marketplace"], _product(4.0), 0, long_side=768)
    img = np.asarray(shot.image)
    assert (img[:40, :40] == 255).all() and (img[:40, -40:] == 255).all()


@pytest.mark.parametrize("scene_id", ["pastel-podium", "oak-window", "bathroom-shelf", "beach"])
def test_a_product_from_above_is_laid_flat_without_the_set(scene_id):
    # seen from above there is no wall and no floor line: no podium, window or shelf edge
    from tests.test_classic_variants import _cup_from_above

    shot = compose(SCENES[scene_id], _cup_from_above(), 0, long_side=512)
    assert shot.view == "top"
    lum = _lum(np.asarray(shot.image))
    H = lum.shape[0]
    assert abs((shot.box.y + shot.box.h / 2) / H - 0.5) < 0.06  # in the middle, not raised on a podium
    b = shot.box
    plate = np.ones(lum.shape, bool)
    plate[max(0, b.y - 20): b.y + b.h + 20, max(0, b.x - 20): b.x + b.w + 20] = False  # the cup and its shadow
    blurred = cv2.GaussianBlur(lum, (0, 0), 3)[plate]
    assert np.quantile(blurred, 0.97) < 1.2 * np.median(blurred)  # no window's bright panes
    rows = cv2.GaussianBlur(lum, (0, 0), 1.5)[:, : shot.box.x - 5].mean(axis=1)
    assert np.abs(np.diff(rows)).max() < 6  # no shelf's or counter's edge across it
