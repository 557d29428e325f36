"""The job API on the page's server: the /api/v1 app mounted beside the page, a worker
that runs queued jobs in the background (so no request waits for one, and jobs left
by a stopped server are taken up again), and the webhooks sent when a job ends."""

from __future__ import annotations

import logging

from studio.store import Store

log = logging.getLogger(__name__)


def notify_when_ended(store: Store, job_id: str) -> None:
    """Send the job's callback, once per end (done, failed, cancelled, waiting for review)."""
    from studio.api import webhooks
    from studio.api.views import job_view
    from studio.app.shoot import waiting_for_review
    from studio.pipeline import jobs

    row = store.one("SELECT a.callback_url, a.notified_status, k.webhook_secret FROM api_jobs a "
                    "JOIN api_keys k ON k.id = a.key_id WHERE a.job_id = ?", (job_id,))
    if row is None or not row["callback_url"]:
        return
    status = jobs.get_job(store, job_id)["status"]
    if status == "waiting":
        if not waiting_for_review(store, job_id):
            return
        status = "waiting_for_review"
    elif status not in jobs.TERMINAL:
        return
    with store.tx() as conn:
        cur = conn.execute("UPDATE api_jobs SET notified_status = ? WHERE job_id = ? AND "
                           "COALESCE(notified_status, '') != ?", (status, job_id, status))
    if cur.rowcount:
        webhooks.deliver_later(store, job_id, status, job_view(store, job_id), row["callback_url"],
                               row["webhook_secret"])


def attach(store: Store):
    """Start the background worker that runs the API's jobs; returns it."""
    from studio.app.context import ledger, stages
    from studio.pipeline.jobs import expire_dead_local_leases
    from studio.pipeline.worker import Worker

    expire_dead_local_leases(store)  # a server killed mid-job: its runs are taken up again now
    try:  # the retention rule: backdrop scenes from API uploads that no job used for 30 days go
        from studio.app.backdrops import forget_unused

        gone = forget_unused(store)
        if gone:
            log.info("forgot %d backdrop scene(s) from the job API unused for 30 days", len(gone))
    except Exception:  # housekeeping never stops the server from starting
        log.exception("forgetting unused backdrop scenes")
    worker = Worker(store, stages(), ledger(store), poll_s=0.1)

    def on_event(event) -> None:
        if event.kind in ("job_done", "waiting"):
            try:
                notify_when_ended(store, event.job_id)
            except Exception:  # a callback must never stop the worker
                log.exception("webhook for job %s", event.job_id)

    worker.bus.subscribe(on_event)
    return worker.start()
