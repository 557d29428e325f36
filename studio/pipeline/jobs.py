"""The durable job queue: every state change of a job or stage run is one SQLite
transaction, so any process can crash at any point and the next worker carries on.

Stage run states:
    blocked ─► ready ─► running ─► done
                 ▲         ├─► ready (retry, after backoff)     ├─► failed (retries exhausted)
                 │         ├─► waiting (needs a person) ─► ready when the input arrives
                 └─────────┴─► ready (lease expired: the worker died)
    blocked/ready/waiting ─► cancelled;  blocked ─► skipped (another stage failed)
Job states: queued, running, waiting, paused, done, failed, cancelled.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from studio.pipeline.ledger import Ledger
from studio.pipeline.registry import Node, Registry
from studio.store import Store, dumps, loads

TERMINAL = ("done", "failed", "cancelled")
# A stage that kills its worker this many times is failed instead of retried forever.
MAX_CRASHES = 3


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def _longest_chain_first(nodes: list) -> list:
    """The nodes in the order workers should take them when several are ready (claims go
    by insertion order): the longest chain of work still behind a node first, so the
    four generate runs of a shoot start before the short colour and export runs of the
    first variant, and no core sits idle at the end. Ties keep the recipe's order."""
    children: dict[str, list[str]] = {n.key: [] for n in nodes}
    for n in nodes:
        for ref in n.deps.values():
            up = ref.split(".", 1)[0]
            if up in children:
                children[up].append(n.key)
    height: dict[str, int] = {}

    def chain(key: str) -> int:
        if key not in height:
            height[key] = 1 + max((chain(c) for c in children[key]), default=0)
        return height[key]

    order = {n.key: i for i, n in enumerate(nodes)}
    return sorted(nodes, key=lambda n: (-chain(n.key), order[n.key]))


def submit(store: Store, registry: Registry, recipe: str, params: dict, *, title: str = "",
           parent_id: str | None = None, batch_id: str | None = None, ledger: Ledger | None = None,
           reserve: float = 0.0, reuse: dict[str, dict] | None = None, inputs: dict[str, Any] | None = None) -> str:
    """Create a job and its stage runs. `reuse` maps node keys to finished runs
    (rows) of another job whose outputs this job takes instead of running them;
    `inputs` are a person's inputs given up front (in the same transaction, so no
    worker sees the job without them)."""
    nodes = _longest_chain_first(registry.build(recipe, params))
    job_id = new_id()
    now = time.time()
    reuse = reuse or {}
    with store.tx() as conn:
        conn.execute(
            "INSERT INTO jobs(id, recipe, params, status, title, parent_id, batch_id, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (job_id, recipe, dumps({**params, "_reserve": reserve} if reserve else params), "queued", title,
             parent_id, batch_id, now),
        )
        for n in nodes:
            stage = registry.stages[n.stage]
            base = (job_id, n.key, n.stage, dumps(n.deps), dumps(n.params), n.device or stage.device)
            if n.key in reuse:
                src = reuse[n.key]
                conn.execute(
                    "INSERT INTO stage_runs(job_id, key, stage, deps, params, device, status, outputs, reused_from, "
                    "finished_at, duration_s) VALUES (?,?,?,?,?,?, 'done', ?, ?, ?, 0)",
                    (*base, src["outputs"], src["id"], now),
                )
            else:
                conn.execute(
                    "INSERT INTO stage_runs(job_id, key, stage, deps, params, device, status) VALUES (?,?,?,?,?,?,?)",
                    (*base, "blocked"),
                )
        for key, value in (inputs or {}).items():
            conn.execute("INSERT INTO job_inputs(job_id, key, value, created_at) VALUES (?,?,?,?)",
                         (job_id, key, dumps(value), now))
        _unblock(conn, job_id)
        if reserve and ledger is not None:
            ledger.reserve(job_id, reserve, note="estimate at submission")
        _finish_if_complete(conn, job_id, ledger)
    return job_id


def _unblock(conn, job_id: str) -> list[str]:
    """Move blocked runs whose upstream runs are all done to ready."""
    rows = conn.execute("SELECT key, status, deps FROM stage_runs WHERE job_id = ?", (job_id,)).fetchall()
    status = {r["key"]: r["status"] for r in rows}
    ready = []
    for r in rows:
        if r["status"] != "blocked":
            continue
        ups = {ref.split(".", 1)[0] for ref in loads(r["deps"]).values()}
        if all(status.get(u) == "done" for u in ups):
            ready.append(r["key"])
    for key in ready:
        conn.execute("UPDATE stage_runs SET status = 'ready' WHERE job_id = ? AND key = ? AND status = 'blocked'",
                     (job_id, key))
    return ready


