"""The README's contact sheets, through the same service functions as `studio shoot`:

- scenes: scikit-image's coffee photo (CC0), cut out with the classic backend and shot
  in eight scenes by the classic compositor;
- variants: the same photo's four variants of one scene (light, camera height, scale
  and position, tint, props differ), and a generated photo of a cup taken from above,
  laid flat by the compositor (camera overhead, shadow under and round it).

    python bench/contact_sheet.py [assets/contact-sheet.jpg] [assets/variants-sheet.jpg]
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


def _tile(im, label: str, side: int = 300):
    from PIL import Image, ImageDraw

    im = im.copy()
    im.thumbnail((side, side))
    tile = Image.new("RGB", (side, side + 22), "white")
    tile.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    ImageDraw.Draw(tile).text((6, side + 5), label, fill=(40, 40, 40))
    return tile


def variants_sheet(out: str, scene: str = "pastel-podium", flat_scene: str = "marble") -> None:
    """Four variants of `scene` (the coffee photo), and the photo taken from above laid
    flat in `flat_scene`."""
    os.environ.setdefault("STUDIO_HOME", tempfile.mkdtemp(prefix="studio-sheet-"))
    import numpy as np
    import skimage
    from PIL import Image

    from studio.app.context import open_store, run_jobs
    from studio.app.shoot import submit_shoot
    from studio.pipeline.queries import stage_output, variant_data
    from tests.corpus import cup_from_above

    store = open_store()
    folder = Path(tempfile.mkdtemp(prefix="studio-sheet-"))
    top = folder / "cup-from-above.jpg"
    Image.fromarray(cup_from_above()[0]).save(top, quality=92)
    coffee = Path(skimage.data.__path__[0]) / "coffee.png"
    shoot = submit_shoot(store, coffee, scene=scene, variants=4, preset="shopify", segmenter="classic", long_side=640)
    flat = submit_shoot(store, top, scene=flat_scene, variants=1, preset="shopify", segmenter="classic",
                        long_side=640)
    run_jobs([shoot, flat])
    tiles = []
    for i in range(4):
        look = variant_data(store, shoot, i).get("look", {})
        tiles.append(_tile(stage_output(store, shoot, f"color[{i}]")["image"],
                           f"#{i}: light {look.get('light_direction', 0):.0f}°, horizon "
                           f"{look.get('horizon', 0):.2f}, scale {look.get('scale', 0):.2f}"))
    tiles.append(_tile(Image.open(top), "photo taken from above"))
    tiles.append(_tile(stage_output(store, flat, "color[0]")["image"], f"{flat_scene}, laid flat"))
    rows = [np.hstack([np.asarray(t) for t in tiles[:4]]),
            np.hstack([np.asarray(t) for t in tiles[4:]] + [np.full_like(np.asarray(tiles[0]), 255)] * 2)]
    Image.fromarray(np.vstack(rows)).save(out, quality=82)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets/contact-sheet.jpg")
    variants_sheet(sys.argv[2] if len(sys.argv) > 2 else "assets/variants-sheet.jpg")
