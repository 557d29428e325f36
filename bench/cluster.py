"""The same catalog batch locally and through a one-node Ray cluster on this machine:
SKUs per minute for each, and the cluster's overhead.

    python bench/cluster.py [--skus 50] [--variants 4] [--long-side N] [--size 4000x3000]

The photos are phone-sized (12 MP by default), alternating a small product on a
gradient and a large boxed product against a wall (the two `bench/shoot.py` cases),
each SKU its own photo. Both runs use `studio batch` in this process, the local one
with its default parallelism, the cluster one with `--cluster ray` on a cluster of
this machine's cores started before the clock starts (a cluster is started once, not
per batch; its start is printed separately). The outputs of both runs are compared
file by file. Target: overhead under 10%.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_photos(folder: Path, n: int, w: int, h: int) -> None:
    from PIL import Image

    from tests.corpus import Spec, render
    from tests.synth import make_case

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        if i % 2:
            rgb, _ = render(Spec(i, "box", "wall-table", "normal", True, w, h, "jpeg", 1, 2020 + i))
        else:
            rgb, _ = make_case("red-bottle-on-gradient", h=h, w=w, seed=i)
        Image.fromarray(rgb).save(folder / f"sku{i:03d}.jpg", quality=92)


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.jpg"))}


def run(args: list[str]) -> float:
    from studio import cli

    t = time.perf_counter()
    code = cli.main(args)
    took = time.perf_counter() - t
    if code != 0:
        raise SystemExit(f"studio {' '.join(args)} exited {code}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skus", type=int, default=50)
    ap.add_argument("--variants", type=int, default=4)
    ap.add_argument("--long-side", type=int)
    ap.add_argument("--size", default="4000x3000", help="photo size WxH")
    a = ap.parse_args()
    os.environ.setdefault("STUDIO_HOME", tempfile.mkdtemp(prefix="studio-bench-"))
    work = Path(tempfile.mkdtemp(prefix="studio-cluster-bench-"))
    w, h = map(int, a.size.split("x"))
    t = time.perf_counter()
    make_photos(work / "in", a.skus, w, h)
    print(f"{a.skus} photos of {w}×{h} made in {time.perf_counter() - t:.0f} s (not counted)")
    common = ["--variants", str(a.variants), "--json"] + (["--long-side", str(a.long_side)] if a.long_side else [])

    import contextlib
    import io

    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet:
        local = run(["batch", str(work / "in"), "--out", str(work / "local"), *common])
    import ray

    t = time.perf_counter()
    # a cluster of its own ("local"), even where `ray start` runs one on this machine
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, logging_level="warning",
             log_to_driver=False)
    start = time.perf_counter() - t
    with contextlib.redirect_stdout(io.StringIO()):
        cluster = run(["batch", str(work / "in"), "--out", str(work / "cluster"), "--cluster", "ray", *common])
    ray.shutdown()
    same = digests(work / "local") == digests(work / "cluster")
    cores = os.cpu_count()
    print(f"{'run':<28}{'wall s':>8}{'SKUs/min':>10}")
    print(f"{'local (one process)':<28}{local:>8.1f}{a.skus / local * 60:>10.1f}")
    label = f"Ray, 1 node, {cores} cores"
    print(f"{label:<28}{cluster:>8.1f}{a.skus / cluster * 60:>10.1f}")
    print(f"cluster start (once): {start:.1f} s; overhead of the cluster: {(cluster / local - 1) * 100:+.1f}%; "
          f"files identical: {same}")


if __name__ == "__main__":
    main()