def _finish_if_complete(conn, job_id: str, ledger: Ledger | None) -> str | None:
    counts = dict(conn.execute("SELECT status, COUNT(*) FROM stage_runs WHERE job_id = ? GROUP BY status",
                               (job_id,)).fetchall())
    job = conn.execute("SELECT status, cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if job["status"] in TERMINAL:
        return job["status"]
    now = time.time()
    if job["cancel_requested"] and not counts.get("running"):
        conn.execute("UPDATE stage_runs SET status = 'cancelled' WHERE job_id = ? AND status IN "
                     "('blocked','ready','waiting')", (job_id,))
        conn.execute("UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ?", (now, job_id))
        if ledger is not None:
            ledger.settle(job_id, succeeded=False)
        return "cancelled"
    if set(counts) == {"done"}:
        conn.execute("UPDATE jobs SET status = 'done', finished_at = ?, error = NULL WHERE id = ?", (now, job_id))
        if ledger is not None:
            ledger.settle(job_id, succeeded=True)
        return "done"
    return None


# -- worker side -----------------------------------------------------------

def claim(store: Store, worker: str, device: str, limit: int, lease_s: float) -> list[dict]:
    """Take up to `limit` ready runs for `device`; each gets a fresh lease token."""
    if limit <= 0:
        return []
    now = time.time()
    with store.tx() as conn:
        rows = conn.execute(
            "SELECT sr.id FROM stage_runs sr JOIN jobs j ON j.id = sr.job_id WHERE sr.status = 'ready' "
            "AND sr.device = ? AND sr.not_before <= ? AND j.status IN ('queued','running','waiting') "
            "AND j.cancel_requested = 0 ORDER BY sr.id LIMIT ?",
            (device, now, limit),
        ).fetchall()
        claimed = []
        for (run_id,) in rows:
            token = uuid.uuid4().hex
            cur = conn.execute(
                "UPDATE stage_runs SET status = 'running', attempt = attempt + 1, lease_owner = ?, lease_token = ?, "
                "lease_expires = ?, started_at = ?, progress = 0, message = '' WHERE id = ? AND status = 'ready'",
                (worker, token, now + lease_s, now, run_id),
            )
            if cur.rowcount:
                row = dict(conn.execute("SELECT * FROM stage_runs WHERE id = ?", (run_id,)).fetchone())
                conn.execute("UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, ?) "
                             "WHERE id = ? AND status IN ('queued','waiting')", (now, row["job_id"]))
                claimed.append(row)
        return claimed


def heartbeat(store: Store, worker: str, lease_s: float) -> None:
    store.conn.execute("UPDATE stage_runs SET lease_expires = ? WHERE lease_owner = ? AND status = 'running'",
                       (time.time() + lease_s, worker))


def recover_expired(store: Store, ledger: Ledger | None = None, max_crashes: int = MAX_CRASHES) -> int:
    """Re-queue runs whose worker stopped heartbeating (it crashed or was killed). A run
    whose worker died `max_crashes` times is failed: it is probably what kills them."""
    now = time.time()
    with store.tx() as conn:
        rows = conn.execute("SELECT id, job_id, key, attempt, crashes, history FROM stage_runs "
                            "WHERE status = 'running' AND lease_expires < ?", (now,)).fetchall()
        for r in rows:
            history = loads(r["history"]) + [{"attempt": r["attempt"], "error": "worker lost (lease expired)",
                                              "at": now}]
            if r["crashes"] + 1 >= max_crashes:
                _fail_run(conn, r["id"], r["job_id"], r["key"], r["attempt"],
                          f"the worker died {max_crashes} times while running this stage", history, ledger)
                continue
            # A crash is not the stage's failure: it does not use up one of its attempts.
            conn.execute("UPDATE stage_runs SET status = 'ready', attempt = attempt - 1, crashes = crashes + 1, "
                         "lease_owner = NULL, lease_token = NULL, history = ? WHERE id = ?",
                         (dumps(history), r["id"]))
            _finish_if_complete(conn, r["job_id"], ledger)
        return len(rows)


def expire_dead_local_leases(store: Store) -> int:
    """Runs held by a worker of this computer whose process is gone (a server killed and
    started again): their leases end now, so the next worker takes them up at once
    instead of when the leases run out. Workers are named host:pid:…."""
    import os
    import socket

    host = socket.gethostname()
    rows = store.query("SELECT DISTINCT lease_owner FROM stage_runs WHERE status = 'running' AND lease_owner LIKE ?",
                       (f"{host}:%",))
    dead = []
    for (owner,) in rows:
        try:
            pid = int(owner.split(":")[1])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.append(owner)
        except PermissionError:
            pass  # alive, another user's
    for owner in dead:
        store.conn.execute("UPDATE stage_runs SET lease_expires = 0 WHERE lease_owner = ? AND status = 'running'",
                           (owner,))
    return len(dead)


def release(store: Store, run: dict) -> bool:
    """Hand a running run back to the queue because its worker is stopping on purpose:
    unlike a crash it costs neither an attempt nor a strike, and it is ready at once
    instead of after its lease runs out. False: the run had already ended."""
    now = time.time()
    with store.tx() as conn:
        row = _leased(conn, run)
        if row is None:
            return False
        history = loads(row["history"]) + [{"attempt": row["attempt"], "error": "stopped before it finished",
                                            "at": now}]
        conn.execute("UPDATE stage_runs SET status = 'ready', attempt = attempt - 1, lease_owner = NULL, "
                     "lease_token = NULL, progress = 0, message = '', history = ? WHERE id = ?",
                     (dumps(history), row["id"]))
    return True


def complete(store: Store, run: dict, outputs: Any, ledger: Ledger | None, duration: float) -> bool:
    """Record a run's outputs if it still holds its lease. False: the result is stale
    (the run timed out or was recovered by another worker) and is dropped."""
    now = time.time()
    with store.tx() as conn:
        cur = conn.execute(
            "UPDATE stage_runs SET status = 'done', outputs = ?, finished_at = ?, duration_s = ?, progress = 1, "
            "lease_owner = NULL, error = NULL WHERE id = ? AND lease_token = ? AND status = 'running'",
            (dumps(outputs), now, duration, run["id"], run["lease_token"]),
        )
        if not cur.rowcount:
            return False
        _unblock(conn, run["job_id"])
        _finish_if_complete(conn, run["job_id"], ledger)
    return True


def _leased(conn, run: dict):
    """The run's row while it still holds its lease, else None (timed out or taken over)."""
    return conn.execute("SELECT * FROM stage_runs WHERE id = ? AND lease_token = ? AND status = 'running'",
                        (run["id"], run["lease_token"])).fetchone()


def retry_or_fail(store: Store, run: dict, error: str, next_params: dict | None, delay: float,
                  max_attempts: int, ledger: Ledger | None, duration: float, used_params: dict | None = None
                  ) -> str | None:
    """After a failed attempt: back to ready with new params, or failed for good.
    Returns "retry", "failed", or None when the run no longer holds its lease."""
    now = time.time()
    with store.tx() as conn:
        row = _leased(conn, run)
        if row is None:
            return None
        used = used_params if used_params is not None else loads(row["params"])
        history = loads(row["history"]) + [{"attempt": row["attempt"], "error": error, "params": used,
                                            "duration_s": round(duration, 4), "at": now}]
        cancelled = conn.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (row["job_id"],)).fetchone()[0]
        if row["attempt"] < max_attempts and not cancelled:
            conn.execute(
                "UPDATE stage_runs SET status = 'ready', params = ?, not_before = ?, lease_owner = NULL, "
                "lease_token = NULL, error = ?, history = ? WHERE id = ?",
                (dumps(next_params if next_params is not None else loads(row["params"])), now + delay, error,
                 dumps(history), row["id"]),
            )
            return "retry"
        if cancelled:
            conn.execute("UPDATE stage_runs SET status = 'cancelled', error = ?, history = ?, lease_owner = NULL, "
                         "finished_at = ? WHERE id = ?", (error, dumps(history), now, row["id"]))
            _finish_if_complete(conn, row["job_id"], ledger)
            return "failed"
        _fail_run(conn, row["id"], row["job_id"], row["key"], row["attempt"], error, history, ledger,
                  job_error=first_cause(history, error))
        return "failed"


