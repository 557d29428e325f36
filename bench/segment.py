"""Cut-out speed: time and peak memory per image at 1, 4 and 12 MP.

    python bench/segment.py [--backend classic|birefnet|birefnet-lite|rmbg] [--repeat 3]

Classic target: under 1.5 s for a 12 MP photo on 2 cores. The RMBG path runs where
the model is installed (and a GPU is present for meaningful figures).
"""

from __future__ import annotations

import argparse
import resource
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
    args = ap.parse_args()
    from studio.models.registry import pick_segmenter

    seg = pick_segmenter(args.backend)
    print(f"backend: {seg.name}")
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


if __name__ == "__main__":
    main()
