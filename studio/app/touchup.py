"""Mask touch-up edits for a cut-out job: kept durably with the job (so a restart, or
a replay from `segment`, applies them again), with undo and reset; and the cut-out
as it looks with them."""

from __future__ import annotations

import numpy as np
from PIL import Image

from studio.imaging import masks
from studio.pipeline import jobs, keys, queries
from studio.store import Store


def edits(store: Store, job_id: str) -> list[dict]:
    return queries.job_input(store, job_id, keys.MASK_EDITS, [])


def _save(store: Store, job_id: str, items: list[dict]) -> None:
    jobs.provide_input(store, job_id, keys.MASK_EDITS, items)


def add_strokes(store: Store, job_id: str, add: np.ndarray | None, erase: np.ndarray | None) -> list[dict]:
    edit: dict = {"op": "strokes"}
    if add is not None and add.any():
        edit["add"] = store.put_array(np.clip(add * 255 if add.max() <= 1 else add, 0, 255).astype(np.uint8))
    if erase is not None and erase.any():
        edit["erase"] = store.put_array(np.clip(erase * 255 if erase.max() <= 1 else erase, 0, 255).astype(np.uint8))
    if len(edit) == 1:
        return edits(store, job_id)
    return add_edit(store, job_id, edit)


def add_edit(store: Store, job_id: str, edit: dict) -> list[dict]:
    if edit.get("op") not in masks.EDIT_OPS:
        raise ValueError(f"unknown touch-up edit {edit.get('op')!r}")
    items = edits(store, job_id) + [edit]
    _save(store, job_id, items)
    return items


def undo(store: Store, job_id: str) -> list[dict]:
    items = edits(store, job_id)[:-1]
    _save(store, job_id, items)
    return items


def reset(store: Store, job_id: str) -> list[dict]:
    _save(store, job_id, [])
    return []


def preview(store: Store, job_id: str, alpha: np.ndarray) -> np.ndarray:
    """The segment matte with this job's edits applied (for a live view while painting)."""
    return masks.apply_edits(alpha, edits(store, job_id), store.artifacts.read_array)


def cutout_view(store: Store, job_id: str) -> dict:
    """The cut-out of a cutout job with its touch-up edits applied."""
    seg = queries.stage_output(store, job_id, keys.SEGMENT)
    image = queries.stage_output(store, job_id, keys.INGEST)["image"]
    base = np.asarray(seg["alpha"], np.float32) / 255.0
    alpha = preview(store, job_id, base)
    rgba = np.dstack([np.asarray(image.convert("RGB")), (alpha * 255 + 0.5).astype(np.uint8)])
    return {"job": job_id, "image": image, "alpha": alpha, "cutout": Image.fromarray(rgba, "RGBA"),
            "backend": seg["backend"], "confidence": float(seg["confidence"]), "notes": list(seg.get("notes", [])),
            "edits": len(edits(store, job_id)), "advice": _advice(seg, len(edits(store, job_id)))}


def _advice(seg: dict, n_edits: int) -> dict | None:
    from studio.app.cutout_advice import advice

    return None if n_edits else advice(seg["backend"], float(seg["confidence"]))


def touch_up(store: Store, job_id: str, *, add: np.ndarray | None = None, erase: np.ndarray | None = None,
             grow_px: int = 0, feather_px: float = 0.0, fill_holes: bool = False) -> dict:
    """Add one touch-up step (strokes, grow/shrink, feather or fill holes) to a cut-out;
    each is one undo step. Returns the cut-out view with it applied."""
    if add is not None or erase is not None:
        add_strokes(store, job_id, add, erase)
    if grow_px:
        add_edit(store, job_id, {"op": "grow", "px": int(grow_px)})
    if feather_px:
        add_edit(store, job_id, {"op": "feather", "px": float(feather_px)})
    if fill_holes:
        add_edit(store, job_id, {"op": "fill_holes"})
    return cutout_view(store, job_id)
