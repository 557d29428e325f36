"""Cut-out speed: time and peak memory per image at 1, 4 and 12 MP.

    python bench/segment.py [--backend classic|birefnet|birefnet-lite|rmbg] [--repeat 3]
    python bench/segment.py --home [--seeds 2]

Classic target: under 1.5 s for a 12 MP photo on 2 cores. The RMBG path runs where
the model is installed (and a GPU is present for meaningful figures).

--home: IoU on generated 2 MP photos of products at home (tests/corpus.py home_set:
bottles, boxes, mugs with handle holes, jars, shoes on bedsheets with folds, wood
grain, a wall over a table and paper with vignette; half with a soft cast shadow
that is background). Targets: mean >= 0.95, worst >= 0.9, < 1.5 s per photo.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from studio.imaging import masks  # noqa: E402
from tests.synth import iou, make_case  # noqa: E402

SIZES = {"1 MP": (866, 1155), "4 MP": (1732, 2309), "12 MP": (3000, 4000)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="classic", choices=["classic", "birefnet", "birefnet-lite", "rmbg"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--home", action="store_true", help="IoU on the home-background set")
    ap.add_argument("--seeds", type=int, default=2, help="--home: photos per product/background/shadow")
    args = ap.parse_args()
    from studio.models.registry import pick_segmenter

    seg = pick_segmenter(args.backend)
    print(f"backend: {seg.name}")
    if args.home:
        home(seg, args.seeds)
        return
    print(f"{'size':>6} {'segment s':>10} {'+matte s':>9} {'peak MB (py)':>13} {'IoU':>6}")
    for label, (h, w) in SIZES.items():
        photo, truth = make_case("red-bottle-on-gradient", h=h, w=w)
        image = Image.fromarray(photo)
        seg.segment(image)  # warm-up (JIT, model load)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = seg.segment(image)
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        seg.segment(image)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        t0 = time.perf_counter()
        masks.decontaminate(photo, result.alpha)
        t_matte = time.perf_counter() - t0
        print(f"{label:>6} {min(times):>10.3f} {t_matte:>9.3f} {peak / 1e6:>13.0f} {iou(result.alpha > 0.5, truth):>6.3f}")
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def home(seg, seeds: int) -> None:
    from tests.corpus import home_set, render

    rows = []
    for spec in home_set(seeds=seeds):
        photo, truth = render(spec)
        t0 = time.perf_counter()
        alpha = seg.segment(Image.fromarray(photo)).alpha
        rows.append((iou(alpha > 0.5, truth > 0.5), time.perf_counter() - t0, spec))
    scores = [r[0] for r in rows]
    print(f"{len(rows)} photos, {rows[0][2].width}x{rows[0][2].height}")
    for shadow in (False, True):
        sub = [r[0] for r in rows if r[2].shadow == shadow]
        print(f"  {'with' if shadow else 'without'} cast shadow: mean IoU {statistics.mean(sub):.4f}, worst {min(sub):.4f}")
    for name, key in (("product", "product"), ("background", "background")):
        for value in sorted({getattr(r[2], key) for r in rows}):
            sub = [r[0] for r in rows if getattr(r[2], key) == value]
            print(f"  {name} {value:<11} mean {statistics.mean(sub):.4f}  worst {min(sub):.4f}")
    worst = min(rows, key=lambda r: r[0])
    times = [r[1] for r in rows]
    print(f"mean IoU {statistics.mean(scores):.4f}  worst {worst[0]:.4f} ({worst[2].product} on "
          f"{worst[2].background}{', shadow' if worst[2].shadow else ''})  "
          f"< 0.9: {sum(s < 0.9 for s in scores)}")
    print(f"time per photo: median {statistics.median(times):.2f} s, max {max(times):.2f} s")


if __name__ == "__main__":
    main()
