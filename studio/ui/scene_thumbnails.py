"""A thumbnail per scene for the Studio tab's gallery. A template's own `thumbnail` file
is used when it names one; otherwise the classic compositor renders the scene around
a plain stand-in product, once, and the result is cached in the data dir (keyed by
the template file's contents, so an edited template gets a new one)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from studio.config import data_dir
from studio.paths import inside
from studio.scenes import Scene

SIDE = 320


def _stand_in() -> Image.Image:
    """A neutral bottle shape: shows placement, shadow and reflection without
    suggesting any particular product."""
    w, h = 160, 360
    alpha = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(alpha)
    d.rounded_rectangle((10, 120, w - 10, h - 4), radius=28, fill=255)
    d.rounded_rectangle((55, 20, w - 55, 130), radius=10, fill=255)
    shade = np.linspace(0.55, 0.95, w)[None, :] * np.ones((h, 1))
    shade = np.minimum(shade, 1.0 - 0.4 * np.abs(np.linspace(-1, 1, w))[None, :] ** 6)
    rgb = (np.dstack([shade * 236, shade * 232, shade * 226]) ).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    img.putalpha(alpha.filter(ImageFilter.GaussianBlur(0.8)))
    return img


def _key(scene: Scene) -> str:
    src = Path(scene.source) if scene.source else None
    data = src.read_bytes() if src and src.is_file() else scene.id.encode()
    if scene.backdrop is not None and src is not None:  # a new photo under the same name: a new thumbnail
        photo = scene.backdrop.path(str(src))
        if photo.is_file():
            st = photo.stat()
            data += f"{st.st_size}:{st.st_mtime_ns}".encode()
    return hashlib.sha256(data).hexdigest()[:12]


def thumbnail(scene: Scene) -> Path:
    """A JPEG in the data dir's cache (the only kind of file the gallery serves): the
    template's own picture when it names one inside its folder, else a render."""
    folder = data_dir() / "cache" / "scene-thumbnails"
    path = folder / f"{scene.id}-{_key(scene)}.jpg"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    image = _own_picture(scene)
    if image is None:
        from studio.app.shoot import scene_preview

        image = scene_preview(scene, _stand_in(), SIDE)
    tmp = path.with_name(f".{path.name}.tmp")
    image.convert("RGB").save(tmp, "JPEG", quality=85)
    tmp.replace(path)
    return path


def _own_picture(scene: Scene) -> Image.Image | None:
    """The template's `thumbnail` image, if it lies in the template's folder and opens."""
    if not (scene.thumbnail and scene.source):
        return None
    base = Path(scene.source).parent
    own = base / scene.thumbnail
    if not inside(own, base) or not own.is_file():
        return None
    try:
        with Image.open(own) as im:
            im.load()
            im.thumbnail((SIDE, SIDE))
            return im.copy()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def gallery(category: str = "all", search: str = "") -> list[tuple[str, str, str]]:
    """(thumbnail path, caption, scene id) for the page's scenes that match, by title."""
    from studio.app.backdrops import page_scenes
    from studio.app.context import open_store

    search = search.strip().lower()
    out = []
    for scene in sorted(page_scenes(open_store()).values(), key=lambda s: (s.category, s.title)):
        if category not in ("all", "", None) and scene.category != category:
            continue
        if search and search not in f"{scene.id} {scene.title} {scene.category}".lower():
            continue
        out.append((str(thumbnail(scene)), scene.title, scene.id))
    return out
