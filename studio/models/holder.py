"""The one holder of loaded models (generators, segmenters, CLIP).

At most one *big* model (a diffusion pipeline) is held at a time: loading another
frees the first, and the CUDA cache with it, before the new one loads, so two never
share the card. *Small* models (a segmenter, CLIP) stay loaded beside it. A load that
fails rolls back: the big model held before is loaded again, so a failed switch (out
of memory, a broken download) leaves the app with the model that worked, as IOPaint's
model manager does.

Generators hold `lock` for a whole call, so a second GPU stage never runs beside one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Held:
    key: Hashable
    model: Any
    load: Callable[[], Any]


class ModelHolder:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._big: _Held | None = None
        self._small: dict[Hashable, Any] = {}

    @property
    def big_key(self) -> Hashable | None:
        return self._big.key if self._big else None

    def held(self) -> list[Hashable]:
        """Keys of every model held now, the big one first."""
        with self.lock:
            return ([self._big.key] if self._big else []) + list(self._small)

    def get(self, key: Hashable, load: Callable[[], Any], *, big: bool = False) -> Any:
        """The model under `key`, loaded with `load()` the first time."""
        with self.lock:
            if not big:
                if key not in self._small:
                    self._small[key] = load()
                return self._small[key]
            if self._big is not None and self._big.key == key:
                return self._big.model
            previous = self._big
            self._free_big()
            try:
                model = load()
            except BaseException:
                self._roll_back(previous)
                raise
            self._big = _Held(key, model, load)
            return model

    def _roll_back(self, previous: _Held | None) -> None:
        if previous is None:
            return
        try:
            self._big = _Held(previous.key, previous.load(), previous.load)
        except Exception:  # the old one no longer loads either: hold nothing
            log.warning("could not reload %s after a failed switch", previous.key, exc_info=True)

    def release(self, key: Hashable | None = None) -> None:
        """Free the big model (or the model under `key`) and the CUDA cache."""
        with self.lock:
            if key is None or (self._big is not None and self._big.key == key):
                self._free_big()
            elif key in self._small:
                del self._small[key]
                _empty_cuda_cache()

    def release_all(self) -> None:
        with self.lock:
            self._small.clear()
            self._free_big()

    def _free_big(self) -> None:
        self._big = None
        _empty_cuda_cache()


def _empty_cuda_cache() -> None:
    import sys

    torch = sys.modules.get("torch")  # nothing to free when torch was never imported
    if torch is not None and torch.cuda.is_available():
        import gc

        gc.collect()  # drop the last references (pipeline hooks keep cycles) before emptying
        torch.cuda.empty_cache()


HOLDER = ModelHolder()
