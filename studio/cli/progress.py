"""A tqdm progress bar fed by engine events (the CLI's view of running jobs)."""

from __future__ import annotations

import sys

from tqdm import tqdm

from studio.app.context import Event, open_store, run_jobs
from studio.app.history import stages_left


def run_with_bar(job_ids: list[str], cpu_slots: int | None = None) -> None:
    store = open_store()
    total = stages_left(store, job_ids)
    with tqdm(total=total, unit="stage", file=sys.stderr, disable=not sys.stderr.isatty() and total < 1) as bar:
        def on_event(e: Event) -> None:
            if e.kind == "finish":
                bar.update(1)
                bar.set_postfix_str(e.key)
            elif e.kind in ("retry", "fail", "waiting"):
                bar.write(f"{e.job_id} {e.key}: {e.kind} {e.message}", file=sys.stderr)

        run_jobs(job_ids, on_event, store, cpu_slots=cpu_slots)
