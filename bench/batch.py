"""A catalog batch through the classic engine: SKUs per minute and RSS over time.

    python bench/batch.py [--skus 500] [--long-side 512] [--parallel 3]

Generates the photos first (not timed), then runs `studio batch` in this process and
samples peak RSS every second. Target: RSS growth across the batch under 100 MB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skus", type=int, default=500)
    ap.add_argument("--long-side", type=int, default=512)
    ap.add_argument("--parallel", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("STUDIO_HOME", tempfile.mkdtemp(prefix="studio-bench-"))
    from PIL import Image

    from studio.app import batch as batches
    from studio.app.context import open_store
    from tests.synth import CASES, make_case

    src = Path(tempfile.mkdtemp(prefix="catalog-"))
    names = list(CASES)
    for i in range(args.skus):
        photo, _ = make_case(names[i % len(names)], h=480, w=640, seed=i)
        Image.fromarray(photo).save(src / f"sku{i:04d}.jpg", quality=90)
    store = open_store()
    bid = batches.create_batch(store, src, Path(tempfile.mkdtemp(prefix="out-")), variants=1,
                               long_side=args.long_side)
    samples: list[tuple[float, float, int]] = []
    done = [0]
    stop = threading.Event()

    def sample() -> None:
        t0 = time.perf_counter()
        while not stop.is_set():
            samples.append((time.perf_counter() - t0, rss_mb(), done[0]))
            time.sleep(1.0)

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    summary = batches.run_batch(store, bid, parallel=args.parallel,
                                on_item=lambda item: done.__setitem__(0, done[0] + 1))
    wall = time.perf_counter() - t0
    stop.set()
    print(f"{summary['done']} done, {summary['failed']} failed of {summary['items']} SKUs "
          f"(640×480 photos, 1 variant each, canvas long side {args.long_side}, {args.parallel} in flight)")
    for f in summary["failures"]:
        print(f"  failed: {f['sku']} ({Path(f['photo']).name}): {f['error']}")
    print(f"wall {wall:.1f} s → {summary['items'] / wall * 60:.1f} SKUs per minute")
    # growth: the median RSS over the second tenth of the batch (imports done, caches
    # warm) against the median over the last tenth; the peak is reported beside it
    def median_rss(lo: float, hi: float) -> float:
        rs = sorted(r for _, r, d in samples if lo * args.skus <= d < hi * args.skus) or [samples[-1][1]]
        return rs[len(rs) // 2]

    early, late = median_rss(0.1, 0.2), median_rss(0.9, 1.01)
    peak = max(r for _, r, _ in samples)
    print(f"RSS median over the 2nd tenth: {early:.0f} MB; over the last tenth: {late:.0f} MB; "
          f"growth: {late - early:+.0f} MB (target < 100 MB); peak {peak:.0f} MB")
    for t, r, d in samples[:: max(1, len(samples) // 10)]:
        print(f"  t={t:6.0f} s  done={d:4d}  RSS={r:6.0f} MB")


if __name__ == "__main__":
    main()
