"""Queries over past jobs for the History tab and `studio history`/`studio show`."""

from __future__ import annotations

from studio.store import Store, loads


def list_jobs(store: Store, limit: int = 50, status: str | None = None, batch_id: str | None = None) -> list[dict]:
    where, args = [], []
    if status:
        where.append("status = ?")
        args.append(status)
    if batch_id:
        where.append("batch_id = ?")
        args.append(batch_id)
    sql = "SELECT * FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "")
    rows = store.query(sql + " ORDER BY created_at DESC LIMIT ?", (*args, limit))
    return [_job_summary(dict(r)) for r in rows]


def _job_summary(job: dict) -> dict:
    params = loads(job["params"])
    wall = (job["finished_at"] - job["created_at"]) if job["finished_at"] else None
    return {
        "id": job["id"], "status": job["status"], "recipe": job["recipe"], "title": job["title"],
        "scene": params.get("scene"), "engine": params.get("engine"), "created_at": job["created_at"],
        "finished_at": job["finished_at"], "wall_s": wall, "cost": job["cost"], "parent_id": job["parent_id"],
        "batch_id": job["batch_id"], "error": job["error"], "failed_stage": job["failed_stage"],
        "failed_attempts": job["failed_attempts"],
    }


def dead_letter(store: Store, limit: int = 100) -> list[dict]:
    """Jobs that failed after their retries ran out, newest first."""
    return list_jobs(store, limit=limit, status="failed")


def job_detail(store: Store, job_id: str) -> dict:
    from studio.pipeline.jobs import get_job

    job = get_job(store, job_id)
    out = _job_summary(job)
    out["params"] = {k: v for k, v in loads(job["params"]).items() if not k.startswith("_")}
    out["stages"] = [
        {"key": r["key"], "stage": r["stage"], "status": r["status"], "attempt": r["attempt"],
         "duration_s": r["duration_s"], "error": r["error"], "reused_from": r["reused_from"],
         "waiting_for": r["waiting_for"], "history": loads(r["history"]), "outputs": loads(r["outputs"])}
        for r in store.query("SELECT * FROM stage_runs WHERE job_id = ? ORDER BY id", (job["id"],))
    ]
    out["variants"] = [
        {"index": r["idx"], "seed": r["seed"], "artifact": r["artifact"], **loads(r["data"])}
        for r in store.query("SELECT * FROM variants WHERE job_id = ? ORDER BY idx", (job["id"],))
    ]
    out["ledger"] = [dict(r) for r in store.query("SELECT kind, amount, provider, note, created_at FROM ledger "
                                                  "WHERE job_id = ? ORDER BY id", (job["id"],))]
    return out
