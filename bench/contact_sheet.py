"""The README's contact sheets, through the same service functions as `studio shoot`:

- scenes: every shipped scene shot by the classic compositor from one 12 MP phone-style
  photo (a generated bottle on a table, with a phone sensor's grain), each as the whole
  shot and a 100% crop where the product meets the set (grain, edges, material); below,
  a real photo (scikit-image's coffee cup, CC0) in four of them;
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

REAL_SCENES = ["marble", "oak-window", "pastel-podium", "dark-luxury"]
TILE, CROP = 240, 240


def phone_photo(folder: Path) -> Path:
    """A 12 MP photo of a bottle on a table against a wall, with a phone sensor's grain
    (level 3, a little coarse, mostly luma) laid on as a phone's photo carries it."""
    import numpy as np
    from PIL import Image

    from studio.models.classic_grain import Grain, render
    from tests.corpus import Spec
    from tests.corpus import render as render_photo

    rgb, _ = render_photo(Spec(0, "bottle", "wall-table", "normal", False, 3000, 4000, "jpeg", 1, 2026))
    grain = render(Grain(3.0, 0.7, 0.75), rgb.shape[0], rgb.shape[1], np.random.default_rng(1)) * 255
    path = folder / "bottle-12mp.jpg"
    Image.fromarray(np.clip(rgb + grain, 0, 255).astype(np.uint8)).save(path, quality=92)
    return path


def _shot_and_crop(store, job: str, label: str):
    """The shot as a tile, over a 100% crop of it round the product's foot (one side)."""
    import numpy as np
    from PIL import Image, ImageDraw

    from studio.pipeline.queries import stage_output

    im = stage_output(store, job, "color[0]")["image"]
    box = stage_output(store, job, "generate[0]").get("box") or {}
    x0 = int(box.get("x", im.width // 2)) - CROP // 3
    y0 = int(box.get("y", im.height // 2)) + int(box.get("h", 0)) - CROP * 2 // 3
    x0, y0 = max(0, min(im.width - CROP, x0)), max(0, min(im.height - CROP, y0))
    crop = im.crop((x0, y0, x0 + CROP, y0 + CROP))
    small = im.copy()
    small.thumbnail((TILE, TILE))  # every shot is made for the same (square) preset: no bands between tiles
    tile = Image.new("RGB", (TILE, TILE + CROP + 18), "white")
    tile.paste(small, ((TILE - small.width) // 2, 0))
    tile.paste(crop, (0, TILE))
    ImageDraw.Draw(tile).text((4, TILE + CROP + 4), label, fill=(40, 40, 40))
    return np.asarray(tile)


def main(out: str) -> None:
    os.environ.setdefault("STUDIO_HOME", tempfile.mkdtemp(prefix="studio-sheet-"))
    import numpy as np
    import skimage
    from PIL import Image, ImageDraw

    from studio.app.context import open_store, run_jobs
    from studio.app.shoot import submit_shoot
    from studio.pipeline.queries import stage_output
    from studio.scenes import SHIPPED_DIR, load_scenes

    scenes = sorted(load_scenes([SHIPPED_DIR]))
    folder = Path(tempfile.mkdtemp(prefix="studio-sheet-"))
    photo = phone_photo(folder)
    coffee = Path(skimage.data.__path__[0]) / "coffee.png"
    store = open_store()
    ids = [submit_shoot(store, photo, scene=s, variants=1, preset="shopify", segmenter="classic") for s in scenes]
    real = [submit_shoot(store, coffee, scene=s, variants=1, preset="shopify", segmenter="classic")
            for s in REAL_SCENES]
    run_jobs(ids + real)
    tiles = [_shot_and_crop(store, job, f"{scene} (100% below)") for scene, job in zip(scenes, ids, strict=True)]
    rows = [np.hstack(tiles[i: i + 4]) for i in range(0, len(tiles), 4)]
    coffee_tiles = []
    for scene, job in zip(REAL_SCENES, real, strict=True):
        im = stage_output(store, job, "color[0]")["image"]
        im.thumbnail((TILE, TILE))
        tile = Image.new("RGB", (TILE, TILE + 18), "white")
        tile.paste(im, ((TILE - im.width) // 2, 0))
        ImageDraw.Draw(tile).text((4, TILE + 4), f"coffee photo: {scene}", fill=(40, 40, 40))
        coffee_tiles.append(np.asarray(tile))
    rows.append(np.hstack(coffee_tiles))
    Image.fromarray(np.vstack(rows)).save(out, quality=80, optimize=True)
    print(out, f"{Path(out).stat().st_size // 1024} KB")


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
