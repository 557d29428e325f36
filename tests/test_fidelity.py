"""The fidelity scorer on generated cases: faithful passes; each distortion fails at
strength and the score falls as it grows."""

from __future__ import annotations

import numpy as np
import pytest

from studio.imaging.fidelity import THRESHOLD, fidelity
from tests.distort import KINDS, distorted, placed

STRENGTHS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def expected():
    return placed()


def test_faithful_composite_passes_and_says_embedding_is_left_out(expected):
    r = fidelity(distorted("move", 0), expected)
    assert r.passed and r.score > 0.95, r.as_dict()
    assert r.measures["placement_iou"] > 0.99 and r.measures["delta_e_mean"] < 0.5
    assert "embedding" not in r.terms and any("no CLIP" in n for n in r.notes)


@pytest.mark.parametrize("kind", KINDS)
def test_each_distortion_fails_and_falls_monotonically(kind, expected):
    scores = [fidelity(distorted(kind, 0), expected).score]
    for t in STRENGTHS:
        r = fidelity(distorted(kind, t), expected)
        scores.append(r.score)
    assert scores[0] >= THRESHOLD
    # strictly falling while above zero; once it is zero it stays there
    for a, b in zip(scores, scores[1:], strict=False):
        assert b < a or a == b == 0.0, (kind, scores)
    assert scores[-1] < THRESHOLD, (kind, scores)


def test_the_reason_names_what_changed(expected):
    assert fidelity(distorted("move", 3), expected).weakest == "placement"
    assert fidelity(distorted("color_shift", 4), expected).weakest == "color"
    assert fidelity(distorted("extra_blob", 4), expected).weakest == "shape"
    assert "moved" in fidelity(distorted("rescale", 3), expected).reason()


def test_mismatched_sizes_are_a_clear_error(expected):
    with pytest.raises(ValueError, match="variant is"):
        fidelity(np.zeros((10, 10, 3), np.uint8), expected)
