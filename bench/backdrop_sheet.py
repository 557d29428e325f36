"""The backdrop sheet: backdrop photos of the kinds sellers bring (a wooden table against
a wall, a table with bokeh behind, a lit table in a dark studio, a pink three-tier
podium, a dark room's floor; and the real photos an installed package ships), each with
the surfaces Studio finds drawn on it (the main one orange, others blue, the horizon
dashed, the default spot a cross), and under it the shot of a product standing there at
its default spot (classic engine, light match 0.6). Prints what was found and how long
finding it took.

    python bench/backdrop_sheet.py [--out assets/backdrop-sheet.jpg]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _real_photos() -> dict:
    """Photos an installed package ships that a product could stand in (scikit-image's)."""
    try:
        from skimage import data
    except ImportError:
        return {}
    return {"coffee (scikit-image)": data.coffee()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "assets" / "backdrop-sheet.jpg"))
    ap.add_argument("--cell", type=int, default=300, help="each picture's width in px")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="studio-backdrop-sheet-"))
    os.environ["STUDIO_HOME"] = str(folder / "home")
    import numpy as np
    from PIL import Image

    from studio.app.backdrops import add_backdrop_scene, preview
    from studio.imaging import backdrop as bdrop
    from studio.models.generate_classic import compose
    from tests.backdrops import HARD
    from tests.synth import make_case

    photo, truth = make_case("red-bottle-on-gradient")
    cutout = Image.fromarray(np.dstack([photo, truth.astype(np.uint8) * 255]), "RGBA")
    photos = {name: make()[0] for name, make in HARD.items()} | _real_photos()
    cell = args.cell
    tops, shots = [], []
    for i, (name, rgb) in enumerate(photos.items()):
        Image.fromarray(rgb).save(folder / f"{i}.png")
        scene = add_backdrop_scene(f"sheet-{i}", folder / f"{i}.png")
        W, H = scene.canvas_size()
        t0 = time.perf_counter()
        geo = bdrop.geometry_of(scene, bdrop.plate(rgb, (W, H)))
        took = (time.perf_counter() - t0) * 1000
        c = compose(scene, cutout, 0, None, None, rgb, 0.6)
        print(f"{name:26s} {len(geo.surfaces)} surface(s), main {geo.main.as_dict() if geo.main else None}, "
              f"horizon {geo.horizon:.2f}, spot {c.look['spot']}, product {c.box.h / H:.0%} of the height, "
              f"light {c.look['light_direction']}°, found in {took:.0f} ms{' (depth)' if geo.from_depth else ''}")
        for img, row in ((preview(scene.id), tops), (c.image, shots)):
            img = img.copy()
            img.thumbnail((cell, cell))
            row.append(img)
    height = max(im.height for im in tops + shots)
    sheet = Image.new("RGB", (len(tops) * (cell + 8) + 8, 2 * (height + 8) + 8), "white")
    for i, (a, b) in enumerate(zip(tops, shots, strict=True)):
        sheet.paste(a, (8 + i * (cell + 8), 8))
        sheet.paste(b, (8 + i * (cell + 8), 16 + height))
    sheet.save(args.out, quality=82)
    print(f"{args.out}: {len(tops)} backdrops, surfaces found (top) and the shot at the default spot (bottom)")


if __name__ == "__main__":
    main()
