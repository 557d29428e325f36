"""An in-memory cache bounded by bytes, least recently used out first, safe across
threads: the engine's decoded artifacts, the compositor's resized cut-outs."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class ByteBoundedCache:
    """Values by key, at most `max_bytes` of them (as the caller counts them); a value
    larger than a quarter of that is not kept."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> None:
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
