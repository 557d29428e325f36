"""Clip presets: where a clip goes decides its frame (Reels/TikTok/Shorts are 9:16,
a marketplace listing video 16:9), its frame rate and its length."""

from __future__ import annotations

from dataclasses import dataclass

FPS = (24, 30)
SECONDS = (4.0, 8.0)
MOTIONS = ("push-in", "orbit")


@dataclass(frozen=True)
class ClipPreset:
    id: str
    title: str
    width: int
    height: int
    fps: int = 30
    seconds: float = 6.0


CLIP_PRESETS: dict[str, ClipPreset] = {p.id: p for p in [
    ClipPreset("reels", "Reels / TikTok / Shorts (9:16, 1080×1920)", 1080, 1920),
    ClipPreset("square", "Square feed (1:1, 1080×1080)", 1080, 1080),
    ClipPreset("listing", "Listing video (16:9, 1920×1080)", 1920, 1080),
]}


def clip_settings(preset: str, fps: int | None = None, seconds: float | None = None,
                  motion: str = "push-in") -> dict:
    """The checked parameters of a clip, as the clip stage records them."""
    if preset not in CLIP_PRESETS:
        raise ValueError(f"clip preset {preset!r} is unknown; use {', '.join(CLIP_PRESETS)}")
    p = CLIP_PRESETS[preset]
    fps = p.fps if fps is None else fps
    seconds = p.seconds if seconds is None else seconds
    if fps not in FPS:
        raise ValueError(f"a clip's frame rate is 24 or 30 fps, not {fps!r}")
    if not (isinstance(seconds, int | float) and SECONDS[0] <= seconds <= SECONDS[1]):
        raise ValueError(f"a clip lasts {SECONDS[0]:g} to {SECONDS[1]:g} s, not {seconds!r}")
    if motion not in MOTIONS:
        raise ValueError(f"clip motion {motion!r} is unknown; use {', '.join(MOTIONS)}")
    return {"preset": preset, "width": p.width, "height": p.height, "fps": int(fps), "seconds": float(seconds),
            "frames": round(fps * seconds), "motion": motion}
