"""Seconds per classic clip, as a seller makes one: a 12 MP phone photo shot with the
classic engine (the default 2048² Shopify export), then the clip of its chosen variant
at every preset, 30 fps, 6 s. The clip's time is the clip stage's (layers, rendering,
H.264 encoding, the file's checks and the preview); real time is 6 s.

    python bench/clip.py [--runs 3] [--strip assets/clip-strip.jpg]

Two shots: a small red bottle on `marble`, and a large box filling 85% of a
`white-marketplace` frame (every frame warps a product ~1700 px tall). `--strip`
writes six frames of the small product's reels clip side by side (for the README).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--strip", help="write a frame strip of the reels clip here")
    a = ap.parse_args()
    os.environ.setdefault("STUDIO_HOME", tempfile.mkdtemp(prefix="studio-bench-"))
    import numpy as np

    from bench.shoot import CASES, _photo
    from studio.app.context import open_store
    from studio.app.shoot import run_to_end, submit_shoot
    from studio.clips.make import make_clip
    from studio.clips.presets import CLIP_PRESETS, clip_settings
    from studio.scenes import get_scene
    from tests.test_product_clips import _shot_layers

    store = open_store()
    work = Path(tempfile.mkdtemp(prefix="studio-clip-bench-"))
    print(f"{'shot':<16}{'preset':<10}{'frames':>8}{'median s':>10}{'× real time':>13}{'MB':>6}")
    for case, scene in CASES.items():
        job = submit_shoot(store, _photo(case, work), scene=scene, variants=1)
        run_to_end(store, job)
        image, alpha = _shot_layers(job)
        direction = get_scene(scene).lighting.direction
        for preset in CLIP_PRESETS:
            settings = clip_settings(preset, 30, 6.0) | {"light": True}
            times = []
            for _ in range(a.runs):
                t = time.perf_counter()
                out = make_clip(image, alpha, settings, direction=direction, workdir=work / "tmp")
                times.append(time.perf_counter() - t)
            med = statistics.median(times)
            print(f"{case:<16}{preset:<10}{settings['frames']:>8}{med:>10.2f}{6.0 / med:>13.2f}"
                  f"{len(out['video']) / 1e6:>6.1f}")
            if a.strip and case == "small-product" and preset == "reels":
                _strip(image, alpha, direction, Path(a.strip))
    print(f"shot size {image.shape[1]}×{image.shape[0]}; cores: {os.cpu_count()}")
    del np


def _strip(image, alpha, direction: float, path: Path) -> None:
    import cv2
    import numpy as np
    from PIL import Image

    from studio.clips import classic

    layers = classic.build_layers(image, alpha, (1080, 1920), direction)
    frames = [classic.render_frame(layers, t, "push-in")[0] for t in np.linspace(0, 1, 6)]
    strip = np.hstack([cv2.resize(f, (216, 384), interpolation=cv2.INTER_AREA) for f in frames])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip).save(path, quality=85)


if __name__ == "__main__":
    main()
