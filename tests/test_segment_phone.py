"""The classic cut-out at the resolution phones take (issue 33): generated 12 MP photos
(textures sized to the scene, sensor noise, JPEG) on mottled paper, a painted wall, wood
and fabric, with and without cast shadows; one 48 MP photo; and a confidence that ranks
cut-outs by their true IoU and drops for kept background, lost parts and a product cut
by the frame."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from studio.models import classic_confidence
from studio.models.segment_classic import ClassicSegmenter
from tests.corpus import PHONE_BACKGROUNDS, phone_photo, phone_set, product_iou, render, specs
from tests.synth import iou


def _cut(rgb: np.ndarray):
    return ClassicSegmenter().segment(Image.fromarray(rgb))


def _beyond(mask: np.ndarray, px: int) -> np.ndarray:
    """What lies more than `px` pixels outside `mask`: a slab, not an edge's rim."""
    import cv2

    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) == 0


def test_the_reported_cases_at_12_mp_keep_no_slab():
    """A bottle and a mug on mottled paper (what came back with octagonal slabs of paper
    beside the bottle and behind the mug's handle) and a jar whose lid had a slab grown
    from a dark mottle, at 4000×3000."""
    by_name = {s.name: s for s in phone_set()}
    for name in ("000-bottle-mottled-paper-normal-4000x3000-jpeg", "016-mug-mottled-paper-normal-4000x3000-jpeg",
                 "017-mug-mottled-paper-normal-shadow-4000x3000-jpeg",
                 "025-jar-mottled-paper-normal-shadow-4000x3000-jpeg"):
        rgb, truth = phone_photo(by_name[name])
        cut = _cut(rgb)
        got = cut.alpha > 0.5
        assert iou(got, truth) >= 0.93, name
        assert (got & _beyond(truth, 5)).sum() < 0.01 * truth.sum(), name  # no slab of background kept


def test_a_mug_handle_seen_through_to_mottled_paper_stays_open():
    spec = next(s for s in phone_set() if s.product == "mug" and s.background == "mottled-paper" and s.shadow)
    rgb, truth = phone_photo(spec)
    got = _cut(rgb).alpha > 0.5
    from studio.imaging.masks import fill_holes

    hole = (fill_holes(truth.astype(np.float32)) > 0.5) & ~truth  # the true handle gap
    assert hole.sum() > 10_000
    inside = hole & _beyond(truth, 15)  # the gap less a rim the edge may blur over
    assert (got & inside).sum() < 0.02 * inside.sum()


@pytest.mark.slow
def test_every_12_mp_cut_out_of_every_background_kind_holds():
    """The issue's bar: every one ≥ 0.93 IoU, the mean ≥ 0.97 (40 photos: 5 products × 4
    backgrounds × with and without a cast shadow)."""
    scores = {}
    for spec in phone_set():
        rgb, truth = phone_photo(spec)
        scores[spec.name] = iou(_cut(rgb).alpha > 0.5, truth)
    assert {s.split("-normal")[0].split("-", 2)[2] for s in scores} == set(PHONE_BACKGROUNDS)
    worst = min(scores, key=scores.get)
    assert scores[worst] >= 0.93, (worst, scores[worst])
    assert np.mean(list(scores.values())) >= 0.97


@pytest.mark.slow
def test_a_48_mp_photo_is_cut_out_as_well():
    spec = phone_set(width=8000, height=6000)[18]  # a mug on the wall, its shadow beside it
    rgb, truth = phone_photo(spec)
    cut = _cut(rgb)
    assert cut.alpha.shape == truth.shape and iou(cut.alpha > 0.5, truth) >= 0.93


# -- the confidence ----------------------------------------------------------------------

def _features(rgb: np.ndarray, fg: np.ndarray):
    """The confidence of `fg` as the cut-out of `rgb`, at the segmenter's working size."""
    import cv2

    seg = ClassicSegmenter()
    h, w = rgb.shape[:2]
    scale = 512 / max(h, w)
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    found, seed, bg_dist = seg._segment_small(small)
    fg_small = cv2.resize(fg.astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST).astype(np.float32)
    return classic_confidence.confidence(classic_confidence.features(small, fg_small, seed, bg_dist))


def test_confidence_drops_sharply_for_kept_background_and_lost_parts():
    spec = next(s for s in phone_set() if s.product == "box" and s.background == "wall" and not s.shadow)
    rgb, truth = phone_photo(spec)
    good, _ = _features(rgb, truth)
    ys, xs = np.nonzero(truth)
    slab = truth.copy()  # a slab of the wall kept beside the box, a third of its size
    h = ys.max() - ys.min()
    slab[ys.min() + h // 3: ys.max() - h // 3, xs.max(): xs.max() + (xs.max() - xs.min()) // 2] = True
    lost = truth.copy()  # the top third of the box cut off
    lost[: ys.min() + h // 3] = False
    kept_conf, kept_notes = _features(rgb, slab)
    lost_conf, lost_notes = _features(rgb, lost)
    assert good >= classic_confidence.LOW
    assert kept_conf < good - 0.2 and lost_conf < good - 0.2
    assert any("follow no edge" in n for n in kept_notes + lost_notes)


@pytest.mark.parametrize("product", ["box", "shoe"])
def test_a_product_cut_by_the_frame_is_still_cut_out_but_gets_a_low_confidence(product):
    """The same photo cropped through the product (a quarter of it outside the frame):
    the part inside is still cut out, but the shot can only show part of the product, so
    the confidence falls below LOW and says why."""
    spec = next(s for s in phone_set(width=1600, height=1200)
                if s.product == product and s.background == "wall" and not s.shadow)
    rgb, truth = phone_photo(spec)
    whole = _cut(rgb)
    xs = np.nonzero(truth)[1]
    edge = xs.min() + (xs.max() - xs.min()) // 4
    cropped = _cut(np.ascontiguousarray(rgb[:, edge:]))
    assert iou(cropped.alpha > 0.5, truth[:, edge:]) >= 0.93
    assert whole.confidence >= classic_confidence.LOW > cropped.confidence
    assert any("cut by the photo's edge" in n for n in cropped.notes)


@pytest.mark.slow
def test_the_confidence_ranks_cut_outs_by_their_true_iou():
    """Spearman's rank correlation between the confidence and the IoU with the whole
    product (a product the frame cuts off can't be cut out whole) over the generated
    corpus: the broad set (products on six backgrounds, small, large and cut by the
    frame, glass, busy shelves; up to 1 MP here) and a quarter of the 12 MP phone set.
    Goal ≥ 0.6 (bench/segment.py --calibrate prints it over the whole corpus)."""
    pairs = []
    for spec in [s for s in specs() if s.width * s.height <= 1_000_000]:
        rgb, truth = render(spec)
        cut = _cut(rgb)
        pairs.append((product_iou(cut.alpha > 0.5, truth, spec), cut.confidence))
    for spec in phone_set()[::4]:
        rgb, truth = phone_photo(spec)
        cut = _cut(rgb)
        pairs.append((product_iou(cut.alpha > 0.5, truth, spec), cut.confidence))
    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).correlation
    assert rho >= 0.6, rho
