"""The review queue: jobs none of whose variants passed the fidelity check, waiting
for a person to accept one, reject the job (its unspent hold is released), or send it
back with changed parameters."""

from __future__ import annotations

from studio.app.context import Ledger, stages
from studio.pipeline import jobs, keys, queries
from studio.store import Store


def review_queue(store: Store) -> list[dict]:
    """Waiting jobs with what the gate said about each variant, oldest first."""
    return [{"job": r["id"], "title": r["title"], "scene": r["params"].get("scene"),
             "engine": r["params"].get("engine"), "created_at": r["created_at"], "why": r["prompt"].get("why", ""),
             "ranking": r["prompt"].get("ranking", [])} for r in queries.jobs_waiting_for(store, keys.REVIEW)]


def _waiting(store: Store, job_id: str) -> dict:
    job = jobs.get_job(store, job_id)
    if not queries.waiting_for(store, job["id"], keys.REVIEW):
        raise jobs.JobError(f"job {job['id']} is not waiting for review (it is {job['status']})")
    return job


def accept(store: Store, job_id: str, variant: int) -> str:
    """Keep variant `variant` although it failed the check; the job then finishes."""
    job = _waiting(store, job_id)
    n = int(jobs.job_params(store, job["id"]).get("variants", 0))
    if not 0 <= variant < n:
        raise jobs.JobError(f"job {job['id']} has variants 0..{n - 1}, not {variant}")
    jobs.provide_input(store, job["id"], keys.REVIEW, {"action": "accept", "variant": variant})
    return job["id"]


def reject(store: Store, job_id: str, note: str = "") -> str:
    """Fail the job; the ledger releases its unspent hold when it ends."""
    job = _waiting(store, job_id)
    jobs.provide_input(store, job["id"], keys.REVIEW, {"action": "reject", "note": note})
    return job["id"]


def send_back(store: Store, job_id: str, overrides: dict, ledger: Ledger | None = None) -> str:
    """A new job that keeps the cut-out and generates the variants again with
    `overrides` (scene, seed, extra_prompt, engine, fidelity_threshold, ...); this one
    is rejected. Returns the new job's id. Changed pictures are checked and kept as a
    replay's are (`history.replay_photos`)."""
    from studio.app.history import replay_photos
    from studio.app.shoot import check_replay
    from studio.store import loads

    job = _waiting(store, job_id)
    overrides = replay_photos(store, check_replay(loads(job["params"]), overrides))
    stage = queries.stage_of(store, job["id"], keys.generate(0)) or "generate"
    new = jobs.replay(store, stages(), job["id"], stage, overrides, ledger)
    jobs.provide_input(store, job["id"], keys.REVIEW, {"action": "reject", "note": f"sent back as job {new}"})
    return new
