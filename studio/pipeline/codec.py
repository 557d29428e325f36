"""Stage outputs to and from the store: images, arrays and bytes become artifact
references ({"$img": hash}), the rest stays JSON. ("$png" is what older data dirs
call an image; it reads the same way.)"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from studio.bytecache import ByteBoundedCache
from studio.imaging.compose import ARTIFACT
from studio.store import Store

_KINDS = ("$img", "$png", "$npy", "$bin")
_IMAGE_KINDS = ("$img", "$png")


def encode(store: Store, value: Any, cache: ArtifactCache | None = None, stored: dict[int, dict] | None = None) -> Any:
    """Store images, arrays and bytes as artifacts; with a cache, keep the objects in
    memory too, so the next stage in this process needn't decode them again. `stored`
    (from `decode`) maps the stage's input objects to their references: an input handed
    back as it came (the very object) is referred to again, not stored again."""
    if stored is not None and id(value) in stored:
        return stored[id(value)]
    if isinstance(value, Image.Image):
        ref = {"$img": store.put_image(value)}
        if cache is not None:
            kept = value.copy()
            kept.info[ARTIFACT] = ref["$img"]
            cache.put("$img" + ref["$img"], kept, value.width * value.height * len(value.getbands()))
        return ref
    if isinstance(value, np.ndarray):
        ref = {"$npy": store.put_array(value)}
        if cache is not None:
            cache.put("$npy" + ref["$npy"], value.copy(), value.nbytes)
        return ref
    if isinstance(value, bytes | bytearray):
        return {"$bin": store.put_artifact(bytes(value), "bin")}
    if isinstance(value, dict):
        return {str(k): encode(store, v, cache, stored) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(store, v, cache, stored) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _KINDS


class ArtifactCache(ByteBoundedCache):
    """Decoded artifacts kept in memory, bounded by bytes, so a stage that reads the
    output of the one before doesn't pay to decode the same 12 MP image again."""

    def __init__(self, max_bytes: int = 512 * 1024**2):
        super().__init__(max_bytes)


def decode(store: Store, value: Any, cache: ArtifactCache | None = None, stored: dict[int, dict] | None = None) -> Any:
    """The stored value with its artifacts read back; `stored`, when given, collects
    each decoded object's reference by id (see `encode`)."""
    if is_ref(value) and stored is not None:
        out = decode(store, value, cache)
        if isinstance(out, Image.Image):  # arrays and bytes are handed out as copies to change
            stored[id(out)] = value
        return out
    if is_ref(value):
        kind, digest = next(iter(value.items()))
        kind = "$img" if kind in _IMAGE_KINDS else kind
        cached = cache.get(kind + digest) if cache else None
        if cached is not None:
            # Callers may modify what they get in place; the cached one stays clean.
            return _shared(cached) if isinstance(cached, Image.Image) else cached.copy()
        if kind == "$img":
            out = store.artifacts.read_image(digest)
            out.info[ARTIFACT] = digest  # the same digest, the same pixels: lets work on it be reused
            nbytes = out.width * out.height * len(out.getbands())
        elif kind == "$npy":
            out = store.artifacts.read_array(digest)
            nbytes = out.nbytes
        else:
            out = store.artifacts.read_bytes(digest)
            nbytes = len(out)
        if cache is not None:
            cache.put(kind + digest, out, nbytes)
            if isinstance(out, Image.Image):
                return _shared(out)
            return out.copy() if not isinstance(out, bytes) else out
        return out
    if isinstance(value, dict):
        return {k: decode(store, v, cache, stored) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(store, v, cache, stored) for v in value]
    return value


def _shared(image: Image.Image) -> Image.Image:
    """A new Image on the same pixel storage, marked read-only: Pillow copies the pixels
    before anything changes them (paste, putalpha, draw), so the cached image is never
    touched, and an image only read (most are) costs no 12 MP copy."""
    out = image._new(image.im)  # Pillow's own constructor for an image on a given core
    out.readonly = 1
    return out


def artifact_hashes(value: Any) -> list[str]:
    """Every artifact a stored output refers to."""
    if is_ref(value):
        return [next(iter(value.values()))]
    if isinstance(value, dict):
        return [h for v in value.values() for h in artifact_hashes(v)]
    if isinstance(value, list):
        return [h for v in value for h in artifact_hashes(v)]
    return []
