"""Whether a key's new jobs may join the queue: each key's submissions wait, durably (a
job row and its stored photo; nothing in memory), up to `api_queue_depth` queued or
running jobs, and run at the machine's pace. Past that depth the answer is 429 with a
`Retry-After` from the queue and the measured pace; with too little disk left for more
uploads, 507. Asked twice: by the guard before a body is read (so a refused client
uploads nothing, and one that sent `Expect: 100-continue` sends nothing), and again in
the transaction that makes the jobs (the one that counts)."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

from studio.api.errors import ApiError
from studio.store import Store

# what makes jobs: their POSTs are admitted (a key's own queue), the others are not
SUBMIT_PATHS = ("/api/v1/shoots", "/api/v1/cutouts", "/api/v1/batches")
PACE_WINDOW_S = 600.0  # the pace is measured over the last ten minutes of finished jobs
MAX_RETRY_AFTER_S = 3600
MIN_FREE_DISK = 512 * 1024 * 1024  # under this, new uploads would squeeze the jobs already queued


def submits(path: str, method: str) -> bool:
    """A request that makes jobs (a clip of a finished shoot is one too)."""
    return method == "POST" and (path in SUBMIT_PATHS or (path.startswith("/api/v1/jobs/")
                                                          and path.endswith("/clips")))


def retry_after(store: Store, key_id: str, needed: int, now: float | None = None) -> int:
    """Seconds until `needed` of the key's queued or running jobs have likely ended: the
    machine's measured pace, of which the key gets its share of the queue. Before any
    pace is known, the median job's length (or 10 s) per job."""
    from studio.pipeline.queries import api_jobs_in_flight, jobs_finished_per_second, jobs_in_flight, median_job_seconds

    now = time.time() if now is None else now
    pace = jobs_finished_per_second(store, PACE_WINDOW_S, now)
    if pace is None:
        pace = 1.0 / (median_job_seconds(store) or 10.0)
    mine, everyone = api_jobs_in_flight(store, key_id), jobs_in_flight(store)
    share = mine / everyone if everyone and mine else 1.0
    return max(1, min(MAX_RETRY_AFTER_S, math.ceil(max(1, needed) / (pace * share))))


def check_room(store: Store, key_id: str, more: int, depth: int, data_dir: Path) -> None:
    """ApiError 429 (with Retry-After) when `more` jobs would take the key past `depth`
    queued or running; 507 when the data dir's disk is nearly full."""
    from studio.pipeline.queries import api_jobs_in_flight

    n = api_jobs_in_flight(store, key_id)
    if n + more > depth:
        wait = retry_after(store, key_id, n + more - depth)
        raise ApiError(429, f"this key's queue is full: {n} of its jobs are queued or running and this adds {more} "
                            f"(the depth is {depth}, api_queue_depth in the settings); at the present pace there "
                            f"is room in about {wait} s", headers={"Retry-After": str(wait)})
    free = shutil.disk_usage(data_dir).free
    if free < MIN_FREE_DISK:
        raise ApiError(507, f"the server's disk has {free // (1024 * 1024)} MB free: no more uploads are queued "
                            "until jobs end or space is freed", headers={"Retry-After": "60"})


def admission_problem(store: Store, key_id: str | None, path: str, method: str, depth: int,
                      data_dir: Path) -> tuple[int, str, dict] | None:
    """For the guard, before a body is read: (status, why, headers) when a submission
    with this key cannot be queued now (one job's room; a batch is checked whole later)."""
    if key_id is None or not submits(path, method):
        return None
    try:
        check_room(store, key_id, 1, depth, data_dir)
    except ApiError as exc:
        return exc.status, exc.message, exc.headers
    return None
