"""The whole generated photo corpus (tests/corpus.py, 210 photos: products on home
backgrounds, 256 px to 12 MP, every file kind) through a classic shoot at a small
working size: how many end done, how many find no product, none may crash.

    python bench/corpus.py [--first N] [--work-side 512]

Prints counts, wall time, and the jobs that did not end done.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--first", type=int, help="only the first N photos")
    ap.add_argument("--work-side", type=int, default=512)
    args = ap.parse_args()
    os.environ.setdefault("STUDIO_HOME", tempfile.mkdtemp(prefix="studio-bench-"))
    from studio.app.context import open_store, run_jobs
    from studio.app.history import get_job
    from studio.app.shoot import submit_shoot
    from tests.corpus import encode, render, specs

    chosen = specs()[: args.first] if args.first else specs()
    tmp = Path(tempfile.mkdtemp())
    store = open_store()
    t0 = time.perf_counter()
    queued = []
    for s in chosen:
        path = tmp / f"{s.name}.{s.ext}"
        path.write_bytes(encode(s, render(s)[0]))
        queued.append((s, submit_shoot(store, path, scene="marble", variants=1, long_side=256, preset="shopify",
                                       work_side=args.work_side)))
    made = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_jobs([j for _, j in queued])
    ran = time.perf_counter() - t1
    ends = [(s, get_job(store, j)) for s, j in queued]
    escaped = re.compile(r"^[A-Z]\w*(Error|Exception)\b")
    crashed = [(s, j) for s, j in ends if j["status"] == "failed" and escaped.match(j["error"] or "")]
    done = sum(j["status"] == "done" for _, j in ends)
    print(f"{len(ends)} photos: {done} done, {len(ends) - done - len(crashed)} stopped with a sentence, "
          f"{len(crashed)} crashed")
    print(f"making and submitting the files: {made:.1f} s; running the shoots: {ran:.1f} s "
          f"({ran / len(ends):.2f} s per photo on {os.cpu_count()} cores)")
    for s, j in ends:
        if j["status"] != "done":
            print(f"  {s.name}: {j['status']} at {j['failed_stage']}: {j['error']}")


if __name__ == "__main__":
    main()
