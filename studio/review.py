"""Service: the review queue — jobs none of whose variants passed the fidelity check,
waiting for a person to accept one, reject the job (its credits are refunded), or
send it back with changed parameters."""

from __future__ import annotations

from studio.ledger import Ledger
from studio.pipeline import jobs
from studio.services import registry
from studio.store import Store, loads

KEY = "review"


def review_queue(store: Store) -> list[dict]:
    """Waiting jobs with what the gate said about each variant, oldest first."""
    rows = store.query(
        "SELECT j.id, j.title, j.params, j.created_at, sr.prompt FROM jobs j JOIN stage_runs sr ON sr.job_id = j.id "
        "WHERE j.status = 'waiting' AND sr.status = 'waiting' AND sr.waiting_for = ? ORDER BY j.created_at", (KEY,))
    out = []
    for r in rows:
        params, prompt = loads(r["params"]), loads(r["prompt"]) or {}
        out.append({"job": r["id"], "title": r["title"], "scene": params.get("scene"), "engine": params.get("engine"),
                    "created_at": r["created_at"], "why": prompt.get("why", ""), "ranking": prompt.get("ranking", [])})
    return out


def waiting_for_review(store: Store, job_id: str) -> bool:
    return store.one("SELECT 1 FROM stage_runs WHERE job_id = ? AND status = 'waiting' AND waiting_for = ?",
                     (job_id, KEY)) is not None


def _waiting(store: Store, job_id: str) -> dict:
    job = jobs.get_job(store, job_id)
    if not waiting_for_review(store, job["id"]):
        raise jobs.JobError(f"job {job['id']} is not waiting for review (it is {job['status']})")
    return job


def accept(store: Store, job_id: str, variant: int) -> str:
    """Keep variant `variant` although it failed the check; the job then finishes."""
    job = _waiting(store, job_id)
    n = int(loads(job["params"]).get("variants", 0))
    if not 0 <= variant < n:
        raise jobs.JobError(f"job {job['id']} has variants 0..{n - 1}, not {variant}")
    jobs.provide_input(store, job["id"], KEY, {"action": "accept", "variant": variant})
    return job["id"]


def reject(store: Store, job_id: str, note: str = "") -> str:
    """Fail the job; the ledger refunds what it spent when it ends."""
    job = _waiting(store, job_id)
    jobs.provide_input(store, job["id"], KEY, {"action": "reject", "note": note})
    return job["id"]


def send_back(store: Store, job_id: str, overrides: dict, ledger: Ledger | None = None) -> str:
    """A new job that keeps the cut-out and generates the variants again with
    `overrides` (scene, seed, extra_prompt, engine, fidelity_threshold, ...); this one
    is rejected (and refunded). Returns the new job's id."""
    job = _waiting(store, job_id)
    gen = store.one("SELECT stage FROM stage_runs WHERE job_id = ? AND key = 'generate[0]'", (job["id"],))
    new = jobs.replay(store, registry(), job["id"], gen["stage"] if gen else "generate", overrides, ledger)
    jobs.provide_input(store, job["id"], KEY, {"action": "reject", "note": f"sent back as job {new}"})
    return new
