"""A job carried between two data dirs: its rows (the job, its stage runs, variants,
inputs and ledger entries) and the artifacts they refer to, as one plain dict that
pickles. A cluster worker runs a shoot in a scratch store of its own and sends the
bundle back; the head imports it, so the job's history, review, retry and replay work
here as if it had run here. Every artifact is checked against its digest on import."""

from __future__ import annotations

import hashlib
from typing import Any

from studio.store import Store

# The tables that belong to one job, and the row ids the importing store assigns anew.
_TABLES = ("stage_runs", "variants", "job_inputs", "ledger")
_OWN_IDS = {"stage_runs": "id", "variants": "id", "ledger": "id"}


class BundleError(ValueError):
    """A bundle that cannot be imported: damaged, or from another Studio version."""


def export_job(store: Store, job_id: str) -> dict[str, Any]:
    """The job `job_id` with every artifact of `store`: meant for a scratch store that
    holds just this job (a cluster worker's), where all artifacts are the job's."""
    job = store.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if job is None:
        raise BundleError(f"no job {job_id!r} to export")
    rows = {t: [dict(r) for r in store.query(f"SELECT * FROM {t} WHERE job_id = ?", (job_id,))] for t in _TABLES}
    artifacts = {}
    for a in store.query("SELECT hash, ext FROM artifacts"):
        path = store.artifacts.path(a["hash"], a["ext"])
        if path.exists():
            artifacts[a["hash"]] = (a["ext"], path.read_bytes())
    return {"job": dict(job), "rows": rows, "artifacts": artifacts}


def import_job(store: Store, bundle: dict[str, Any], **job_fields: Any) -> str:
    """Write a bundle's artifacts and rows into `store` (in the caller's transaction when
    there is one); `job_fields` override columns of the job row (the node it ran on).
    Returns the job id. A job id already present is an error: a result is imported once."""
    for digest, (_ext, data) in bundle["artifacts"].items():
        if hashlib.sha256(data).hexdigest() != digest:
            raise BundleError(f"artifact {digest[:12]} was damaged on the way")
    for ext, data in bundle["artifacts"].values():
        store.put_artifact(data, ext)  # content-addressed: one already here is kept as it is
    job = {**bundle["job"], **job_fields}
    with store.tx() as conn:
        if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job["id"],)).fetchone():
            raise BundleError(f"job {job['id']} is already here")
        _insert(conn, "jobs", [job])
        for table in _TABLES:
            _insert(conn, table, [{k: v for k, v in row.items() if k != _OWN_IDS.get(table)}
                                  for row in bundle["rows"][table]])
    return job["id"]


def _insert(conn, table: str, rows: list[dict]) -> None:
    columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
    for row in rows:
        unknown = set(row) - columns
        if unknown:
            raise BundleError(f"the bundle's {table} has columns this Studio does not know "
                              f"({', '.join(sorted(unknown))}): every machine of a cluster needs the same Studio "
                              "version")
        names = list(row)
        conn.execute(f"INSERT INTO {table}({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                     [row[n] for n in names])
