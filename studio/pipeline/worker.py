"""The worker: claims ready stage runs, runs them in threads within per-device
slots (one GPU stage at a time, a small CPU pool), heartbeats its leases, enforces
timeouts, and re-queues the runs of workers that died."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from studio.pipeline import jobs, native
from studio.pipeline.codec import ArtifactCache, decode, encode
from studio.pipeline.events import Event, EventBus
from studio.pipeline.ledger import Ledger
from studio.pipeline.registry import Registry
from studio.pipeline.stage import Cancelled, NeedsInput, Rejected, Rewind, StageContext
from studio.store import Store, loads

log = logging.getLogger(__name__)

DEFAULT_SLOTS = {"cpu": 2, "gpu": 1, "network": 4}


@dataclass
class _Execution:
    run: dict
    device: str
    deadline: float | None
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    timed_out: bool = False


class Worker:
    def __init__(self, store: Store, registry: Registry, ledger: Ledger | None = None, *,
                 slots: dict[str, int] | None = None, lease_s: float = 30.0, poll_s: float = 0.5,
                 bus: EventBus | None = None, name: str | None = None, max_crashes: int = jobs.MAX_CRASHES,
                 cache_bytes: int = 512 * 1024**2):
        self.store = store
        self.registry = registry
        self.ledger = ledger or Ledger(store)
        self.slots = {**DEFAULT_SLOTS, **(slots or {})}
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.max_crashes = max_crashes
        self.bus = bus or EventBus()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.cache = ArtifactCache(cache_bytes)
        native.share_cores(self.slots["cpu"])
        native.keep_freed_memory()
        self._active: dict[int, _Execution] = {}
        self._held: dict[str, int] = dict.fromkeys(self.slots, 0)  # slots in use, zombies included
        self._cond = threading.Condition()
        # bumped (under _cond) when a slot frees or someone wakes the loop, so a change
        # that lands while the loop is busy scheduling is not slept through
        self._changes = 0
        self._seen_changes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heart: threading.Thread | None = None
        self._last_recover = 0.0

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> Worker:
        """Run in the background until stop()."""
        self._start_heartbeat()
        self._thread = threading.Thread(target=self._loop_forever, name=f"worker-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, and hand back the runs still executing (Ctrl-C, closing the
        app): they are ready again at once for the next worker, and a stop is not
        counted as a crash, which would fail a long stage after a few quits."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self.wake()
        for t in (self._thread, self._heart):
            if t is not None and t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            left = list(self._active.values())
        for ex in left:
            # released first, so a stage that stops on the cancel below finds no lease
            # to record a failure against
            jobs.release(self.store, ex.run)
            ex.cancel.set()
        # In the app the process lives on: let the stages see the cancel and return, so
        # a worker started next (a resumed batch) does not run a GPU stage beside them.
        for ex in left:
            if ex.thread is not None and ex.thread is not threading.current_thread():
                ex.thread.join(max(0.0, deadline - time.monotonic()))

    def wake(self) -> None:
        with self._cond:
            self._changes += 1
            self._cond.notify_all()

    def run_until(self, job_ids: Iterable[str] | None = None, timeout: float | None = None) -> None:
        """Work in this thread until the given jobs (or all jobs) have nothing left to
        run: each finished, failed, was cancelled, or waits for a person."""
        ids = list(job_ids) if job_ids is not None else None
        self._start_heartbeat()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            self._tick()
            if not self._active_for(ids) and not self._runnable(ids):
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"jobs still running after {timeout} s")
            self._wait()

    def _loop_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # the loop must survive a bad moment (disk full, locked db)
                log.exception("worker tick failed")
                time.sleep(1.0)
            self._wait()

    def _start_heartbeat(self) -> None:
        if self._heart is None:
            self._heart = threading.Thread(target=self._heartbeat_loop, name="worker-heartbeat", daemon=True)
            self._heart.start()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                jobs.heartbeat(self.store, self.name, self.lease_s)
            except Exception:
                log.exception("heartbeat failed")

    def _wait(self) -> None:
        with self._cond:
            if self._changes == self._seen_changes:
                self._cond.wait(self.poll_s)
            self._seen_changes = self._changes

    # -- scheduling --------------------------------------------------------
    def _tick(self) -> None:
        now = time.time()
        if now - self._last_recover > self.lease_s / 2:
            self._last_recover = now
            if jobs.recover_expired(self.store, self.ledger, self.max_crashes):
                log.info("re-queued stage runs of a worker that stopped")
        self._enforce_timeouts()
        for device, total in self.slots.items():
            with self._cond:
                free = total - self._held[device]
            for run in jobs.claim(self.store, self.name, device, free, self.lease_s):
                self._launch(run)

    def _launch(self, run: dict) -> None:
        stage = self.registry.stages[run["stage"]]
        deadline = time.monotonic() + stage.timeout_s if stage.timeout_s else None
        ex = _Execution(run=run, device=run["device"], deadline=deadline)
        ex.thread = threading.Thread(target=self._execute, args=(ex,), name=f"stage-{run['key']}", daemon=True)
        with self._cond:
            self._active[run["id"]] = ex
            self._held[ex.device] += 1
        ex.thread.start()

    def _release(self, ex: _Execution) -> None:
        with self._cond:
            if self._active.get(ex.run["id"]) is ex:
                del self._active[ex.run["id"]]
            if not (ex.timed_out and ex.device != "gpu"):
                self._held[ex.device] -= 1
            self._changes += 1
            self._cond.notify_all()

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        with self._cond:
            late = [ex for ex in self._active.values() if ex.deadline is not None and now > ex.deadline
                    and not ex.timed_out]
        for ex in late:
            ex.timed_out = True
            ex.cancel.set()  # a cooperative stage stops at its next check
            stage = self.registry.stages[ex.run["stage"]]
            err = f"timed out after {stage.timeout_s:g} s"
            self._after_failure(ex, stage, err, TimeoutError(err), 0.0)
            with self._cond:
                self._active.pop(ex.run["id"], None)
                # A CPU thread that overran stops holding its slot; a GPU stage keeps the
                # GPU's until it really returns, so two never share the card's memory.
                if ex.device != "gpu":
                    self._held[ex.device] -= 1

    def _active_for(self, ids: list[str] | None) -> bool:
        with self._cond:
            return any(ids is None or ex.run["job_id"] in ids for ex in self._active.values())

    def _runnable(self, ids: list[str] | None) -> bool:
        sql = ("SELECT COUNT(*) FROM stage_runs sr JOIN jobs j ON j.id = sr.job_id "
               "WHERE sr.status IN ('ready','running') AND j.status NOT IN ('paused')")
        if ids is None:
            return self.store.one(sql)[0] > 0
        marks = ",".join("?" * len(ids))
        return self.store.one(sql + f" AND j.id IN ({marks})", tuple(ids))[0] > 0 if ids else False

    # -- running one stage -------------------------------------------------
    def _execute(self, ex: _Execution) -> None:
        run = ex.run
        stage = self.registry.stages[run["stage"]]
        t0 = time.monotonic()
        self._emit("start", run)
        params = {**jobs.job_params(self.store, run["job_id"]), **loads(run["params"])}
        try:
            # bindings named "_…" only order the run after another; their values are not passed
            wanted = {k: v for k, v in jobs.resolve_inputs(self.store, run).items() if not k.startswith("_")}
            stored: dict[int, dict] = {}  # input objects → their references (kept alive by `inputs`)
            inputs = decode(self.store, wanted, self.cache, stored)
            last_saved = [0.0]

            def on_progress(fraction: float, message: str) -> None:
                self._emit("progress", run, progress=fraction, message=message)
                now = time.monotonic()
                if now - last_saved[0] > 0.25 or fraction >= 1.0:  # keep the database quiet
                    last_saved[0] = now
                    jobs.set_progress(self.store, run, fraction, message)

            ctx = StageContext(
                store=self.store, ledger=self.ledger, job_id=run["job_id"], key=run["key"], stage=run["stage"],
                attempt=run["attempt"], params=params, inputs_given=jobs.inputs_given(self.store, run["job_id"]),
                cancel_event=ex.cancel, job_cancelled=lambda: jobs.cancel_requested(self.store, run["job_id"]),
                on_progress=on_progress,
            )
            result = stage.fn(ctx, **inputs) or {}
            missing = set(stage.outputs) - set(result)
            if missing:
                raise RuntimeError(f"stage {stage.name} did not return {sorted(missing)}")
            if ex.timed_out:
                return
            duration = time.monotonic() - t0
            if jobs.complete(self.store, run, encode(self.store, result, self.cache, stored), self.ledger, duration):
                self._emit("finish", run, progress=1.0, duration_s=duration)
                self._emit_job_end(run["job_id"])
        except NeedsInput as need:
            if jobs.wait_for_input(self.store, run, need.key, need.prompt, time.monotonic() - t0):
                self._emit("waiting", run, message=need.key)
        except Rewind as rw:
            if not ex.timed_out:
                try:
                    if jobs.rewind(self.store, run, rw.to, rw.params, str(rw), rw.details, time.monotonic() - t0):
                        self._emit("retry", run, message=f"{rw} → {rw.to} again")
                except (KeyError, ValueError) as bad:  # a recipe bug: fail the run with the reason
                    self._after_failure(ex, stage, _describe(bad), bad, time.monotonic() - t0, params)
        except Cancelled as exc:
            if not ex.timed_out:
                self._after_failure(ex, stage, "cancelled", exc, time.monotonic() - t0)
        except Exception as exc:
            if not ex.timed_out:
                if not isinstance(exc, Rejected):
                    # a sentence meant for people is the whole story; anything else is a bug to report
                    people = getattr(exc, "for_people", False)
                    log.warning("stage %s of job %s failed%s", run["key"], run["job_id"],
                                f": {exc}" if people else "", exc_info=not people)
                self._after_failure(ex, stage, _describe(exc), exc, time.monotonic() - t0, params)
        finally:
            self._release(ex)

    def _after_failure(self, ex: _Execution, stage, error: str, exc: BaseException, duration: float,
                       params: dict | None = None) -> None:
        run = ex.run
        next_params = None
        base = params if params is not None else {**jobs.job_params(self.store, run["job_id"]), **loads(run["params"])}
        policy = stage.policy(base)
        max_attempts = policy.max_attempts
        if policy.adjust is not None and run["attempt"] < max_attempts:
            try:
                next_params = policy.adjust(dict(base), run["attempt"], exc)
            except Exception as hook_exc:  # the hook itself broke: fail now, with both reasons
                error = f"{error}; and the retry hook failed: {_describe(hook_exc)}"
                max_attempts = 0
        # nothing a retry could change (a model not installed, with nothing else to fall back on)
        if getattr(exc, "permanent", False) and (next_params is None or next_params == base):
            max_attempts = 0
        outcome = jobs.retry_or_fail(self.store, run, error, next_params, policy.delay(run["attempt"]),
                                     max_attempts, self.ledger, duration, used_params=base)
        if outcome == "retry":
            self._emit("retry", run, message=error)
        elif outcome == "failed":
            self._emit("cancelled" if isinstance(exc, Cancelled) else "fail", run, message=error)
            self._emit_job_end(run["job_id"])

    def _emit(self, kind: str, run: dict, **kw) -> None:
        self.bus.emit(Event(kind=kind, job_id=run["job_id"], key=run["key"], stage=run["stage"],
                            attempt=run["attempt"], **kw))

    def _emit_job_end(self, job_id: str) -> None:
        row = self.store.one("SELECT status FROM jobs WHERE id = ?", (job_id,))
        if row and row[0] in jobs.TERMINAL:
            self.bus.emit(Event(kind="job_done", job_id=job_id, message=row[0]))


def _describe(exc: BaseException) -> str:
    """An error as the job records it: a sentence meant for people as it is, anything
    else with its type (a bug report needs it)."""
    text = str(exc)
    if isinstance(exc, Rejected | TimeoutError) or getattr(exc, "for_people", False):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
