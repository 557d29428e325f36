"""The app context: the one store of this data dir, the product's stage registry, the
credits ledger with the settings' budget, and running jobs in this process. Also the
engine's names the shells need (events, the error a job action raises), so they never
import the pipeline themselves."""

from __future__ import annotations

import functools
from collections.abc import Callable

from studio.config import data_dir, load_settings
from studio.pipeline.events import Event
from studio.pipeline.jobs import TERMINAL, JobError
from studio.pipeline.ledger import BudgetExceeded, Ledger
from studio.pipeline.registry import Registry
from studio.pipeline.worker import Worker
from studio.store import Store

__all__ = ["TERMINAL", "BudgetExceeded", "Event", "JobError", "Ledger", "Store", "ledger", "open_store", "run_jobs",
           "stages"]


@functools.cache
def _store_for(root: str) -> Store:
    return Store(root)


def open_store() -> Store:
    return _store_for(str(data_dir()))


def stages() -> Registry:
    """The product's stages and recipes by name."""
    from studio.pipeline.recipes import REGISTRY

    return REGISTRY


def _budget() -> float:
    return load_settings().budget


def ledger(store: Store | None = None) -> Ledger:
    """The ledger, with the budget read from the settings each time it is checked."""
    return Ledger(store or open_store(), budget=_budget)


def run_jobs(job_ids: list[str], on_event: Callable[[Event], None] | None = None,
             store: Store | None = None, timeout: float | None = None, cpu_slots: int | None = None) -> None:
    """Run the given jobs to an end (done, failed, cancelled or waiting) in this process.
    `cpu_slots`: CPU stages at once (default two); one gives that stage every core (a
    single cut-out is a chain of stages: nothing would run beside it)."""
    store = store or open_store()
    worker = Worker(store, stages(), ledger(store), poll_s=0.05, slots={"cpu": cpu_slots} if cpu_slots else None)
    if on_event:
        worker.bus.subscribe(on_event)
    try:
        worker.run_until(job_ids, timeout=timeout)
    finally:
        worker.stop()