# what the engine writes into a run's history when the worker, not the stage, stopped it
_NOT_THE_STAGE = ("worker lost (lease expired)", "stopped before it finished")


def first_cause(history: list[dict], last: str) -> str:
    """The error a failed job reports: the first attempt's cause, with the last one's
    when they differ (a server error, then a budget refusal on the retry, is still the
    server error)."""
    first = next((h["error"] for h in history if h.get("error") and h["error"] not in _NOT_THE_STAGE
                  and "rewound" not in h), last)
    return last if first == last else f"{first} (then, on the last try: {last})"


def rewind(store: Store, run: dict, to: str, params: dict, error: str, details: dict, duration: float) -> bool:
    """The checking run `run` rejected its upstream node `to`: `to` goes back to ready
    with `params` merged in (and fresh attempts), every node after it back to blocked.
    The check's own attempt count is kept: it counts rounds. False: lease lost."""
    now = time.time()
    with store.tx() as conn:
        row = _leased(conn, run)
        if row is None:
            return False
        rows = {r["key"]: dict(r) for r in conn.execute("SELECT * FROM stage_runs WHERE job_id = ?", (row["job_id"],))}
        if to not in rows:
            raise KeyError(f"{row['key']} asked to rewind to {to!r}, which job {row['job_id']} does not have")
        nodes = [Node(k, r["stage"], loads(r["deps"])) for k, r in rows.items()]
        after = _downstream(nodes, {to})
        if row["key"] not in after:
            raise ValueError(f"{row['key']} can only rewind to a node upstream of itself, not {to!r}")
        history = loads(row["history"]) + [{"attempt": row["attempt"], "error": error, "details": details,
                                            "rewound": to, "params": params, "duration_s": round(duration, 4),
                                            "at": now}]
        conn.execute("UPDATE stage_runs SET status = 'blocked', outputs = NULL, lease_owner = NULL, lease_token = NULL, "
                     "error = ?, history = ?, duration_s = ? WHERE id = ?", (error, dumps(history), duration, row["id"]))
        target = rows[to]
        conn.execute("UPDATE stage_runs SET status = 'ready', attempt = 0, not_before = ?, params = ?, history = ? "
                     "WHERE id = ?", (now, dumps({**loads(target["params"]), **params}),
                                      dumps(loads(target["history"]) + [{"attempt": target["attempt"],
                                                                        "error": f"rejected by {row['key']}: {error}",
                                                                        "outputs": loads(target["outputs"]),
                                                                        "at": now}]), target["id"]))
        others = [k for k in after if k != row["key"]]
        if others:
            marks = ",".join("?" * len(others))
            conn.execute(f"UPDATE stage_runs SET status = 'blocked', outputs = NULL, attempt = 0 WHERE job_id = ? "
                         f"AND key IN ({marks}) AND status IN ('done','ready','blocked')", (row["job_id"], *others))
        return True


