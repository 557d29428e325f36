"""What a stage is, and what it can ask of the engine while it runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from studio.pipeline.ledger import Ledger
    from studio.store import Store

Device = Literal["cpu", "gpu", "network"]
# (params of the failed attempt, the attempt number that failed, the error) -> params for the next
AdjustHook = Callable[[dict, int, BaseException], dict]


class Cancelled(Exception):
    """Raised inside a stage (by `ctx.check_cancelled`) when its job was cancelled."""


class NeedsInput(Exception):
    """Raised by `ctx.require_input` when a person must provide something first."""

    def __init__(self, key: str, prompt: dict):
        super().__init__(f"waiting for input {key!r}")
        self.key = key
        self.prompt = prompt


class Rejected(Exception):
    """A stage's output was not good enough; retry (with adjusted params) is the remedy."""

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}


class Rewind(Rejected):
    """Raised by a checking stage (the quality gate): run the upstream node `to` again
    with `params` merged into its own, and everything after it. The checking stage's
    attempt count is the number of rounds; it decides when to stop raising this, and
    puts the round number in `params["round"]` (money charged is keyed by it)."""

    def __init__(self, message: str, to: str, params: dict, details: dict | None = None):
        super().__init__(message, details)
        self.to = to
        self.params = params


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 1
    backoff_s: float = 0.0
    backoff_factor: float = 2.0
    adjust: AdjustHook | None = None

    def delay(self, failed_attempt: int) -> float:
        return self.backoff_s * self.backoff_factor ** max(0, failed_attempt - 1)


@dataclass(frozen=True)
class Stage:
    """A named step: `fn(ctx, **inputs) -> {output name: value}`.

    Values may be JSON data, numpy arrays, PIL images or bytes (nested in lists and
    dicts too); arrays, images and bytes are stored as content-addressed artifacts.
    """

    name: str
    fn: Callable[..., dict[str, Any]]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float | None = None
    device: Device = "cpu"
    # inputs a node may bind or leave out (the generate stage reads the prompt only
    # for the engines that use one, so the classic one need not wait for it)
    optional_inputs: tuple[str, ...] = ()
    # the retry policy for a run's params, when it depends on them (on the engine)
    retry_for: Callable[[dict], RetryPolicy] | None = None

    def policy(self, params: dict) -> RetryPolicy:
        return self.retry_for(params) if self.retry_for is not None else self.retry


class StageContext:
    """Handed to every stage call: its parameters and its ways to talk to the engine."""

    def __init__(self, *, store: Store, ledger: Ledger, job_id: str, key: str, stage: str, attempt: int,
                 params: dict, inputs_given: dict[str, Any], cancel_event: threading.Event,
                 job_cancelled: Callable[[], bool], on_progress: Callable[[float, str], None]):
        self.store = store
        self.ledger = ledger
        self.job_id = job_id
        self.key = key
        self.stage = stage
        self.attempt = attempt
        self.params = params
        self._inputs_given = inputs_given
        self._cancel_event = cancel_event
        self._job_cancelled = job_cancelled
        self._on_progress = on_progress
        self._last_cancel_check = 0.0

    def progress(self, fraction: float, message: str = "") -> None:
        self._on_progress(max(0.0, min(1.0, fraction)), message)

    def cancelled(self) -> bool:
        if self._cancel_event.is_set():
            return True
        now = time.monotonic()
        # The job flag lives in the database; don't ask it more than a few times a second.
        if now - self._last_cancel_check > 0.2:
            self._last_cancel_check = now
            if self._job_cancelled():
                self._cancel_event.set()
        return self._cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Long stages call this between steps; it raises Cancelled when they should stop."""
        if self.cancelled():
            raise Cancelled(f"{self.key} cancelled")

    def require_input(self, key: str, prompt: dict | None = None) -> Any:
        """The value a person gave for `key`; if none yet, the job waits for it (durably)."""
        if key in self._inputs_given:
            return self._inputs_given[key]
        raise NeedsInput(key, prompt or {})

    def charge(self, amount: float, provider: str = "", note: str = "") -> None:
        """Record money this attempt spent; safe to repeat after a crash (same key, attempt
        and round: a node run again by a rewind counts its attempts afresh)."""
        rnd = self.params.get("round")
        self.ledger.charge(self.job_id, amount, provider, note,
                           ref=f"{self.key}#{self.attempt}" + (f"@round{rnd}" if rnd else ""))

    def input_or(self, key: str, default: Any = None) -> Any:
        """A person's input for `key` if one was given (never waits)."""
        return self._inputs_given.get(key, default)

    def record_variant(self, seed: int, data: dict) -> None:
        """This node's variant as generated (`params["index"]`): its seed and what made it."""
        from studio.pipeline.queries import record_variant

        record_variant(self.store, self.job_id, int(self.params["index"]), seed, data)

    def update_variant(self, index: int, **fields: Any) -> None:
        """Merge fields into a variant's row (what the history shows for it)."""
        from studio.pipeline.queries import update_variant

        update_variant(self.store, self.job_id, index, fields)
