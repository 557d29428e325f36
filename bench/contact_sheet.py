"""The README's contact sheet: scikit-image's coffee photo (CC0), cut out with the
classic backend and shot in several scenes by the classic compositor, through the
same service functions as `studio shoot`.

    python bench/contact_sheet.py assets/contact-sheet.jpg
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SCENES = ["white-marketplace", "light-grey-seamless", "gradient-studio", "marble", "oak-window", "concrete",
          "dark-luxury", "holiday"]


def main(out: str) -> None:
    os.environ.setdefault("STUDIO_HOME", tempfile.mkdtemp(prefix="studio-sheet-"))
    import numpy as np
    import skimage
    from PIL import Image, ImageDraw

    from studio.app.context import open_store, run_jobs
    from studio.app.shoot import submit_shoot
    from studio.pipeline.queries import stage_output

    photo = Path(skimage.data.__path__[0]) / "coffee.png"
    store = open_store()
    ids = [submit_shoot(store, photo, scene=s, variants=1, preset="shopify", segmenter="classic", long_side=768)
           for s in SCENES]
    run_jobs(ids)
    tiles = []
    for scene, job in zip(SCENES, ids, strict=True):
        im = stage_output(store, job, "color[0]")["image"]
        im.thumbnail((360, 360))
        tile = Image.new("RGB", (360, 384), "white")
        tile.paste(im, ((360 - im.width) // 2, 0))
        ImageDraw.Draw(tile).text((6, 366), scene, fill=(40, 40, 40))
        tiles.append(np.asarray(tile))
    rows = [np.hstack(tiles[i: i + 4]) for i in range(0, len(tiles), 4)]
    Image.fromarray(np.vstack(rows)).save(out, quality=85)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets/contact-sheet.jpg")
