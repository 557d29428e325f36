"""Clips as files: H.264 MP4 (yuv420p, colour tagged, `moov` first so a page plays it while it
loads) through PyAV, an animated WebP preview, and the checks of a written file against
its preset (duration, size, codec, frame rate)."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

CRF = 20  # visually clean for product shots; a 6 s 1080×1920 clip is a few MB
# x264's quickest: a 6 s 1080×1920 clip is ~2 MB all the same, and it leaves the CPU
# to the renderer (faster than real time on 2 cores)
X264_PRESET = "ultrafast"
PREVIEW_FPS = 10
PREVIEW_LONG_SIDE = 360


def write_mp4(frames: Iterable[np.ndarray], path: Path, fps: int, size: tuple[int, int], *,
              on_frame: Callable[[int, np.ndarray], None] | None = None) -> Path:
    """Encode RGB (or RGBA, the fourth channel ignored) uint8 frames of `size` (width,
    height) to `path`. Written to a hidden part file and renamed at the end: a cancel or
    a crash (any exception out of `frames` or `on_frame`) leaves no file, whole or half."""
    import av
    import cv2

    path = Path(path)
    part = path.with_name(f".{path.name}.part")
    try:
        with av.open(str(part), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(CRF), "preset": X264_PRESET}
            # OpenCV's RGB → I420 is BT.601 in limited range, 6× quicker than swscale's BT.709
            # on a 1080×1920 frame; the stream says so (sRGB primaries are BT.709's), and
            # players convert back by what the stream says
            cc = stream.codec_context
            cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 6, 1
            for i, rgb in enumerate(frames):
                if on_frame is not None:
                    on_frame(i, rgb)
                to_yuv = cv2.COLOR_RGBA2YUV_I420 if rgb.shape[2] == 4 else cv2.COLOR_RGB2YUV_I420
                frame = av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, to_yuv), format="yuv420p")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    return path


class PreviewCollector:
    """Keeps every n-th frame, small, for the page's animated preview."""

    def __init__(self, fps: int, size: tuple[int, int]):
        self.every = max(1, round(fps / PREVIEW_FPS))
        scale = PREVIEW_LONG_SIDE / max(size)
        self.size = (max(2, round(size[0] * scale)), max(2, round(size[1] * scale)))
        self.frames: list[np.ndarray] = []

    def __call__(self, i: int, rgb: np.ndarray) -> None:
        if i % self.every == 0:
            import cv2

            # area-averaging by a whole factor first: OpenCV's fast path (26 → 3 ms a frame
            # at 1080×1920), then a small linear step to the exact size
            k = max(1, min(rgb.shape[1] // self.size[0], rgb.shape[0] // self.size[1]))
            small = cv2.resize(rgb, (rgb.shape[1] // k, rgb.shape[0] // k), interpolation=cv2.INTER_AREA)
            self.frames.append(np.ascontiguousarray(cv2.resize(small, self.size, interpolation=cv2.INTER_LINEAR)[..., :3]))

    def webp(self) -> bytes:
        from PIL import Image

        images = [Image.fromarray(f) for f in self.frames]
        buf = io.BytesIO()
        images[0].save(buf, format="WEBP", save_all=True, append_images=images[1:], loop=0, quality=70,
                       duration=round(1000 * self.every / (PREVIEW_FPS * self.every)), method=2)
        return buf.getvalue()


def probe(path: Path | str) -> dict:
    """What a player sees in the file: codec, pixel format, size, frame rate, frames,
    duration, and whether the index (`moov`) comes before the data (fast start)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = s.frames or sum(1 for _ in c.demux(s) if _.size)
        fps = float(s.average_rate) if s.average_rate else 0.0
        duration = float(c.duration / 1_000_000) if c.duration else (frames / fps if fps else 0.0)
        info = {"codec": s.codec_context.name, "pix_fmt": s.codec_context.format.name if s.codec_context.format
                else None, "width": s.codec_context.width, "height": s.codec_context.height, "fps": fps,
                "frames": frames, "duration": duration}
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    moov, mdat = head.find(b"moov"), head.find(b"mdat")
    info["faststart"] = moov != -1 and (mdat == -1 or moov < mdat)
    return info


def check_clip(info: dict, settings: dict) -> dict:
    """The clip's compliance with its preset, like an export's report."""
    frame_s = 1 / settings["fps"]
    checks = [
        {"check": "codec H.264", "ok": info["codec"] == "h264", "value": info["codec"]},
        {"check": "pixel format yuv420p", "ok": info["pix_fmt"] == "yuv420p", "value": info["pix_fmt"]},
        {"check": f"size {settings['width']}×{settings['height']}",
         "ok": (info["width"], info["height"]) == (settings["width"], settings["height"]),
         "value": f"{info['width']}×{info['height']}"},
        {"check": f"{settings['fps']} fps", "ok": abs(info["fps"] - settings["fps"]) < 0.01,
         "value": round(info["fps"], 3)},
        {"check": f"{settings['seconds']:g} s", "ok": abs(info["duration"] - settings["seconds"]) <= frame_s + 1e-6,
         "value": round(info["duration"], 3)},
        {"check": "fast start (index first)", "ok": bool(info["faststart"]), "value": info["faststart"]},
    ]
    return {"ok": all(c["ok"] for c in checks), "checks": checks}
