"""Cut-outs: a photo in, the product as an RGBA image out, through the engine (a
`cutout` job), so the history, retry and replay work for it."""

from __future__ import annotations

from pathlib import Path

from studio.app.context import stages
from studio.config import load_settings
from studio.imaging.io import ingest_file
from studio.pipeline import jobs, keys, queries
from studio.store import Store


def submit_cutout(store: Store, photo: Path, backend: str = "auto", pause_for_touchup: bool = False,
                  work_side: int | None = None) -> str:
    """Check the photo, keep its original bytes, and queue a cut-out job for it
    (at most `work_side` px on the long side, when given: a cut-out a shoot will
    reuse needs no more). Raises IngestError (with a message for people) for a photo
    that can't be used."""
    img = ingest_file(photo, load_settings().limits, check_only=True)  # the ingest stage decodes it for real
    digest = store.put_artifact(img.original, "bin")
    params = {"photo": digest, "photo_name": photo.name, "segmenter": backend, "pause_for_touchup": pause_for_touchup}
    if work_side:
        params["work_side"] = work_side
    return jobs.submit(store, stages(), "cutout", params, title=photo.name)


def cutout_result(store: Store, job_id: str) -> dict:
    """How a cut-out job ended: `ok`, and the RGBA cut-out with its backend, confidence
    and notes, or the error."""
    job = jobs.get_job(store, job_id)
    if job["status"] != "done":
        return {"ok": False, "job": job_id, "error": f"{job['failed_stage']}: {job['error']}"}
    from studio.app.cutout_advice import job_advice

    seg = queries.stage_output(store, job_id, keys.SEGMENT)
    return {"ok": True, "job": job_id, "cutout": queries.stage_output(store, job_id, keys.MATTE)["cutout"],
            "backend": seg["backend"], "confidence": seg["confidence"], "notes": seg["notes"],
            "advice": job_advice(store, job_id, seg)}
