"""One clip from one finished shot: the classic renderer or an image-to-video model,
encoded, checked against its preset, with a preview; what the clip stage runs."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from queue import Queue

import numpy as np

from studio.clips.encode import PreviewCollector, check_clip, probe, write_mp4


def make_clip(shot: np.ndarray, alpha: np.ndarray, settings: dict, *, direction: float, workdir: Path,
              check_cancelled: Callable[[], None] = lambda: None,
              progress: Callable[[float, str], None] = lambda f, m: None, prompt: str = "") -> dict:
    """{"video": MP4 bytes, "preview": animated WebP bytes, "report": the preset's checks,
    "product": per-frame product checks} for a shot (RGB uint8) and its product alpha."""
    size, n = (settings["width"], settings["height"]), settings["frames"]
    if settings.get("engine", "classic") == "classic":
        from studio.clips.classic import build_layers, frames

        layers = build_layers(shot, alpha, size, direction)
        source = frames(layers, n, settings["motion"], light=settings.get("light", True))
        product = {"checked": "by construction: the product is the shot's own pixels, warped once per frame"}
    else:
        from studio.clips.generated import generated_frames

        source, product = generated_frames(shot, alpha, settings, direction=direction, prompt=prompt,
                                           check_cancelled=check_cancelled, progress=progress)
    preview = PreviewCollector(settings["fps"], size)

    def on_frame(i: int, rgb: np.ndarray) -> None:
        check_cancelled()  # raises Cancelled: the part file is removed, nothing is kept
        preview(i, rgb)
        if i % 10 == 0:
            progress(i / n, f"frame {i + 1} of {n}")

    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="clip-") as tmp:
        path = write_mp4(_ahead(source), Path(tmp) / "clip.mp4", settings["fps"], size, on_frame=on_frame)
        info = probe(path)
        data = path.read_bytes()
    return {"video": data, "preview": preview.webp(), "report": {**check_clip(info, settings), "file": info},
            "product": product}


def _ahead(frames, depth: int = 2):
    """Render the next frames on a thread while the encoder works (OpenCV and x264 both
    let go of the GIL): the two halves of a frame's cost overlap."""
    q: Queue = Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def run() -> None:
        try:
            for f in frames:
                if stop.is_set():
                    return
                q.put(f)
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    t = threading.Thread(target=run, name="clip-render", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not q.empty():
            q.get_nowait()
        t.join(timeout=5)
