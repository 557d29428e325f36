"""Clips of finished shoots: `studio clip`, the Studio tab's *Make a clip*, and a
batch's `--clip`. A clip is a replay of the shoot from its `clip` stage (a new job
that reuses everything else), so History, retry, replay and cancel work on it."""

from __future__ import annotations

from pathlib import Path

from studio.app.context import ledger, stages
from studio.clips.presets import clip_settings
from studio.config import MAX_SEED
from studio.paths import free_path, photo_stem, write_atomic
from studio.pipeline import jobs, queries
from studio.store import Store, loads

ENGINES = ("auto", "classic", "wan")


def resolve_clip_engine(engine: str) -> str:
    """`auto`: a video model when one is installed, allowed for the declared use and a
    CUDA GPU is here; else the classic clip (no weights)."""
    if engine not in ENGINES:
        raise ValueError(f"clip engine {engine!r} is unknown; use {', '.join(ENGINES)}")
    from studio.models.video_wan import WanClipModel

    if engine == "wan":
        WanClipModel.check_usable()  # raises with what is missing (weights, GPU, licence)
        return "wan"
    if engine == "auto" and WanClipModel.usable():
        return "wan"
    return "classic"


def clip_params(preset: str = "reels", *, engine: str = "classic", seconds: float | None = None,
                fps: int | None = None, motion: str = "push-in", variant: int | None = None, seed: int = 0,
                light: bool = True) -> dict:
    """The checked parameters of a clip, as its job records them (ValueError says what is wrong)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"the seed must be a whole number from 0 to {MAX_SEED}, not {seed!r}")
    if variant is not None and (isinstance(variant, bool) or not isinstance(variant, int) or variant < 0):
        raise ValueError(f"variant must be a whole number from 0, not {variant!r}")
    return {**clip_settings(preset, fps, seconds, motion), "engine": resolve_clip_engine(engine),
            "variant": variant, "seed": int(seed), "light": bool(light)}


def submit_clip(store: Store, job_id: str, **options) -> str:
    """Queue a clip of a finished shoot `job_id` (options: see `clip_params`)."""
    job = jobs.get_job(store, job_id)
    if job["recipe"] != "shoot" or job["status"] != "done":
        raise jobs.JobError(f"job {job['id']} is a {job['status']} {job['recipe']} job; a clip is made from a "
                            "finished shoot")
    params = loads(job["params"])
    variant = options.get("variant")
    if variant is not None and not 0 <= int(variant) < params["variants"]:
        raise ValueError(f"job {job['id']} has variants 0 to {params['variants'] - 1}, not {variant}")
    return jobs.replay(store, stages(), job["id"], "clip", {"clip": clip_params(**options)}, ledger=ledger(store))


# what a clip is, without its files (a page or an API poll need not read megabytes)
CLIP_FACTS = ("settings", "report", "product")


def clip_result(store: Store, job_id: str, only: tuple[str, ...] | None = None) -> dict:
    """A clip job's outputs: video and preview bytes, the preset's checks, its settings
    (`only` those named)."""
    return queries.stage_output(store, job_id, "clip", only=only)


def clip_name(store: Store, job_id: str) -> str:
    params = jobs.job_params(store, job_id)
    c = params["clip"]
    return f"{photo_stem(params['photo_name'])}_{params['scene']}_{c['preset']}.mp4"


def write_clip(store: Store, job_id: str, out_dir: Path, taken: set[Path] | None = None) -> Path:
    """The clip's MP4 in `out_dir` as <photo>_<scene>_<preset>.mp4; -2, -3 … when an
    earlier output of this run took the name, or a file of that name with other content
    is there (another job's clip of a photo with the same name is never replaced)."""
    video = clip_result(store, job_id, only=("video",))["video"]
    taken = taken if taken is not None else set()
    wanted = Path(out_dir) / clip_name(store, job_id)
    path = free_path(wanted, video, taken)
    write_atomic(path, video)
    return path
