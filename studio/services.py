"""Service functions the CLI and the UI both call: one place that opens the store,
knows the product's stages and runs jobs."""

from __future__ import annotations

import functools
from collections.abc import Callable

from studio.config import data_dir, load_settings
from studio.ledger import Ledger
from studio.pipeline.events import Event
from studio.pipeline.registry import Registry
from studio.pipeline.worker import Worker
from studio.store import Store


@functools.cache
def _store_for(root: str) -> Store:
    return Store(root)


def open_store() -> Store:
    return _store_for(str(data_dir()))


def registry() -> Registry:
    from studio.pipeline.recipes import REGISTRY

    return REGISTRY


def ledger(store: Store | None = None) -> Ledger:
    return Ledger(store or open_store(), budget=load_settings().budget)


def run_jobs(job_ids: list[str], on_event: Callable[[Event], None] | None = None,
             store: Store | None = None, timeout: float | None = None) -> None:
    """Run the given jobs to an end (done, failed, cancelled or waiting) in this process."""
    store = store or open_store()
    worker = Worker(store, registry(), ledger(store), poll_s=0.05)
    if on_event:
        worker.bus.subscribe(on_event)
    try:
        worker.run_until(job_ids, timeout=timeout)
    finally:
        worker.stop()
