"""What the tabs share: readable errors, progress from engine events, the active job
per browser session (for Cancel), and pictures made for people (checkerboard,
mask overlay)."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from studio.app.context import Event

log = logging.getLogger(__name__)

_active: dict[str, str] = {}
_active_lock = threading.Lock()


def message_of(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return text.strip().strip("'\"")


def readable(fn: Callable) -> Callable:
    """Errors become a message for people (gr.Error), never a traceback. Unexpected
    ones are logged with their traceback for a bug report."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, KeyError, LookupError, OSError, RuntimeError) as exc:
            raise gr.Error(message_of(exc), print_exception=False) from None
        except Exception as exc:  # the UI must stay up whatever a step does
            log.exception("UI action %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong: {type(exc).__name__}: {message_of(exc)}. "
                           "Any job it started keeps its artifacts (see History).", print_exception=False) from None

    return wrapper


def session_of(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def set_active(session: str, job_id: str | None) -> None:
    with _active_lock:
        if job_id is None:
            _active.pop(session, None)
        else:
            _active[session] = job_id


def active_job(session: str) -> str | None:
    with _active_lock:
        return _active.get(session)


def tracker(progress: gr.Progress | None, session: str, what: str) -> Callable[[Event], None]:
    """An engine-event listener that drives gr.Progress per stage and remembers the
    running job for Cancel."""
    state = {"total": 0, "done": set()}

    def on_event(ev: Event) -> None:
        if active_job(session) != ev.job_id:
            set_active(session, ev.job_id)
            from studio.app.context import open_store
            from studio.app.history import stages_to_run

            state["total"] = stages_to_run(open_store(), ev.job_id) or 1
        if ev.kind == "finish":
            state["done"].add(ev.key)
        if progress is not None:
            part = (len(state["done"]) + (ev.progress if ev.kind == "progress" else 0)) / max(1, state["total"])
            progress(min(1.0, part), desc=f"{what}: {ev.key} {ev.message}".strip())

    return on_event


# -- pictures ------------------------------------------------------------------

def checkerboard(h: int, w: int, cell: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    board = ((yy // cell + xx // cell) % 2).astype(np.float32)
    return (200 + 40 * board)[..., None].repeat(3, axis=2)


def on_checkerboard(rgba: Image.Image, max_side: int = 1024) -> Image.Image:
    """A cut-out over a checkerboard, so what was removed is plain to see."""
    img = rgba.convert("RGBA")
    img.thumbnail((max_side, max_side))
    arr = np.asarray(img, np.float32)
    a = arr[..., 3:4] / 255.0
    out = arr[..., :3] * a + checkerboard(*arr.shape[:2]) * (1 - a)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


def mask_overlay(image: Image.Image, alpha: np.ndarray, max_side: int = 1024) -> Image.Image:
    """The photo with what the cut-out drops dimmed and tinted: the picture to paint on."""
    img = image.convert("RGB")
    img.thumbnail((max_side, max_side))
    a = np.asarray(Image.fromarray((alpha * 255).astype(np.uint8)).resize(img.size, Image.Resampling.BILINEAR),
                   np.float32)[..., None] / 255.0
    rgb = np.asarray(img, np.float32)
    dropped = rgb * 0.35 + np.array([40, 60, 140], np.float32) * 0.4
    return Image.fromarray(np.clip(rgb * a + dropped * (1 - a), 0, 255).astype(np.uint8), "RGB")


def strokes_from_editor(value: dict | None, shape: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Green paint adds to the product, red paint removes from it. The paint is read
    from the editor's layers (or, without layers, from where the composite differs
    from the background), drawn at the preview size and scaled to the photo's."""
    if not value:
        return None, None
    layers = [np.asarray(x) for x in value.get("layers") or [] if x is not None]
    if not layers and value.get("composite") is not None and value.get("background") is not None:
        comp = np.asarray(value["composite"])[..., :3].astype(int)
        back = np.asarray(value["background"])[..., :3].astype(int)
        if comp.shape == back.shape:
            painted = np.abs(comp - back).sum(axis=2) > 60
            layers = [np.dstack([comp, painted * 255]).astype(np.uint8)]
    add = np.zeros(shape, np.float32)
    erase = np.zeros(shape, np.float32)
    for arr in layers:
        if arr.ndim != 3 or arr.shape[2] < 4:
            continue
        painted = arr[..., 3] > 32
        r, g = arr[..., 0].astype(int), arr[..., 1].astype(int)
        for target, hit in ((add, painted & (g > r)), (erase, painted & (r >= g))):
            if hit.any():
                scaled = np.asarray(Image.fromarray(hit.astype(np.uint8) * 255).resize(
                    (shape[1], shape[0]), Image.Resampling.BILINEAR), np.float32) / 255.0
                np.maximum(target, scaled, out=target)
    return (add if add.any() else None), (erase if erase.any() else None)


def table(rows: list[dict], columns: list[str]) -> list[list]:
    return [[r.get(c, "") if r.get(c) is not None else "" for c in columns] for r in rows]
