"""Stage events for the UI (gr.Progress) and the CLI (a progress bar)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    kind: str  # start | progress | finish | retry | fail | waiting | cancelled | job_done
    job_id: str
    key: str = ""
    stage: str = ""
    attempt: int = 0
    progress: float = 0.0
    message: str = ""
    duration_s: float = 0.0
    at: float = field(default_factory=time.time)


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[], None]:
        with self._lock:
            self._subs.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subs:
                    self._subs.remove(fn)

        return unsubscribe

    def emit(self, event: Event) -> None:
        with self._lock:
            subs = list(self._subs)
        for fn in subs:
            try:
                fn(event)
            except Exception:  # a broken listener must not break a job
                log.exception("event listener failed")
