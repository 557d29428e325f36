"""Reads (and the variant upserts) on the engine's tables that the flows above the
pipeline need: stage outputs, a person's inputs, what waits for review, history
listings, how many stage runs are left. Every statement on `jobs`, `stage_runs`,
`job_inputs`, `variants` and `ledger` lives in `studio/pipeline/`; this module holds
the ones that are not part of a job's state machine (that is `jobs.py`)."""

from __future__ import annotations

import json
from typing import Any

from studio.pipeline.codec import decode
from studio.store import Store, loads


def stage_output(store: Store, job_id: str, key: str, only: tuple[str, ...] | None = None) -> dict:
    """The decoded outputs of node `key` of a job (`only` those named, when given: a
    summary that wants a seed need not decode a 4 MP image); KeyError when it has none (yet)."""
    row = store.one("SELECT outputs FROM stage_runs WHERE job_id = ? AND key = ?", (job_id, key))
    if row is None or row["outputs"] is None:
        raise KeyError(f"job {job_id} has no output from {key}")
    outputs = loads(row["outputs"])
    if only is not None:
        outputs = {k: v for k, v in outputs.items() if k in only}
    return decode(store, outputs)


def finished_runs(store: Store, job_id: str, keys: list[str]) -> dict[str, dict]:
    """{node key: its run row} for those of `keys` that finished (what a new job may reuse)."""
    marks = ",".join("?" * len(keys))
    rows = store.query(f"SELECT * FROM stage_runs WHERE job_id = ? AND key IN ({marks}) AND status = 'done'",
                       (job_id, *keys))
    return {r["key"]: dict(r) for r in rows}


def stage_of(store: Store, job_id: str, key: str) -> str | None:
    row = store.one("SELECT stage FROM stage_runs WHERE job_id = ? AND key = ?", (job_id, key))
    return row["stage"] if row else None


def job_input(store: Store, job_id: str, key: str, default: Any = None) -> Any:
    """What a person gave the job for `key` (touch-up edits, a review decision)."""
    row = store.one("SELECT value FROM job_inputs WHERE job_id = ? AND key = ?", (job_id, key))
    return loads(row["value"]) if row else default


def waiting_for(store: Store, job_id: str, key: str) -> bool:
    """Whether a stage of the job waits for a person's input `key`."""
    return store.one("SELECT 1 FROM stage_runs WHERE job_id = ? AND status = 'waiting' AND waiting_for = ?",
                     (job_id, key)) is not None


def waiting_prompt(store: Store, job_id: str, key: str) -> dict | None:
    """The prompt a waiting job's stage left for the person's input `key` (as
    `jobs_waiting_for` gives it, for this one job); None when the job does not wait for it."""
    row = store.one("SELECT sr.prompt FROM jobs j JOIN stage_runs sr ON sr.job_id = j.id WHERE j.id = ? "
                    "AND j.status = 'waiting' AND sr.status = 'waiting' AND sr.waiting_for = ? LIMIT 1", (job_id, key))
    return None if row is None else (loads(row["prompt"]) or {})


def jobs_waiting_for(store: Store, key: str) -> list[dict]:
    """Waiting jobs (oldest first) with the prompt the waiting stage left for the person."""
    rows = store.query(
        "SELECT j.id, j.title, j.params, j.created_at, sr.prompt FROM jobs j JOIN stage_runs sr ON sr.job_id = j.id "
        "WHERE j.status = 'waiting' AND sr.status = 'waiting' AND sr.waiting_for = ? ORDER BY j.created_at", (key,))
    return [{"id": r["id"], "title": r["title"], "params": loads(r["params"]), "created_at": r["created_at"],
             "prompt": loads(r["prompt"]) or {}} for r in rows]


def list_jobs(store: Store, limit: int = 50, status: str | None = None, batch_id: str | None = None) -> list[dict]:
    """Job rows, newest first."""
    where, args = [], []
    if status:
        where.append("status = ?")
        args.append(status)
    if batch_id:
        where.append("batch_id = ?")
        args.append(batch_id)
    sql = "SELECT * FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "")
    return [dict(r) for r in store.query(sql + " ORDER BY created_at DESC LIMIT ?", (*args, limit))]


def stage_runs(store: Store, job_id: str) -> list[dict]:
    return [dict(r) for r in store.query("SELECT * FROM stage_runs WHERE job_id = ? ORDER BY id", (job_id,))]


def variant_rows(store: Store, job_id: str) -> list[dict]:
    return [dict(r) for r in store.query("SELECT * FROM variants WHERE job_id = ? ORDER BY idx", (job_id,))]


def ledger_rows(store: Store, job_id: str) -> list[dict]:
    return [dict(r) for r in store.query("SELECT kind, amount, provider, note, created_at FROM ledger "
                                         "WHERE job_id = ? ORDER BY id", (job_id,))]


def stages_left(store: Store, job_ids: list[str]) -> int:
    """Stage runs of these jobs that have not finished (a progress bar's total)."""
    if not job_ids:
        return 0
    marks = ",".join("?" * len(job_ids))
    return store.one(f"SELECT COUNT(*) FROM stage_runs WHERE job_id IN ({marks}) AND status != 'done'",
                     tuple(job_ids))[0]


def stages_to_run(store: Store, job_id: str) -> int:
    """Stage runs of a job that it runs itself (not reused from another job)."""
    return store.one("SELECT COUNT(*) FROM stage_runs WHERE job_id = ? AND reused_from IS NULL", (job_id,))[0]


