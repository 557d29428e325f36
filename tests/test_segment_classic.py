"""The classical backend on generated photos with known masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from studio.models.segment_classic import ClassicSegmenter
from tests.synth import CASES, boundary_error, iou, make_case


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_iou_and_boundary_error(case, seed):
    photo, truth = make_case(case, seed=seed)
    result = ClassicSegmenter().segment(Image.fromarray(photo))
    pred = result.alpha > 0.5
    assert result.alpha.shape == truth.shape and result.alpha.dtype == np.float32
    assert iou(pred, truth) >= 0.95, case
    assert boundary_error(pred, truth) <= 1.5, case
    assert result.confidence >= 0.6  # it says it is fine only when it is


def test_mug_handle_gap_stays_open():
    photo, truth = make_case("green-mug-on-sheet")
    alpha = ClassicSegmenter().segment(Image.fromarray(photo)).alpha
    gap = ~truth.copy()
    gap[:, : truth.shape[1] // 2] = False  # the enclosed gap right of the body
    ys, xs = np.nonzero(gap & (np.cumsum(truth, axis=1) > 0) & (np.cumsum(truth[:, ::-1], axis=1)[:, ::-1] > 0))
    assert len(ys) > 100
    assert alpha[ys, xs].mean() < 0.1


def test_plain_background_is_reported_not_invented():
    rng = np.random.default_rng(0)
    photo = np.clip(np.full((480, 640, 3), 210.0) + rng.normal(0, 2, (480, 640, 3)), 0, 255).astype(np.uint8)
    result = ClassicSegmenter().segment(Image.fromarray(photo))
    assert (result.alpha > 0.5).mean() < 0.01
    assert result.confidence == 0.0 and "no product found" in result.notes[0]


def test_busy_photo_gets_low_confidence():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    result = ClassicSegmenter().segment(Image.fromarray(photo))
    assert result.confidence < 0.6
    assert any("touch up" in n or "no product" in n for n in result.notes)


def test_full_size_output_for_a_large_photo():
    photo, truth = make_case("red-bottle-on-gradient", h=1500, w=2000)
    result = ClassicSegmenter().segment(Image.fromarray(photo))
    assert result.alpha.shape == (1500, 2000)
    assert iou(result.alpha > 0.5, truth) >= 0.95
    # the edge is soft (refined), the inside exactly opaque
    assert ((result.alpha > 0.05) & (result.alpha < 0.95)).any()
    inner = truth.copy()
    inner[:, :] = False
    ys, xs = np.nonzero(truth)
    inner[int(ys.mean()) - 20: int(ys.mean()) + 20, int(xs.mean()) - 20: int(xs.mean()) + 20] = True
    assert (result.alpha[inner] == 1.0).all()


def _home_shadow_cases():
    from tests.corpus import home_set
    return [s for s in home_set(seeds=1) if s.shadow]


def test_home_backgrounds_with_cast_shadows():
    """Issue 20: products on sheets, wood, wall + table and paper, each with a soft cast
    shadow that is background. The whole set (both seeds, with and without shadow) is
    in bench/segment.py --home; this is its harder half for one seed."""
    from tests.corpus import render

    scores = {}
    for spec in _home_shadow_cases():
        photo, truth = render(spec)
        alpha = ClassicSegmenter().segment(Image.fromarray(photo)).alpha
        scores[f"{spec.product}/{spec.background}"] = iou(alpha > 0.5, truth > 0.5)
    assert min(scores.values()) >= 0.9, scores
    assert np.mean(list(scores.values())) >= 0.95, scores


def test_home_mug_handle_hole_is_opened_through_its_shadow():
    from studio.imaging import masks
    from tests.corpus import home_set, render

    for spec in [s for s in home_set(seeds=1) if s.product == "mug" and s.shadow][:2]:
        photo, truth = render(spec)
        truth = truth > 0.5
        hole = (masks.fill_holes(truth.astype(np.float32)) > 0.5) & ~truth
        hole = cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # away from the soft edge
        assert hole.sum() > 200, spec
        alpha = ClassicSegmenter().segment(Image.fromarray(photo)).alpha
        assert alpha[hole].mean() < 0.2, spec