def _fail_run(conn, run_id: int, job_id: str, key: str, attempt: int, error: str, history: list,
              ledger: Ledger | None, job_error: str | None = None) -> None:
    now = time.time()
    conn.execute("UPDATE stage_runs SET status = 'failed', error = ?, history = ?, finished_at = ?, "
                 "lease_owner = NULL, lease_token = NULL WHERE id = ?", (error, dumps(history), now, run_id))
    conn.execute("UPDATE stage_runs SET status = 'skipped' WHERE job_id = ? AND status IN ('blocked','ready','waiting')",
                 (job_id,))
    conn.execute("UPDATE jobs SET status = 'failed', finished_at = ?, error = ?, failed_stage = ?, failed_attempts = ? "
                 "WHERE id = ? AND status NOT IN ('done','failed','cancelled')",
                 (now, job_error or error, key, attempt, job_id))
    if ledger is not None:
        ledger.settle(job_id, succeeded=False)


def wait_for_input(store: Store, run: dict, key: str, prompt: dict, duration: float) -> bool:
    with store.tx() as conn:
        cur = conn.execute(
            "UPDATE stage_runs SET status = 'waiting', waiting_for = ?, prompt = ?, lease_owner = NULL, "
            "lease_token = NULL, attempt = attempt - 1, duration_s = ?, message = ? "
            "WHERE id = ? AND lease_token = ? AND status = 'running'",
            (key, dumps(prompt), duration, f"waiting for {key}", run["id"], run["lease_token"]),
        )
        if cur.rowcount:
            conn.execute("UPDATE jobs SET status = 'waiting' WHERE id = ? AND status = 'running'", (run["job_id"],))
        return bool(cur.rowcount)