def job_status(store: Store, job_id: str) -> str | None:
    row = store.one("SELECT status FROM jobs WHERE id = ?", (job_id,))
    return row[0] if row else None


def record_variant(store: Store, job_id: str, index: int, seed: int, data: dict) -> None:
    """A variant as generated: its seed and what made it (replaces an earlier round's)."""
    store.conn.execute(
        "INSERT INTO variants(job_id, idx, seed, data) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(job_id, idx) DO UPDATE SET seed = excluded.seed, data = excluded.data",
        (job_id, index, seed, json.dumps(data)))


def variant_data(store: Store, job_id: str, index: int) -> dict:
    """What the variant's generation recorded (engine, plan, seed's round, ...)."""
    row = store.one("SELECT data FROM variants WHERE job_id = ? AND idx = ?", (job_id, index))
    return loads(row["data"]) if row and row["data"] else {}


def update_variant(store: Store, job_id: str, index: int, fields: dict) -> None:
    """Merge fields into a variant's data (scores, the gate's verdict). (Variant data is
    written with json.dumps' default spacing, as it always was.)"""
    with store.tx() as conn:
        row = conn.execute("SELECT data FROM variants WHERE job_id = ? AND idx = ?", (job_id, index)).fetchone()
        data = {**(loads(row["data"]) if row and row["data"] else {}), **fields}
        conn.execute("INSERT INTO variants(job_id, idx, seed, data) VALUES (?, ?, NULL, ?) "
                     "ON CONFLICT(job_id, idx) DO UPDATE SET data = excluded.data", (job_id, index, json.dumps(data)))


def referenced_artifacts(store: Store) -> set[str]:
    """Every artifact a stored stage output refers to (what `studio doctor` checks)."""
    from studio.pipeline.codec import artifact_hashes

    out: set[str] = set()
    for (outputs,) in store.query("SELECT outputs FROM stage_runs WHERE outputs IS NOT NULL"):
        out.update(artifact_hashes(loads(outputs)))
    return out


def interrupted_jobs(store: Store, now: float) -> list[str]:
    """Jobs left queued or running with no live worker on them (a killed process)."""
    rows = store.query(
        "SELECT j.id FROM jobs j WHERE j.status IN ('queued','running') AND NOT EXISTS (SELECT 1 FROM stage_runs sr "
        "WHERE sr.job_id = j.id AND sr.status = 'running' AND sr.lease_expires >= ?) ORDER BY j.created_at", (now,))
    return [r[0] for r in rows]


# -- the job API's view of the engine's jobs (studio/api keeps its own tables) ---------

def unfinished_jobs(store: Store, recipe: str) -> list[tuple[str, dict]]:
    """(id, params) of the recipe's jobs that have not ended (queued, running, waiting, paused)."""
    rows = store.query("SELECT id, params FROM jobs WHERE recipe = ? AND status NOT IN ('done','failed','cancelled')",
                       (recipe,))
    return [(r["id"], loads(r["params"])) for r in rows]


def api_job_owner(store: Store, job_id: str) -> tuple[bool, str | None]:
    """(the job exists, the id of the API key that submitted it, if one did)."""
    row = store.one("SELECT j.id, a.key_id FROM jobs j LEFT JOIN api_jobs a ON a.job_id = j.id WHERE j.id = ?",
                    (job_id,))
    return (row is not None, row["key_id"] if row else None)


def api_jobs_in_flight(store: Store, key_id: str) -> int:
    """How many of a key's jobs are queued or running."""
    return store.one("SELECT COUNT(*) FROM api_jobs a JOIN jobs j ON j.id = a.job_id WHERE a.key_id = ? AND "
                     "j.status IN ('queued', 'running')", (key_id,))[0]


def api_job_list(store: Store, key_id: str, status: str | None, limit: int) -> list[dict]:
    """A key's jobs, newest first."""
    sql = ("SELECT j.id, j.recipe AS kind, j.status, j.title, j.created_at, j.finished_at, j.cost FROM jobs j "
           "JOIN api_jobs a ON "
           "a.job_id = j.id WHERE a.key_id = ?")
    args: list = [key_id]
    if status:
        sql += " AND j.status = ?"
        args.append(status)
    return [dict(r) for r in store.query(sql + " ORDER BY j.created_at DESC LIMIT ?", (*args, limit))]


def jobs_in_flight(store: Store) -> int:
    """How many jobs of any kind or owner are queued or running (the machine's queue)."""
    return store.one("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")[0]


def jobs_finished_per_second(store: Store, window_s: float, now: float) -> float | None:
    """The machine's measured pace: jobs ended (done or failed) per second over the last
    `window_s`, from the span between the first and last of them; None with fewer than
    three (too few to say)."""
    row = store.one("SELECT COUNT(*), MIN(finished_at), MAX(finished_at) FROM jobs WHERE status IN ('done', 'failed') "
                    "AND finished_at >= ?", (now - window_s,))
    count, first, last = row[0], row[1], row[2]
    if count < 3 or last <= first:
        return None
    return (count - 1) / (last - first)


def median_job_seconds(store: Store, recent: int = 50) -> float | None:
    """How long the last `recent` finished jobs took, start to end (the median); None when none did."""
    spans = sorted(r[0] for r in store.query(
        "SELECT finished_at - started_at FROM jobs WHERE status = 'done' AND started_at IS NOT NULL "
        "AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?", (recent,)))
    return spans[len(spans) // 2] if spans else None
