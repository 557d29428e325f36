"""What a shoot's params bring beyond a scene's id: the scene as this shot uses it (a
catalog's real sizes), the backdrop and reference photos the job keeps, and the light
direction a backdrop scene's owner chose. The generate, enlarge, preserve and score
stages read them here, so they read them alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from studio.bytecache import ByteBoundedCache

if TYPE_CHECKING:
    from studio.imaging.layout import Frame
    from studio.scenes import Scene
    from studio.store import Store


def light_override(params: dict) -> float | None:
    """The key light's direction a backdrop scene's owner chose (None: read from the plate)."""
    from studio.scenes import get_scene

    bd = get_scene(params["scene"]).backdrop
    return bd.light if bd is not None else None


def decode(data: bytes, name: str) -> Image.Image:
    """A kept backdrop or reference photo, decoded by the ingest rules (limits, formats,
    orientation, colour profile), as RGB."""
    from studio.config import load_settings
    from studio.imaging.io import ingest_bytes

    return ingest_bytes(data, name, load_settings().limits).image.convert("RGB")


# a shoot's variants (and the next shoots on the same backdrop) read one kept photo:
# decoded once, shared read-only (every caller resizes or converts it into a copy)
_KEPT = ByteBoundedCache(128 * 1024**2)


def kept_image(store: Store, digest: str | None, name: str) -> Image.Image | None:
    """A backdrop or reference photo the job keeps (None: the job has none)."""
    if not digest:
        return None
    image = _KEPT.get(digest)
    if image is None:
        image = decode(store.artifacts.read_bytes(digest), name)
        _KEPT.put(digest, image, image.width * image.height * 3)
    return image


def shot_frame(params: dict) -> Frame:
    """The frame the shot is delivered in: its preset's (a draft's `long_side` at its aspect)."""
    from studio.imaging.layout import frame_for

    return frame_for(params.get("preset") or "shopify", params.get("long_side"))


def shot_scene(params: dict, frame: Frame | None = None) -> Scene:
    """The shoot's scene laid out for the shot's frame (`imaging.layout`: frame first),
    with the product's size relations of a catalog on one backdrop: a SKU of `size_cm`
    beside the batch's largest (`size_ref_cm`) gets that share of the fill, so their real
    sizes keep their relations. `frame`: another frame than the preset's (a clip's)."""
    from dataclasses import replace

    from studio.imaging.layout import frame_scene
    from studio.scenes import get_scene

    scene = frame_scene(get_scene(params["scene"]), frame or shot_frame(params))
    size, ref = params.get("size_cm"), params.get("size_ref_cm")
    if scene.placement.exact:  # a marketplace's fill is exact, whatever the product's size
        return scene
    if size and scene.backdrop is not None and scene.backdrop.knows_size:  # its real size in the seller's photo
        return replace(scene, backdrop=replace(scene.backdrop, product_cm=float(size)))
    if not size or not ref:
        return scene
    ratio = float(np.clip(float(size) / float(ref), 0.1, 1.0))
    if scene.backdrop is not None:
        from studio.imaging.backdrop import DEFAULT_FILL

        fill = scene.backdrop.fill or DEFAULT_FILL
        return replace(scene, backdrop=replace(scene.backdrop, fill=fill * ratio))
    return replace(scene, placement=replace(scene.placement, scale=scene.placement.scale * ratio))