def set_progress(store: Store, run: dict, fraction: float, message: str) -> None:
    store.conn.execute("UPDATE stage_runs SET progress = ?, message = ? WHERE id = ? AND lease_token = ?",
                       (fraction, message, run["id"], run["lease_token"]))


def resolve_inputs(store: Store, run: dict) -> dict[str, Any]:
    """{input name: stored output value (still encoded)} for a run's deps."""
    deps: dict[str, str] = loads(run["deps"])
    if not deps:
        return {}
    keys = sorted({ref.split(".", 1)[0] for ref in deps.values()})
    marks = ",".join("?" * len(keys))
    rows = store.query(f"SELECT key, outputs FROM stage_runs WHERE job_id = ? AND key IN ({marks})",
                       (run["job_id"], *keys))
    outputs = {r["key"]: loads(r["outputs"]) or {} for r in rows}
    resolved = {}
    for name, ref in deps.items():
        key, _, out = ref.partition(".")
        if out not in outputs.get(key, {}):
            raise KeyError(f"{run['key']}: input {name!r} wants {ref}, which {key} did not produce")
        resolved[name] = outputs[key][out]
    return resolved


def inputs_given(store: Store, job_id: str) -> dict[str, Any]:
    return {r["key"]: loads(r["value"]) for r in store.query("SELECT key, value FROM job_inputs WHERE job_id = ?",
                                                             (job_id,))}


def job_params(store: Store, job_id: str) -> dict:
    return loads(store.one("SELECT params FROM jobs WHERE id = ?", (job_id,))["params"])


def cancel_requested(store: Store, job_id: str) -> bool:
    row = store.one("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
    return bool(row and row[0])


# -- user actions ----------------------------------------------------------

class JobError(ValueError):
    pass


def get_job(store: Store, job_id: str) -> dict:
    row = store.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if row is None:
        if not job_id:
            raise JobError("no job id given")
        # a prefix of the id: % and _ in it are characters, not LIKE's wildcards
        prefix = job_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = store.query("SELECT * FROM jobs WHERE id LIKE ? ESCAPE '\\'", (prefix + "%",))
        if len(rows) != 1:
            raise JobError(f"no job {job_id!r}" if not rows else f"{job_id!r} matches {len(rows)} jobs")
        row = rows[0]
    return dict(row)


def provide_input(store: Store, job_id: str, key: str, value: Any) -> None:
    """Give a waiting job the input it asked for (or one it will ask for)."""
    with store.tx() as conn:
        conn.execute("INSERT OR REPLACE INTO job_inputs(job_id, key, value, created_at) VALUES (?, ?, ?, ?)",
                     (job_id, key, dumps(value), time.time()))
        cur = conn.execute("UPDATE stage_runs SET status = 'ready', waiting_for = NULL, message = '' "
                           "WHERE job_id = ? AND status = 'waiting' AND waiting_for = ?", (job_id, key))
        if cur.rowcount:
            conn.execute("UPDATE jobs SET status = 'running' WHERE id = ? AND status = 'waiting'", (job_id,))


def cancel(store: Store, job_id: str, ledger: Ledger | None = None) -> str:
    """Stop a job: nothing new starts; a running stage stops at its next cancellation check."""
    with store.tx() as conn:
        job = get_job(store, job_id)
        if job["status"] in TERMINAL:
            raise JobError(f"job {job['id']} is already {job['status']}; there is nothing to cancel")
        conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job["id"],))
        return _finish_if_complete(conn, job["id"], ledger) or "cancelling"


def pause(store: Store, job_id: str) -> None:
    store.conn.execute("UPDATE jobs SET status = 'paused' WHERE id = ? AND status IN ('queued','running','waiting')",
                       (job_id,))


def resume(store: Store, job_id: str) -> None:
    store.conn.execute("UPDATE jobs SET status = 'running' WHERE id = ? AND status = 'paused'", (job_id,))


