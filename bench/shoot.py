"""A classic shoot of a 12 MP photo: 4 variants and a 2048² export, through the engine.

    python bench/shoot.py [--variants 4] [--mp 12]

Prints wall time, per-stage time and peak RSS. Target on 2 cores: under 3 s, under 1.5 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=4)
    ap.add_argument("--mp", type=float, default=12)
    ap.add_argument("--scene", default="marble")
    args = ap.parse_args()
    os.environ.setdefault("STUDIO_HOME", tempfile.mkdtemp(prefix="studio-bench-"))
    from PIL import Image

    from studio.app.context import open_store, run_jobs
    from studio.app.shoot import shoot_summary, submit_shoot
    from tests.synth import make_case

    w = int((args.mp * 1e6 * 4 / 3) ** 0.5)
    h = int(w * 3 / 4)
    tmp = Path(tempfile.mkdtemp())
    photo, _ = make_case("red-bottle-on-gradient", h=h, w=w)
    Image.fromarray(photo).save(tmp / "bottle.jpg", quality=92)
    store = open_store()
    # warm-up on a small photo: imports, JIT caches
    small, _ = make_case("red-bottle-on-gradient")
    Image.fromarray(small).save(tmp / "small.jpg")
    run_jobs([submit_shoot(store, tmp / "small.jpg", scene=args.scene, variants=1, preset="shopify")])
    t0 = time.perf_counter()
    job = submit_shoot(store, tmp / "bottle.jpg", scene=args.scene, variants=args.variants, preset="shopify",
                       segmenter="classic")
    run_jobs([job])
    wall = time.perf_counter() - t0
    s = shoot_summary(store, job)
    assert s["status"] == "done", s
    print(f"photo {w}x{h} ({w * h / 1e6:.1f} MP), scene {args.scene}, {args.variants} variants, shopify 2048² JPEG")
    print(f"wall time: {wall:.2f} s (target < 3 s)")
    rows = store.query("SELECT stage, SUM(duration_s) t, COUNT(*) n FROM stage_runs WHERE job_id = ? GROUP BY stage "
                       "ORDER BY t DESC", (job,))
    for r in rows:
        print(f"  {r['stage']:<10} {r['t']:.2f} s over {r['n']} run(s)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (target < 1.5 GB)")


if __name__ == "__main__":
    main()
