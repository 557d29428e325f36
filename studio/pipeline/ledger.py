"""Credits ledger: what jobs may spend, and did spend, on cloud APIs.

Entries are append-only. For a job:
    hold  = reserve - charge - release     (money set aside, not yet spent)
    spent = charge - refund
A reservation fails when spent + held across all jobs would pass the budget: the
budget is checked before a call is made, never after. A charge is money the
provider took (it billed an image), so it is recorded whatever happens next and is
never refunded because the job later failed; what a job set aside and did not spend
is released when its call fails or the job ends. (`refund` entries are what earlier
versions wrote when a failed job's charges were given back.) `problems()` checks
these rules, so "the ledger balances" is a query, not a hope.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from studio.store import Store

EPS = 1e-9


class BudgetExceeded(ValueError):
    """The budget left cannot pay for what was asked; the message says how much is left."""


class Ledger:
    """`budget`: a number, None (no budget), or a function that reads it when asked (a
    running server follows the Settings: a budget lowered there applies at once)."""

    def __init__(self, store: Store, budget: float | Callable[[], float | None] | None = None):
        self.store = store
        self._budget = budget

    @property
    def budget(self) -> float | None:
        return self._budget() if callable(self._budget) else self._budget

    def _add(self, job_id: str | None, kind: str, amount: float, provider: str = "", note: str = "",
             ref: str | None = None) -> None:
        self.store.conn.execute(
            "INSERT INTO ledger(job_id, kind, amount, provider, note, ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (job_id, kind, float(amount), provider, note, ref, time.time()),
        )

    def has(self, job_id: str, kind: str, ref: str) -> bool:
        return self.store.one("SELECT 1 FROM ledger WHERE job_id = ? AND kind = ? AND ref = ?",
                              (job_id, kind, ref)) is not None

    def _sums(self, job_id: str | None = None) -> dict[str, float]:
        sql = "SELECT kind, COALESCE(SUM(amount), 0) FROM ledger"
        rows = self.store.query(sql + (" WHERE job_id = ? GROUP BY kind" if job_id else " GROUP BY kind"),
                                (job_id,) if job_id else ())
        sums = {"reserve": 0.0, "charge": 0.0, "release": 0.0, "refund": 0.0}
        sums.update({k: v for k, v in rows})
        return sums

    def hold(self, job_id: str | None = None) -> float:
        s = self._sums(job_id)
        return s["reserve"] - s["charge"] - s["release"]

    def spent(self, job_id: str | None = None) -> float:
        s = self._sums(job_id)
        return s["charge"] - s["refund"]

    def available(self) -> float | None:
        budget = self.budget
        if budget is None:
            return None
        return budget - self.spent() - self.hold()

    def reserve(self, job_id: str, amount: float, provider: str = "", note: str = "") -> None:
        if not math.isfinite(amount):
            raise ValueError(f"cannot reserve {amount!r}")
        if amount <= 0:
            return
        with self.store.tx():
            budget = self.budget
            avail = None if budget is None else budget - self.spent() - self.hold()
            if avail is not None and amount > avail + EPS:
                raise BudgetExceeded(f"this needs {amount:.2f} but only {max(avail, 0):.2f} of the "
                                     f"{budget:.2f} budget is left")
            self._add(job_id, "reserve", amount, provider, note)

    def charge(self, job_id: str, amount: float, provider: str = "", note: str = "", ref: str | None = None) -> None:
        """Record money the provider took: from the job's hold first, any excess as a
        top-up. It is recorded even past the budget (the money is gone; refusing to
        write it down would hide it): the budget is checked when money is reserved,
        before a call. A charge with a `ref` already in the ledger is not made twice (a
        stage re-run after its worker crashed)."""
        if not math.isfinite(amount):
            raise ValueError(f"cannot charge {amount!r}")
        if amount <= 0:
            return
        with self.store.tx():
            if ref is not None and self.has(job_id, "charge", ref):
                return
            extra = amount - max(self.hold(job_id), 0.0)
            if extra > EPS:
                self._add(job_id, "reserve", extra, provider, "top-up to cover the charge")
            self._add(job_id, "charge", amount, provider, note, ref)
            self._update_cost(job_id)

    def release(self, job_id: str, amount: float, note: str = "") -> None:
        """Give back part of a job's hold at once (a call that failed before the
        provider billed it), so a retry's reservation does not count it twice."""
        with self.store.tx():
            amount = min(amount, self.hold(job_id))
            if amount > EPS:
                self._add(job_id, "release", amount, note=note)

    def settle(self, job_id: str, succeeded: bool) -> None:
        """Called once a job ends, however it ended: release what is held and not
        spent. What the provider billed stays spent (`succeeded` is kept for callers)."""
        with self.store.tx():
            held = self.hold(job_id)
            if held > EPS:
                self._add(job_id, "release", held, note="job ended" if succeeded else "job failed or was cancelled")
            self._update_cost(job_id)

    def _update_cost(self, job_id: str) -> None:
        self.store.conn.execute("UPDATE jobs SET cost = ? WHERE id = ?", (self.spent(job_id), job_id))

    def entries(self, job_id: str | None = None, limit: int = 200) -> list[dict]:
        where, args = ("WHERE job_id = ?", (job_id, limit)) if job_id else ("", (limit,))
        rows = self.store.query(f"SELECT * FROM ledger {where} ORDER BY id DESC LIMIT ?", args)
        return [dict(r) for r in rows]

    def problems(self) -> list[str]:
        """Every way the ledger fails to balance (empty when it balances)."""
        out = []
        jobs = {r["id"]: r["status"] for r in self.store.query("SELECT id, status FROM jobs")}
        for (job_id,) in self.store.query("SELECT DISTINCT job_id FROM ledger WHERE job_id IS NOT NULL"):
            hold, spent = self.hold(job_id), self.spent(job_id)
            status = jobs.get(job_id)
            if hold < -EPS or spent < -EPS:
                out.append(f"{job_id}: negative hold {hold:.4f} or spend {spent:.4f}")
            if status in ("done", "failed", "cancelled") and abs(hold) > EPS:
                out.append(f"{job_id}: {status} but still holds {hold:.4f}")
        budget = self.budget
        if budget is not None and self.spent() + self.hold() > budget + EPS:
            out.append(f"spent + held {self.spent() + self.hold():.4f} is over the budget {budget:.4f}")
        return out
