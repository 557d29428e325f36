"""Painting a shot's variants in one pipeline call.

The variants of a shoot are separate stages (each is retried, gated and reproduced on
its own), but on a GPU the model paints four 1 MP images in one batch for much less
than four calls. So the first variant's call paints its siblings too, each with its own
seeded generator (image i is what a call with seed i alone gives), and puts theirs on
a shelf; their stages take them from it instead of painting again. A shelf entry is
bound to everything that decides the picture (job and round, model and plan, prompt,
canvas, mask, steps), so a sibling whose request differs paints its own.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from studio.models.devices import Card, Plan

KEEP_BATCHES = 4  # shelves kept at once: a cancelled job's leftovers are dropped in time

_too_big: dict[tuple[str, str], int] = {}  # (card, plan) → a batch size that ran out of memory


def variants_per_call(card: Card | None, plan: Plan, wanted: int, per_image_gb: float) -> int:
    """How many variants one call paints: on the CPU all of them (system memory holds a
    few 1 MP latents easily); on a card, those whose activations fit beside the plan's
    weights (the plan's minimum is what one image needs), and never as many as a size
    that once ran out of memory here."""
    if wanted <= 1:
        return 1
    if card is None:
        return wanted
    room = card.total_gb - plan.min_vram_gb
    fits = 1 + max(0, int(room // per_image_gb))
    limit = _too_big.get((card.name, plan.id))
    if limit is not None:
        fits = min(fits, limit - 1)
    return max(1, min(wanted, fits))


def ran_out(card: Card | None, plan: Plan, size: int) -> None:
    """A batch of `size` ran out of memory on this card and plan: smaller ones from now on."""
    if card is not None:
        key = (card.name, plan.id)
        _too_big[key] = min(size, _too_big.get(key, size))


def request_key(*parts: object) -> str:
    """A digest of what decides a picture (images by their pixels)."""
    h = hashlib.sha256()
    for part in parts:
        if hasattr(part, "tobytes") and hasattr(part, "size"):  # a PIL image
            h.update(repr((part.mode, part.size)).encode())
            h.update(part.tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()


class Shelf:
    """Painted variants waiting for their stage: key → {seed: image}, the oldest dropped.
    Kept as 8-bit (what the stage makes of them anyway: a quarter of the memory of the
    pipeline's floats) and handed back as floats in [0, 1] that round to the same bytes."""

    def __init__(self, keep: int = KEEP_BATCHES):
        self._keep = keep
        self._lock = threading.Lock()
        self._batches: OrderedDict[str, dict[int, np.ndarray]] = OrderedDict()

    def put(self, key: str, images: dict[int, np.ndarray]) -> None:
        kept = {seed: np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8) if img.dtype.kind == "f" else img
                for seed, img in images.items()}
        with self._lock:
            self._batches[key] = kept
            self._batches.move_to_end(key)
            while len(self._batches) > self._keep:
                self._batches.popitem(last=False)

    def take(self, key: str, seed: int) -> np.ndarray | None:
        """The image painted for `seed` under `key`, once (None: paint it)."""
        with self._lock:
            batch = self._batches.get(key)
            if not batch or seed not in batch:
                return None
            image = batch.pop(seed)
            if not batch:
                del self._batches[key]
        return image.astype(np.float32) / 255.0

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()


SHELF = Shelf()
