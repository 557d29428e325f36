"""The README's backdrop picture: a 12 MP product photo, a seller's 12 MP backdrop photo
(a table against a wall, lit from the upper left), and the shot Studio makes of the
product on it (classic engine, light match 0.6, Shopify 2048² export).

    python bench/backdrop_sheet.py [--out assets/backdrop-sheet.jpg]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "assets" / "backdrop-sheet.jpg"))
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="studio-backdrop-sheet-"))
    os.environ["STUDIO_HOME"] = str(folder / "home")
    from PIL import Image

    from studio.app.backdrops import scene_for_photo
    from studio.app.context import open_store, run_jobs
    from studio.app.shoot import submit_shoot, write_outputs
    from tests.backdrops import table_photo
    from tests.corpus import Spec, render

    rgb, _ = render(Spec(3, "bottle", "wall-table", "normal", True, 4000, 3000, "jpeg", 1, 2020))
    Image.fromarray(rgb).save(folder / "bottle.jpg", quality=92)
    Image.fromarray(table_photo(4000, 3000, 0.5, 160.0)).save(folder / "table.jpg", quality=90)
    scene = scene_for_photo(folder / "table.jpg")
    store = open_store()
    job = submit_shoot(store, folder / "bottle.jpg", scene=scene.id, variants=1, light_match=0.6,
                       segmenter="classic", preset="shopify")
    run_jobs([job], timeout=300)
    [shot] = write_outputs(store, job, folder / "out")
    W, h = 1500, 500
    sheet = Image.new("RGB", (W, h), "white")
    for i, path in enumerate((folder / "bottle.jpg", folder / "table.jpg", Path(shot))):
        im = Image.open(path)
        im.thumbnail((W // 3 - 10, h))
        sheet.paste(im, (i * (W // 3) + 5, (h - im.height) // 2))
    sheet.save(args.out, quality=82)
    print(f"{args.out}: photo, backdrop, shot ({Image.open(shot).size[0]}² export)")


if __name__ == "__main__":
    main()
