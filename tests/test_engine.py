"""The engine with real (cheap) stages: order, concurrency, retries, timeouts,
dead letters, cancel, human input, replay, ledger, and crashes."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from studio.pipeline import jobs
from studio.pipeline.events import Event
from studio.pipeline.ledger import BudgetExceeded, Ledger
from studio.pipeline.worker import Worker
from studio.store import Store, loads
from tests import engine_stages as es

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "db")


@pytest.fixture
def ledger(store) -> Ledger:
    return Ledger(store, budget=5.0)


@pytest.fixture
def worker(store, ledger):
    w = Worker(store, es.REGISTRY, ledger, lease_s=2.0, poll_s=0.05)
    yield w
    w.stop()


@pytest.fixture(autouse=True)
def reset_counters():
    es.EXECUTIONS.clear()
    es.CONCURRENCY.update(cpu=0, gpu=0, max_cpu=0, max_gpu=0)


def submit(store, recipe, params=None, **kw):
    return jobs.submit(store, es.REGISTRY, recipe, params or {}, **kw)


def runs(store, job_id) -> dict[str, dict]:
    return {r["key"]: dict(r) for r in store.query("SELECT * FROM stage_runs WHERE job_id = ?", (job_id,))}


def test_dependency_order_and_outputs(store, worker):
    events: list[Event] = []
    worker.bus.subscribe(events.append)
    job = submit(store, "chain", {"variants": 3})
    worker.run_until([job], timeout=30)
    assert jobs.get_job(store, job)["status"] == "done"
    order = [(e.kind, e.key) for e in events if e.kind in ("start", "finish")]
    pos = {item: i for i, item in enumerate(order)}
    assert pos[("finish", "load")] < pos[("start", "blur")]
    for i in range(3):
        assert pos[("finish", "blur")] < pos[("start", f"variant[{i}]")] < pos[("start", "pick")]
    r = runs(store, job)
    assert all(x["status"] == "done" and x["duration_s"] is not None for x in r.values())
    assert loads(r["pick"]["outputs"])["best"] in (0, 1, 2)
    assert store.one("SELECT COUNT(*) FROM variants WHERE job_id = ?", (job,))[0] == 3
    assert [e for e in events if e.kind == "job_done"][-1].message == "done"


def test_invalid_recipes_are_refused(store):
    from studio.pipeline.registry import Node

    with pytest.raises(KeyError):
        submit(store, "no-such-recipe")
    es.REGISTRY.recipes["bad-binding"] = lambda p: [Node("load", "load"),
                                                   Node("blur", "blur", {"image": "load.image", "extra": "load.image"})]
    with pytest.raises(ValueError, match="binds inputs its stage 'blur' does not take: \\['extra'\\]"):
        submit(store, "bad-binding")
    es.REGISTRY.recipes["cycle"] = lambda p: [Node("a", "blur", {"image": "b.image"}), Node("b", "blur", {"image": "a.image"})]
    with pytest.raises(ValueError, match="cycle"):
        submit(store, "cycle")


def test_independent_stages_run_concurrently(store, worker):
    es.BARRIERS["two"] = threading.Barrier(2)
    job = submit(store, "pair", {"barrier": "two"})
    worker.run_until([job], timeout=30)
    assert jobs.get_job(store, job)["status"] == "done"  # both waited on the barrier together
    assert es.CONCURRENCY["max_cpu"] == 2


def test_gpu_stages_are_serialised(store, worker):
    ids = [submit(store, "gpu_work") for _ in range(4)]
    worker.run_until(ids, timeout=30)
    assert all(jobs.get_job(store, j)["status"] == "done" for j in ids)
    assert es.CONCURRENCY["max_gpu"] == 1


def test_retry_with_adjusted_parameters(store, worker):
    job = submit(store, "flaky", {"seed": 1})
    worker.run_until([job], timeout=30)
    run = runs(store, job)["flaky"]
    assert jobs.get_job(store, job)["status"] == "done"
    assert run["attempt"] == 3 and loads(run["outputs"]) == {"seed": 3}
    history = loads(run["history"])
    assert [h["params"]["seed"] for h in history] == [1, 2]
    assert history[0]["error"] == "seed 1 is not good enough"


def test_timeout_then_dead_letter_then_retry(store, worker):
    job = submit(store, "sleepy", {"sleep": 10})
    t0 = time.monotonic()
    worker.run_until([job], timeout=30)
    j = jobs.get_job(store, job)
    assert j["status"] == "failed"
    assert j["failed_stage"] == "sleepy" and j["failed_attempts"] == 2
    assert j["error"] == "timed out after 0.3 s"
    assert time.monotonic() - t0 < 9  # the stage was stopped, not waited out
    from studio.app.history import dead_letter

    assert [d["id"] for d in dead_letter(store)] == [job]


def test_failed_job_keeps_artifacts_and_retries_from_where_it_stopped(store, worker):
    job = submit(store, "broken")
    worker.run_until([job], timeout=30)
    assert jobs.get_job(store, job)["error"] == "ValueError: disk on fire"
    # the user fixes the cause (here: a parameter) and retries
    store.conn.execute("UPDATE jobs SET params = ? WHERE id = ?", ('{"fixed": true}', job))
    jobs.retry(store, job)
    worker.run_until([job], timeout=30)
    assert jobs.get_job(store, job)["status"] == "done"
    assert es.EXECUTIONS["broken"] == 2


def test_retry_keeps_finished_upstream_stages(store, worker):
    job = submit(store, "chain", {"variants": 2})
    store.conn.execute("UPDATE stage_runs SET stage = 'broken' WHERE job_id = ? AND key = 'pick'", (job,))
    worker.run_until([job], timeout=30)
    assert jobs.get_job(store, job)["status"] == "failed"
    store.conn.execute("UPDATE stage_runs SET stage = 'pick_all' WHERE job_id = ? AND key = 'pick'", (job,))
    jobs.retry(store, job)
    worker.run_until([job], timeout=30)
    assert jobs.get_job(store, job)["status"] == "done"
    assert es.EXECUTIONS["load"] == 1 and es.EXECUTIONS["variant"] == 2


def test_cancel_stops_a_running_stage_and_refunds(store, ledger, worker):
    job = submit(store, "sleepy_no_timeout", {"sleep": 30}, ledger=ledger, reserve=1.5)
    assert ledger.hold(job) == 1.5
    worker.start()
    deadline = time.time() + 10
    while runs(store, job)["sleepy_no_timeout"]["status"] != "running" and time.time() < deadline:
        time.sleep(0.02)
    assert jobs.cancel(store, job, ledger) == "cancelling"
    while jobs.get_job(store, job)["status"] != "cancelled" and time.time() < deadline:
        time.sleep(0.02)
    assert jobs.get_job(store, job)["status"] == "cancelled"
    assert runs(store, job)["sleepy_no_timeout"]["status"] == "cancelled"
    assert ledger.hold(job) == 0 and ledger.spent(job) == 0 and ledger.problems() == []


def test_cancel_before_start(store, ledger, worker):
    job = submit(store, "chain", ledger=ledger)
    assert jobs.cancel(store, job, ledger) == "cancelled"
    worker.run_until([job], timeout=10)
    assert es.EXECUTIONS["load"] == 0
    assert {r["status"] for r in runs(store, job).values()} == {"cancelled"}


def test_pause_for_human_input_survives_a_restart(store, ledger):
    job = submit(store, "ask")
    Worker(store, es.REGISTRY, ledger, poll_s=0.05).run_until([job], timeout=30)
    j = jobs.get_job(store, job)
    r = runs(store, job)["ask"]
    assert j["status"] == "waiting" and r["status"] == "waiting" and r["waiting_for"] == "mask"
    assert loads(r["prompt"]) == {"hint": "paint the product"}
    # the app closes; later a new process gives the input and a new worker finishes
    store.close()
    store2 = Store(store.root)
    jobs.provide_input(store2, job, "mask", {"value": 42})
    Worker(store2, es.REGISTRY, Ledger(store2), poll_s=0.05).run_until([job], timeout=30)
    assert jobs.get_job(store2, job)["status"] == "done"
    assert loads(runs(store2, job)["ask"]["outputs"]) == {"mask_value": 42, "shape": [32, 32, 3]}
    assert es.EXECUTIONS["load"] == 1


def test_replay_reuses_upstream_artifacts(store, worker):
    job = submit(store, "chain", {"variants": 2, "strength": 1})
    worker.run_until([job], timeout=30)
    before = dict(es.EXECUTIONS)
    new = jobs.replay(store, es.REGISTRY, job, "blur", {"strength": 4})
    worker.run_until([new], timeout=30)
    assert jobs.get_job(store, new)["status"] == "done"
    assert jobs.get_job(store, new)["parent_id"] == job
    assert es.EXECUTIONS["load"] == before["load"]  # upstream did not run again
    assert es.EXECUTIONS["blur"] == before["blur"] + 1
    assert es.EXECUTIONS["variant"] == before["variant"] + 2
    old, rep = runs(store, job), runs(store, new)
    assert rep["load"]["reused_from"] == old["load"]["id"] and rep["load"]["outputs"] == old["load"]["outputs"]
    assert rep["blur"]["outputs"] != old["blur"]["outputs"]
    assert loads(jobs.get_job(store, new)["params"])["strength"] == 4
    with pytest.raises(jobs.JobError, match="no stage 'colour'"):
        jobs.replay(store, es.REGISTRY, job, "colour")


def test_ledger_reserve_charge_release_refund(store, ledger, worker):
    ok = submit(store, "chain", {"variants": 2, "price": 0.25}, ledger=ledger, reserve=1.0)
    worker.run_until([ok], timeout=30)
    assert jobs.get_job(store, ok)["status"] == "done"
    assert ledger.spent(ok) == pytest.approx(0.5) and ledger.hold(ok) == 0
    assert jobs.get_job(store, ok)["cost"] == pytest.approx(0.5)
    # a job that spends, then fails downstream: what it spent stays spent, the rest of its hold is released
    bad = submit(store, "chain", {"variants": 2, "price": 0.25}, ledger=ledger, reserve=1.0)
    store.conn.execute("UPDATE stage_runs SET stage = 'broken' WHERE job_id = ? AND key = 'pick'", (bad,))
    worker.run_until([bad], timeout=30)
    assert jobs.get_job(store, bad)["status"] == "failed"
    assert ledger.spent(bad) == pytest.approx(0.5) and ledger.hold(bad) == 0
    kinds = [e["kind"] for e in reversed(ledger.entries(bad))]
    assert kinds == ["reserve", "charge", "charge", "release"]
    # the budget (5.0) holds: 1.0 spent, so 4.1 cannot be reserved
    with pytest.raises(BudgetExceeded):
        submit(store, "chain", ledger=ledger, reserve=4.1)
    assert ledger.available() == pytest.approx(4.0)
    assert ledger.problems() == []


def _wait_status(store, job, key, status, timeout=10.0):
    deadline = time.time() + timeout
    while runs(store, job)[key]["status"] != status and time.time() < deadline:
        time.sleep(0.02)
    assert runs(store, job)[key]["status"] == status


def test_stopping_a_worker_hands_its_running_stage_back(store, ledger):
    """Ctrl-C or closing the app: the stage is ready again at once, costs no attempt
    and no crash strike, and `retry` carries the interrupted job on to the end."""
    job = submit(store, "sleepy_no_timeout", {"sleep": 1.0}, ledger=ledger, reserve=1.0)
    first = Worker(store, es.REGISTRY, ledger, lease_s=30.0, poll_s=0.05).start()
    _wait_status(store, job, "sleepy_no_timeout", "running")
    with pytest.raises(jobs.JobError, match=r"running in a worker.*: wait (29|30) s and retry"):
        jobs.retry(store, job, ledger)
    [stage_thread] = [ex.thread for ex in first._active.values()]
    first.stop()
    assert not stage_thread.is_alive()  # it saw the cancel and returned (its sleep had ~1 s to go)
    r = runs(store, job)["sleepy_no_timeout"]
    assert (r["status"], r["attempt"], r["crashes"], r["lease_owner"]) == ("ready", 0, 0, None)
    assert jobs.get_job(store, job)["status"] == "running"  # interrupted, not failed

    jobs.retry(store, job, ledger)
    assert ledger.hold(job) == 1.0  # the interrupted job's reservation is not taken twice
    Worker(store, es.REGISTRY, ledger, lease_s=30.0, poll_s=0.05).run_until([job], timeout=10)
    r = runs(store, job)["sleepy_no_timeout"]
    assert jobs.get_job(store, job)["status"] == "done"
    assert (r["attempt"], r["crashes"]) == (1, 0)
    assert [h["error"] for h in loads(r["history"])] == ["stopped before it finished"]


def test_lease_prevents_double_claim(store):
    submit(store, "noop")
    a = jobs.claim(store, "w1", "cpu", 5, 30)
    b = jobs.claim(store, "w2", "cpu", 5, 30)
    assert len(a) == 1 and b == []


def test_expired_lease_is_recovered_without_using_an_attempt(store):
    job = submit(store, "noop")
    [run] = jobs.claim(store, "dead-worker", "cpu", 1, lease_s=0.01)
    time.sleep(0.05)
    assert jobs.recover_expired(store) == 1
    r = runs(store, job)["noop"]
    assert r["status"] == "ready" and r["attempt"] == 0 and r["crashes"] == 1
    # the dead worker's late result is dropped: it no longer holds the lease
    assert not jobs.complete(store, run, {}, None, 0.1)


def test_a_stage_that_keeps_killing_workers_fails(store):
    job = submit(store, "noop")
    for _ in range(jobs.MAX_CRASHES):
        jobs.claim(store, "dead", "cpu", 1, lease_s=0.0)
        time.sleep(0.01)
        jobs.recover_expired(store)
    j = jobs.get_job(store, job)
    assert j["status"] == "failed" and "died 3 times" in j["error"]


CHILD = "import sys; sys.path.insert(0, {root!r}); from tests.engine_stages import run_worker; run_worker({db!r}, {lease})"


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing_and_duplicates_nothing(tmp_path):
    """A worker process is killed with SIGKILL 24 times at random moments; a fresh
    worker then finishes every job: nothing lost, nothing duplicated, ledger balanced."""
    db = str(tmp_path / "crash")
    store = Store(db)
    ledger = Ledger(store, budget=100.0)
    # ~14 s of work against ~6 s of useful child time across 24 kills: work is always left mid-way
    params = {"variants": 3, "variant_sleep": 0.2, "price": 0.1}
    ids = [jobs.submit(store, es.REGISTRY, "chain", {**params, "seed": i}, ledger=ledger, reserve=0.5)
           for i in range(40)]
    rng = random.Random(1234)
    lease = 0.3
    kills = 0
    while kills < 24:
        proc = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT), db=db, lease=lease)])
        time.sleep(rng.uniform(0.3, 1.2))
        if proc.poll() is not None:
            break  # it finished everything before we struck
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    assert kills >= 20
    assert any(jobs.get_job(store, j)["status"] != "done" for j in ids)  # work was left mid-way
    Worker(store, es.REGISTRY, ledger, lease_s=lease, poll_s=0.05,
           max_crashes=es.EXTERNAL_KILLS_MAX_CRASHES).run_until(None, timeout=120)
    for job in ids:
        assert jobs.get_job(store, job)["status"] == "done"
        assert store.one("SELECT COUNT(*) FROM variants WHERE job_id = ?", (job,))[0] == 3
        assert ledger.spent(job) == pytest.approx(0.3)  # 3 charges, none doubled
    assert ledger.problems() == []
    # every artifact file is referenced once in the table and no temp file is left visible
    files = [p for p in (Path(db) / "artifacts").glob("*/*") if not p.name.startswith(".")]
    assert len(files) == store.one("SELECT COUNT(*) FROM artifacts")[0]
    dup = store.query("SELECT job_id, key, COUNT(*) c FROM stage_runs GROUP BY job_id, key HAVING c > 1")
    assert dup == []



def test_a_wake_up_while_the_loop_is_busy_is_not_slept_through(store, ledger):
    """A stage that ends while the loop is claiming (not yet waiting) must start the
    next one at once, not at the next poll."""
    worker = Worker(store, es.REGISTRY, ledger, poll_s=0.6)
    try:
        worker.wake()  # what a stage ending does
        t0 = time.monotonic()
        worker._wait()
        assert time.monotonic() - t0 < 0.3
        t0 = time.monotonic()
        worker._wait()  # nothing new since: now it does wait for the poll
        assert time.monotonic() - t0 >= 0.5
    finally:
        worker.stop()
