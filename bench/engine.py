"""Engine overhead: per-stage cost with no-op stages, and jobs/s for 1,000 tiny jobs.

    python bench/engine.py [--jobs 1000] [--stages 3]

Target: under 10 ms of engine overhead per stage on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.pipeline import jobs  # noqa: E402
from studio.pipeline.ledger import Ledger  # noqa: E402
from studio.pipeline.worker import Worker  # noqa: E402
from studio.store import Store  # noqa: E402
from tests.engine_stages import REGISTRY  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--stages", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        t0 = time.perf_counter()
        ids = [jobs.submit(store, REGISTRY, "noop_chain", {"stages": args.stages}) for _ in range(args.jobs)]
        t_submit = time.perf_counter() - t0
        worker = Worker(store, REGISTRY, Ledger(store), poll_s=0.05)
        t0 = time.perf_counter()
        worker.run_until(None)
        t_run = time.perf_counter() - t0
        worker.stop()
        done = store.one("SELECT COUNT(*) FROM jobs WHERE status = 'done'")[0]
        assert done == len(ids), f"only {done} of {len(ids)} jobs finished"
        n_stages = args.jobs * args.stages
        print(f"jobs: {args.jobs}, stages per job: {args.stages} (chained no-op stages), worker cpu slots: 2")
        print(f"submit: {t_submit:.2f} s ({t_submit / args.jobs * 1000:.2f} ms per job)")
        print(f"run:    {t_run:.2f} s  -> {args.jobs / t_run:.1f} jobs/s, "
              f"{t_run / n_stages * 1000:.2f} ms engine overhead per stage (wall / stages)")


if __name__ == "__main__":
    main()
