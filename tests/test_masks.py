from __future__ import annotations

import cv2
import numpy as np

from studio.imaging import masks


def disc(h=200, w=200, r=60) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    cv2.circle(m, (w // 2, h // 2), r, 1.0, -1)
    return m


def test_decontaminated_edges_carry_no_background_colour():
    product, bg = np.array([200, 30, 30], np.float32), np.array([30, 200, 40], np.float32)
    alpha = cv2.GaussianBlur(disc(), (0, 0), 3.0)
    photo = (alpha[..., None] * product + (1 - alpha[..., None]) * bg).astype(np.uint8)
    fg = masks.decontaminate(photo, alpha)
    edge = (alpha > 0.15) & (alpha < 0.85)
    assert edge.sum() > 300
    raw_bleed = np.abs(photo[edge].astype(np.float32) - product).mean()
    clean_bleed = np.abs(fg[edge].astype(np.float32) - product).mean()
    assert raw_bleed > 40 and clean_bleed < 12
    assert fg[edge][:, 1].mean() < 60  # the green of the old background is gone
    opaque = alpha > 0.999
    assert np.array_equal(fg[opaque], photo[opaque])  # untouched inside


def test_refine_edges_keeps_inside_and_outside_exact():
    m = disc()
    photo = np.dstack([m * 200 + 20] * 3).astype(np.uint8)
    a = masks.refine_edges(photo, m, radius=3)
    assert a[100, 100] == 1.0 and a[5, 5] == 0.0
    assert np.abs((a > 0.5).astype(np.float32) - m).sum() < 40


def test_strokes_add_and_erase():
    a = disc()
    add = np.zeros_like(a)
    add[10:20, 10:20] = 1
    erase = np.zeros_like(a)
    erase[95:105, 95:105] = 255
    out = masks.apply_strokes(a, add, erase)
    assert out[15, 15] == 1.0 and out[100, 100] == 0.0 and out[100, 60] == 1.0


def test_editor_layers_to_strokes():
    h, w = 50, 60
    layer = np.zeros((h, w, 4), np.uint8)
    layer[5:10, 5:10] = (255, 255, 255, 255)  # white brush: add
    layer[20:25, 20:25] = (0, 0, 0, 255)  # black brush: erase
    add, erase = masks.strokes_from_editor([layer], (h, w))
    assert add[7, 7] == 1 and erase[7, 7] == 0 and erase[22, 22] == 1 and add[22, 22] == 0
    second = np.zeros((h, w, 4), np.uint8)
    second[30:35, 30:35, 3] = 255
    add, erase = masks.strokes_from_editor([layer, second], (h, w))
    assert add[22, 22] == 1 and erase[32, 32] == 1 and erase[7, 7] == 0


def test_grow_shrink_feather_fill():
    a = disc(r=40)
    assert masks.grow(a, 5).sum() > a.sum() > masks.grow(a, -5).sum()
    f = masks.feather(a, 3)
    assert 0 < f[100, 100 + 40] < 1 and f[100, 100] > 0.99
    ring = disc(r=60) - disc(r=20)
    assert masks.fill_holes(ring)[100, 100] == 1.0
    # a hole bigger than 5% of the product stays open when asked
    assert masks.fill_holes(ring, max_area_frac=0.05)[100, 100] == 0.0


def test_apply_edits_replays_a_stored_list():
    stored = {"h1": (np.pad(np.ones((10, 10)), 95) * 255).astype(np.uint8)}
    out = masks.apply_edits(disc(), [{"op": "strokes", "erase": "h1"}, {"op": "grow", "px": -2}], stored.__getitem__)
    assert out[100, 100] == 0 and out[100, 50] == 1
    import pytest

    with pytest.raises(ValueError, match="unknown touch-up edit"):
        masks.apply_edits(disc(), [{"op": "smudge"}], stored.__getitem__)
