"""The one owner of big models on the GPU: it holds at most one pipeline, and
loading another frees the first (and the CUDA cache) before the new one loads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Owner:
    def __init__(self) -> None:
        self.lock = threading.RLock()  # held by a generator for a whole call
        self.key: tuple | None = None
        self.pipe: Any = None

    def get(self, key: tuple, load: Callable[[], Any]) -> Any:
        with self.lock:
            if self.key != key:
                self.release()
                self.pipe = load()
                self.key = key
            return self.pipe

    def release(self) -> None:
        with self.lock:
            self.pipe, self.key = None, None
            try:
                import torch
            except ImportError:
                return
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


OWNER = Owner()
