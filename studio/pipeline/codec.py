"""Stage outputs to and from the store: images, arrays and bytes become artifact
references ({"$img": hash}), the rest stays JSON. ("$png" is what older data dirs
call an image; it reads the same way.)"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from PIL import Image

from studio.store import Store

_KINDS = ("$img", "$png", "$npy", "$bin")
_IMAGE_KINDS = ("$img", "$png")


def encode(store: Store, value: Any, cache: ArtifactCache | None = None) -> Any:
    """Store images, arrays and bytes as artifacts; with a cache, keep the objects in
    memory too, so the next stage in this process needn't decode them again."""
    if isinstance(value, Image.Image):
        ref = {"$img": store.put_image(value)}
        if cache is not None:
            cache.put("$img" + ref["$img"], value.copy(), value.width * value.height * len(value.getbands()))
        return ref
    if isinstance(value, np.ndarray):
        ref = {"$npy": store.put_array(value)}
        if cache is not None:
            cache.put("$npy" + ref["$npy"], value.copy(), value.nbytes)
        return ref
    if isinstance(value, bytes | bytearray):
        return {"$bin": store.put_artifact(bytes(value), "bin")}
    if isinstance(value, dict):
        return {str(k): encode(store, v, cache) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(store, v, cache) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _KINDS


class ArtifactCache:
    """Decoded artifacts kept in memory, bounded by bytes, so a stage that reads the
    output of the one before doesn't pay to decode the same 12 MP image again."""

    def __init__(self, max_bytes: int = 512 * 1024**2):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: str, value: Any, nbytes: int) -> None:
        if nbytes > self.max_bytes // 4:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (value, nbytes)
            self._size += nbytes
            while self._size > self.max_bytes:
                _, (_, n) = self._items.popitem(last=False)
                self._size -= n


def decode(store: Store, value: Any, cache: ArtifactCache | None = None) -> Any:
    if is_ref(value):
        kind, digest = next(iter(value.items()))
        kind = "$img" if kind in _IMAGE_KINDS else kind
        cached = cache.get(kind + digest) if cache else None
        if cached is not None:
            # Callers may modify arrays in place; hand out copies, keep the cached one clean.
            return cached.copy()
        if kind == "$img":
            out = store.artifacts.read_image(digest)
            nbytes = out.width * out.height * len(out.getbands())
        elif kind == "$npy":
            out = store.artifacts.read_array(digest)
            nbytes = out.nbytes
        else:
            out = store.artifacts.read_bytes(digest)
            nbytes = len(out)
        if cache is not None:
            cache.put(kind + digest, out, nbytes)
            return out.copy() if not isinstance(out, bytes) else out
        return out
    if isinstance(value, dict):
        return {k: decode(store, v, cache) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(store, v, cache) for v in value]
    return value


def artifact_hashes(value: Any) -> list[str]:
    """Every artifact a stored output refers to."""
    if is_ref(value):
        return [next(iter(value.values()))]
    if isinstance(value, dict):
        return [h for v in value.values() for h in artifact_hashes(v)]
    if isinstance(value, list):
        return [h for v in value for h in artifact_hashes(v)]
    return []
