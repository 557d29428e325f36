"""Service: cut products out of photos through the engine (used by `studio cutout`
and the UI)."""

from __future__ import annotations

from pathlib import Path

from studio.config import load_settings
from studio.imaging.io import IngestError, ingest_file
from studio.pipeline import jobs
from studio.pipeline.codec import decode
from studio.services import open_store, registry
from studio.store import Store, loads


def submit_cutout(store: Store, photo: Path, backend: str = "auto", pause_for_touchup: bool = False,
                  work_side: int | None = None) -> str:
    """Check the photo, keep its original bytes, and queue a cut-out job for it
    (at most `work_side` px on the long side, when given: a cut-out a shoot will
    reuse needs no more). Raises IngestError (with a message for people) for a photo
    that can't be used."""
    img = ingest_file(photo, load_settings().limits)
    digest = store.put_artifact(img.original, "bin")
    params = {"photo": digest, "photo_name": photo.name, "segmenter": backend, "pause_for_touchup": pause_for_touchup}
    if work_side:
        params["work_side"] = work_side
    return jobs.submit(store, registry(), "cutout", params, title=photo.name)


def stage_output(store: Store, job_id: str, key: str) -> dict:
    row = store.one("SELECT outputs FROM stage_runs WHERE job_id = ? AND key = ?", (job_id, key))
    if row is None or row["outputs"] is None:
        raise KeyError(f"job {job_id} has no output from {key}")
    return decode(store, loads(row["outputs"]))


def cutout_photos(photos: list[Path], out_dir: Path, backend: str = "auto") -> list[dict]:
    store = open_store()
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    queued: list[tuple[Path, str]] = []
    for photo in photos:
        try:
            queued.append((photo, submit_cutout(store, photo, backend)))
        except IngestError as exc:
            results.append({"photo": str(photo), "ok": False, "error": exc.message})
    if queued:
        from studio.cli_progress import run_with_bar

        run_with_bar([j for _, j in queued])
    for photo, job_id in queued:
        job = jobs.get_job(store, job_id)
        if job["status"] != "done":
            results.append({"photo": str(photo), "ok": False, "job": job_id,
                            "error": f"{job['failed_stage']}: {job['error']}"})
            continue
        seg = stage_output(store, job_id, "segment")
        target = out_dir / f"{photo.stem}.png"
        stage_output(store, job_id, "matte")["cutout"].save(target)
        results.append({"photo": str(photo), "ok": True, "job": job_id, "output": str(target),
                        "backend": seg["backend"], "confidence": seg["confidence"], "notes": seg["notes"]})
    return results