def retry(store: Store, job_id: str, ledger: Ledger | None = None) -> None:
    """Run a failed, cancelled or interrupted job again from where it stopped (finished
    stages are kept). Interrupted: queued or running, but no live worker holds any of
    its stages (its process was stopped or killed)."""
    job = get_job(store, job_id)
    if job["status"] in ("queued", "running"):
        until = store.one("SELECT MAX(lease_expires) FROM stage_runs WHERE job_id = ? AND status = 'running' "
                          "AND lease_expires >= ?", (job["id"], time.time()))[0]
        if until:
            raise JobError(f"job {job['id']} is running in a worker, or its process stopped less than a lease ago: "
                           f"wait {max(1, round(until - time.time()))} s and retry it then (a stopped process's "
                           "stages are taken back when their lease runs out); `studio cancel` would end it instead")
    elif job["status"] not in ("failed", "cancelled"):
        raise JobError(f"job {job['id']} is {job['status']}; only failed, cancelled or interrupted jobs "
                       "can be retried")
    with store.tx() as conn:
        # a retry is a new try: the time a variant is allowed (all its attempts) starts again
        conn.execute("UPDATE stage_runs SET status = 'blocked', attempt = 0, crashes = 0, error = NULL, not_before = 0, "
                     "params = CASE WHEN json_valid(params) THEN json_remove(params, '$.variant_started_at') "
                     "ELSE params END "
                     "WHERE job_id = ? AND status IN ('failed','cancelled','skipped','ready','waiting')", (job["id"],))
        conn.execute("UPDATE jobs SET status = 'queued', error = NULL, failed_stage = NULL, failed_attempts = NULL, "
                     "cancel_requested = 0, finished_at = NULL WHERE id = ?", (job["id"],))
        _unblock(conn, job["id"])
        reserve = loads(job["params"]).get("_reserve", 0)
        # an interrupted job still holds what it reserved; an ended one gave it back
        if reserve and ledger is not None and job["status"] in ("failed", "cancelled"):
            ledger.reserve(job["id"], reserve, note="estimate at retry")


def replay(store: Store, registry: Registry, job_id: str, from_stage: str, overrides: dict | None = None,
           ledger: Ledger | None = None) -> str:
    """A new job that reuses every upstream output of `job_id` and re-runs `from_stage`
    (a stage name or a node key) and everything downstream, with `overrides` applied."""
    parent = get_job(store, job_id)
    params = {k: v for k, v in loads(parent["params"]).items() if k != "_reserve"}
    params.update(overrides or {})
    nodes = registry.build(parent["recipe"], params)
    rerun = {n.key for n in nodes if from_stage in (n.stage, n.key)}
    if not rerun:
        stages = sorted({n.stage for n in nodes})
        raise JobError(f"job {parent['id']} has no stage {from_stage!r}; it has {', '.join(stages)}")
    rerun |= _downstream(nodes, rerun)
    runs = {r["key"]: dict(r) for r in store.query("SELECT * FROM stage_runs WHERE job_id = ?", (parent["id"],))}
    reuse = {}
    for n in nodes:
        if n.key in rerun:
            continue
        src = runs.get(n.key)
        if src is None or src["status"] != "done":
            raise JobError(f"cannot replay from {from_stage!r}: upstream stage {n.key!r} of job {parent['id']} "
                           "did not finish")
        reuse[n.key] = src
    new_id_ = submit(store, registry, parent["recipe"], params, title=parent["title"], parent_id=parent["id"],
                     batch_id=parent["batch_id"], ledger=ledger, reuse=reuse)
    with store.tx() as conn:
        conn.execute("INSERT INTO job_inputs(job_id, key, value, created_at) SELECT ?, key, value, created_at "
                     "FROM job_inputs WHERE job_id = ?", (new_id_, parent["id"]))
    return new_id_


def _downstream(nodes: list[Node], roots: set[str]) -> set[str]:
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for n in nodes:
            if n.key not in out and n.key not in roots and n.upstream() & (roots | out):
                out.add(n.key)
                changed = True
    return out


def delete(store: Store, job_id: str) -> None:
    job = get_job(store, job_id)
    if job["status"] in ("running", "queued", "waiting"):
        raise JobError(f"job {job['id']} is {job['status']}; cancel it first")
    with store.tx() as conn:
        conn.execute("UPDATE jobs SET parent_id = NULL WHERE parent_id = ?", (job["id"],))
        conn.execute("DELETE FROM jobs WHERE id = ?", (job["id"],))
