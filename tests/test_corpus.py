"""Every photo of the generated corpus (tests/corpus.py) goes through a classic shoot
at a small working size, and no stage crashes: each job ends done, or (when the
cut-out found nothing) failed with the sentence that says so. A spread of 17 runs
in every test run; the whole corpus (210 photos) is marked `corpus` and runs with
STUDIO_CORPUS=1 (and in `bench/corpus.py`, which also prints timings)."""

from __future__ import annotations

import re

import pytest

from studio.app.context import open_store, run_jobs
from studio.app.history import get_job
from studio.app.shoot import submit_shoot
from tests.corpus import encode, fast_subset, render, specs

# a failure the stage meant (a sentence), not an exception that escaped (`TypeError: ...`)
ESCAPED = re.compile(r"^[A-Z]\w*(Error|Exception)\b")
NOTHING_FOUND = "no product found in the photo"


def shoot_all(tmp_path, chosen) -> list[tuple[object, dict]]:
    store = open_store()
    jobs = []
    for s in chosen:
        path = tmp_path / f"{s.name}.{s.ext}"
        path.write_bytes(encode(s, render(s)[0]))
        scene = ("marble", "white-marketplace", "linen", "kitchen-counter")[s.index % 4]
        jobs.append((s, submit_shoot(store, path, scene=scene, variants=1, long_side=256, preset="shopify",
                                     work_side=512)))
    run_jobs([j for _, j in jobs])
    return [(s, get_job(store, j)) for s, j in jobs]


def check(results) -> None:
    crashed = [(s.name, j["failed_stage"], j["error"]) for s, j in results
               if j["status"] == "failed" and (ESCAPED.match(j["error"] or "") or NOTHING_FOUND not in j["error"])]
    assert crashed == []
    assert all(j["status"] in ("done", "failed") for _, j in results), [(s.name, j["status"]) for s, j in results]
    nothing = [s.name for s, j in results if j["status"] == "failed"]
    assert len(nothing) <= 0.05 * len(results), nothing


def test_the_corpus_is_what_it_says():
    all_ = specs()
    assert len(all_) >= 200
    assert {s.product for s in all_} >= {"bottle", "box", "mug", "jar", "shoe", "flat", "glass"}
    assert {s.framing for s in all_} >= {"small", "large", "border"}
    assert min(min(s.width, s.height) for s in all_) == 256 and max(s.width * s.height for s in all_) >= 11e6
    ratios = [s.width / s.height for s in all_]
    assert min(ratios) <= 0.25 + 1e-6 and max(ratios) >= 4 - 1e-6
    assert {s.fmt for s in all_} >= {"L", "I;16", "P", "RGBA", "CMYK", "jpeg-exif"}
    assert {s.rotation for s in all_} >= {1, 3, 6, 8} and any(s.shadow for s in all_)
    # the mask is where the product is, upright, whatever the file does
    s = next(s for s in all_ if s.fmt == "jpeg-exif" and s.rotation == 6)
    rgb, mask = render(s)
    from studio.imaging.io import ingest_bytes

    assert ingest_bytes(encode(s, rgb), "x.jpg").image.size == (s.width, s.height) == mask.shape[::-1]


def test_a_spread_of_the_corpus_shoots_without_a_crash(tmp_path):
    check(shoot_all(tmp_path, fast_subset()))


@pytest.mark.slow
@pytest.mark.corpus
def test_the_whole_corpus_shoots_without_a_crash(tmp_path):
    check(shoot_all(tmp_path, specs()))
