"""The classical cut-out on real photos that installed packages ship (scikit-image's
sample data, gradio's media assets): prints confidence and foreground share, and
writes a contact sheet (photo | cut-out over a checkerboard) to look at.

    python bench/segment_real.py [--sheet bench/cutout-real.jpg]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from studio.imaging import masks  # noqa: E402
from studio.models.segment_classic import ClassicSegmenter  # noqa: E402


def photos() -> dict[str, Path]:
    import gradio
    import skimage

    sk = Path(skimage.data.__path__[0])
    gr = Path(gradio.__file__).parent / "media_assets" / "images"
    return {"coffee (skimage, CC0)": sk / "coffee.png", "rocket (skimage, public domain)": sk / "rocket.jpg",
            "motorcycle (skimage)": sk / "motorcycle_left.png", "groot (gradio)": gr / "groot.jpeg",
            # busy real scenes (issue 40: an animal on rocks and leaves, a person, a vehicle in a street)
            "cat on a cushion (skimage chelsea, CC0)": sk / "chelsea.png",
            "astronaut (skimage, public domain)": sk / "astronaut.png",
            "cheetah in grass (gradio)": gr / "cheetah1.jpg", "lion (gradio)": gr / "lion.jpg",
            "bus in a street (gradio)": gr / "bus.png"}


def checker_composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    checker = ((np.indices(alpha.shape).sum(0) // 16) % 2 * 60 + 150)[..., None].astype(np.float32)
    a = alpha[..., None]
    return (rgb * a + checker * (1 - a)).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sheet", default="", help="write a contact sheet of the freely licensed photos here")
    args = ap.parse_args()
    seg = ClassicSegmenter()
    rows = []
    for name, path in photos().items():
        im = Image.open(path).convert("RGB")
        im.thumbnail((640, 640))
        r = seg.segment(im)
        rgb = np.asarray(im)
        print(f"{name:34s} {im.size[0]}x{im.size[1]}  confidence {r.confidence:.2f}  "
              f"foreground {100 * (r.alpha > 0.5).mean():4.1f}%  {'; '.join(r.notes)}")
        if "CC0" in name or "public domain" in name:
            rows.append(np.hstack([rgb, checker_composite(masks.decontaminate(rgb, r.alpha), r.alpha)]))
    if args.sheet and rows:
        width = max(r.shape[1] for r in rows)
        sheet = np.vstack([np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
        Image.fromarray(sheet).save(args.sheet, quality=80)
        print(f"contact sheet: {args.sheet}")


if __name__ == "__main__":
    main()
