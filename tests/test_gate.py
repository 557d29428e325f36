"""The quality gate through the engine: a variant whose product changed is generated
again with stronger preservation; a job that never passes waits in the review queue;
what the provider billed stays charged whatever the review decides."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from studio import secrets
from studio.app import review
from studio.app.context import open_store, run_jobs
from studio.app.shoot import shoot_summary, submit_shoot
from studio.models import generate_cloud as cloud
from studio.pipeline import jobs
from studio.pipeline.ledger import Ledger
from studio.pipeline.queries import stage_output
from tests.fake_bfl import KEY, cloud_shoot
from tests.synth import make_case


def _cloud_shoot(tmp_path, variants=1):
    secrets.save_key("bfl", KEY)
    return cloud_shoot(tmp_path, variants)


def _kept(submitted: dict) -> int:
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(submitted["mask"]))).convert("L"))
    return int((mask < 128).sum())


def test_rejected_variant_is_generated_again_with_changed_params(fake_bfl, tmp_path):
    fake_bfl.grow_parts = 1  # the first image grows a part onto the product, the next is faithful
    store, job = _cloud_shoot(tmp_path)
    assert jobs.get_job(store, job)["status"] == "done"
    first, second = fake_bfl.submitted
    assert (first["seed"], second["seed"]) == (0, 1000)
    assert _kept(second) > _kept(first)  # the model may no longer repaint the product's rim
    gate = store.one("SELECT history, attempt FROM stage_runs WHERE job_id = ? AND key = 'gate[0]'", (job,))
    [rejection] = json.loads(gate["history"])
    assert rejection["rewound"] == "generate[0]" and "outline" in rejection["error"]
    assert rejection["details"]["terms"]["shape"] < 0.75 and rejection["params"]["rim_px"] == 0
    s = shoot_summary(store, job)
    assert s["variants"][0]["gate"]["passed"] and s["variants"][0]["seed"] == 1000
    # both images were delivered, so both are paid for
    assert Ledger(store).spent(job) == pytest.approx(2 * cloud.price())


def test_job_that_never_passes_waits_for_review_and_rejection_keeps_the_charges(fake_bfl, tmp_path):
    fake_bfl.grow_parts = 100
    store, job = _cloud_shoot(tmp_path)
    assert jobs.get_job(store, job)["status"] == "waiting"
    assert len(fake_bfl.submitted) == 3  # gate_attempts
    assert [s["seed"] for s in fake_bfl.submitted] == [0, 1000, 2000]
    assert "simple" not in fake_bfl.submitted[0]["prompt"]
    assert fake_bfl.submitted[2]["prompt"] != fake_bfl.submitted[0]["prompt"]  # props dropped in round 3
    [queued] = review.review_queue(store)
    assert queued["job"] == job and not queued["ranking"][0]["passed"]
    assert "fidelity check" in shoot_summary(store, job)["error"]
    ledger = Ledger(store)
    assert ledger.spent(job) == pytest.approx(3 * cloud.price())
    review.reject(store, job, "extra handle")
    run_jobs([job], timeout=60)
    j = jobs.get_job(store, job)
    assert j["status"] == "failed" and "rejected in review: extra handle" in j["error"]
    # three images were made and billed: rejecting them does not get the money back
    assert ledger.spent(job) == pytest.approx(3 * cloud.price()) and ledger.hold(job) == 0
    assert ledger.problems() == []
    assert review.review_queue(store) == []


def test_review_can_accept_a_variant(fake_bfl, tmp_path):
    fake_bfl.grow_parts = 100
    store, job = _cloud_shoot(tmp_path, variants=2)
    with pytest.raises(jobs.JobError, match="variants 0..1"):
        review.accept(store, job, 5)
    review.accept(store, job, 1)
    run_jobs([job], timeout=60)
    s = shoot_summary(store, job)
    assert s["status"] == "done" and s["chosen"] == 1 and s["reason"] == "accepted in review"
    assert Ledger(store).spent(job) == pytest.approx(6 * cloud.price())


def test_review_can_send_a_job_back_with_changed_params(fake_bfl, tmp_path):
    fake_bfl.grow_parts = 3
    store, job = _cloud_shoot(tmp_path)
    new = review.send_back(store, job, {"scene": "linen"})
    run_jobs([job, new], timeout=300)
    assert jobs.get_job(store, job)["status"] == "failed"
    assert Ledger(store).spent(job) == pytest.approx(3 * cloud.price())  # its three rounds were billed: kept
    s = shoot_summary(store, new)
    assert s["status"] == "done" and s["scene"] == "linen"
    # the cut-out was reused, not redone
    assert stage_output(store, new, "matte") == stage_output(store, job, "matte")
    with pytest.raises(jobs.JobError, match="not waiting for review"):
        review.reject(store, new)


def test_classic_shoot_passes_the_gate_first_time(tmp_path):
    photo, _ = make_case("striped-box-on-pattern")
    Image.fromarray(photo).save(tmp_path / "box.png")
    store = open_store()
    job = submit_shoot(store, tmp_path / "box.png", variants=3, scene="oak-window", long_side=640)
    run_jobs([job], timeout=300)
    s = shoot_summary(store, job)
    assert s["status"] == "done"
    assert all(v["gate"]["passed"] and v["scores"]["fidelity"] > 0.9 for v in s["variants"]), s["variants"]
    assert store.one("SELECT MAX(attempt) FROM stage_runs WHERE job_id = ? AND stage = 'gate'", (job,))[0] == 1
    ranks = sorted(v["rank"] for v in s["variants"])
    assert ranks == [1, 2, 3] and s["variants"][s["chosen"]]["rank"] == 1
