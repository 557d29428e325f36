"""Mask touch-up edits for a job: kept durably with the job (so a restart, or a replay
from `segment`, applies them again), with undo and reset."""

from __future__ import annotations

import numpy as np

from studio.imaging import masks
from studio.pipeline import jobs
from studio.store import Store, loads

KEY = "mask_edits"


def edits(store: Store, job_id: str) -> list[dict]:
    row = store.one("SELECT value FROM job_inputs WHERE job_id = ? AND key = ?", (job_id, KEY))
    return loads(row["value"]) if row else []


def _save(store: Store, job_id: str, items: list[dict]) -> None:
    jobs.provide_input(store, job_id, KEY, items)


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
