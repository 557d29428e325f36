"""Past jobs and what a person does with one: the History tab, `studio history`,
`show`, `retry`, `replay`, `cancel`, and deleting a job."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from studio.app.context import Ledger, stages
from studio.pipeline import jobs, queries
from studio.pipeline.codec import decode
from studio.store import Store, loads


def list_jobs(store: Store, limit: int = 50, status: str | None = None, batch_id: str | None = None) -> list[dict]:
    return [_job_summary(r) for r in queries.list_jobs(store, limit, status, batch_id)]


def _job_summary(job: dict) -> dict:
    params = loads(job["params"])
    wall = (job["finished_at"] - job["created_at"]) if job["finished_at"] else None
    return {
        "id": job["id"], "status": job["status"], "recipe": job["recipe"], "title": job["title"],
        "scene": params.get("scene"), "engine": params.get("engine"), "created_at": job["created_at"],
        "finished_at": job["finished_at"], "wall_s": wall, "cost": job["cost"], "parent_id": job["parent_id"],
        "batch_id": job["batch_id"], "error": job["error"], "failed_stage": job["failed_stage"],
        "failed_attempts": job["failed_attempts"],
        "node": job.get("node"),  # the cluster worker that ran it; None: this machine
    }


def dead_letter(store: Store, limit: int = 100) -> list[dict]:
    """Jobs that failed after their retries ran out, newest first."""
    return list_jobs(store, limit=limit, status="failed")


def made_line(made: dict | None) -> str:
    """A variant's `made` record in words: "2048×2048 frame, rendered at frame size,
    product ×0.41 from the photo" (an empty string for shots from before it existed)."""
    if not made:
        return ""
    plate = made["plate"]
    if made.get("upscaler"):
        plate += f", enlarged ×{made['upscale_factor']} by {made['upscaler']}"
    product = f"product ×{made['product_scale']} from the photo" if made.get("product_scale") else ""
    return ", ".join(x for x in (f"{made['frame']} frame", plate, product, made.get("product", "")) if x)


def job_detail(store: Store, job_id: str) -> dict:
    job = jobs.get_job(store, job_id)
    out = _job_summary(job)
    out["params"] = {k: v for k, v in loads(job["params"]).items() if not k.startswith("_")}
    out["stages"] = [
        {"key": r["key"], "stage": r["stage"], "status": r["status"], "attempt": r["attempt"],
         "duration_s": r["duration_s"], "error": r["error"], "reused_from": r["reused_from"],
         "waiting_for": r["waiting_for"], "history": loads(r["history"]), "outputs": loads(r["outputs"])}
        for r in queries.stage_runs(store, job["id"])
    ]
    out["variants"] = [{"index": r["idx"], "seed": r["seed"], "artifact": r["artifact"], **loads(r["data"])}
                       for r in queries.variant_rows(store, job["id"])]
    out["ledger"] = queries.ledger_rows(store, job["id"])
    return out


def stage_images(store: Store, detail: dict, stages_shown: tuple[str, ...] = ("matte", "color", "preserve")
                 ) -> list[tuple[Image.Image, str]]:
    """(image, node key) of the finished runs of these stages in a `job_detail`."""
    images = kept_photos(store, detail)
    for s in detail["stages"]:
        if s["status"] == "done" and s["stage"] in stages_shown:
            out = decode(store, s["outputs"])
            img = out.get("cutout") or out.get("image")
            if img is not None:
                images.append((img, s["key"]))
    return images


def kept_photos(store: Store, detail: dict) -> list[tuple[Image.Image, str]]:
    """The backdrop and reference photos a shoot keeps, captioned so."""
    from studio.app.backdrops import decode

    out = []
    for name in ("backdrop", "reference"):
        digest = detail["params"].get(name)
        if digest:
            out.append((decode(store.artifacts.read_bytes(digest), name), f"{name} photo"))
    return out


def get_job(store: Store, job_id: str) -> dict:
    """The job's row (a unique prefix of its id is enough); JobError when there is none."""
    return jobs.get_job(store, job_id)


def job_params(store: Store, job_id: str) -> dict:
    return jobs.job_params(store, job_id)


def retry(store: Store, job_id: str, ledger: Ledger | None = None) -> str:
    job = jobs.get_job(store, job_id)
    jobs.retry(store, job["id"], ledger)
    return job["id"]


def replay(store: Store, job_id: str, from_stage: str, overrides: dict | None = None,
           ledger: Ledger | None = None) -> str:
    """A new job from `from_stage` of `job_id` with `overrides`, checked as a new shoot's
    parameters are (ValueError saying what is wrong); changed pictures as `replay_photos`
    says."""
    job = jobs.get_job(store, job_id)
    if overrides and job["recipe"] == "shoot":
        from studio.app.shoot import check_replay

        overrides = replay_photos(store, check_replay(loads(job["params"]), overrides))
    return jobs.replay(store, stages(), job["id"], from_stage, overrides, ledger)


DIGEST = re.compile(r"[0-9a-f]{64}")
PHOTO_KEYS = ("photo", "backdrop")  # stored photos a replay may swap, named by digest (`studio show` lists them)


def replay_photos(store: Store, overrides: dict) -> dict:
    """A replay's (or a send-back's) changed pictures made into what a job keeps.

    `photo` and `backdrop` name a photo already stored by its digest (the CLI: its user
    owns every job here), or are a file the shell received itself (a Path: the page's
    uploads), kept as a new shoot keeps it; the page never passes a digest on, and the job
    API has no replay. `reference` is the path of a photo, or nothing to drop it; a new
    `scene` brings its backdrop photo."""
    from studio.app.backdrops import backdrop_bytes, reference_bytes
    from studio.scenes import get_scene

    out = dict(overrides)
    for name in PHOTO_KEYS:
        if name not in overrides:
            continue
        value = overrides[name]
        if isinstance(value, Path):
            out.update(_kept_file(store, name, value))
        elif value is None and name == "backdrop":
            out[name] = None  # the shoot on the scene alone
        elif not (isinstance(value, str) and DIGEST.fullmatch(value) and store.artifacts.find(value) is not None):
            raise ValueError(f"{name}: no stored photo {str(value)[:80]!r}; name one by its digest (`studio show "
                             f"JOB` lists a job's {name})")
    if "reference" in overrides:
        ref = overrides["reference"]
        out["reference"] = store.put_artifact(reference_bytes(Path(ref)), "bin") if ref else None
    if "scene" in overrides:
        data = backdrop_bytes(get_scene(overrides["scene"]))
        out["backdrop"] = store.put_artifact(data, "bin") if data is not None else None
    return out


def _kept_file(store: Store, name: str, path: Path) -> dict:
    if name == "backdrop":
        from studio.app.backdrops import backdrop_for_photo

        return {"backdrop": store.put_artifact(backdrop_for_photo(path, path.name).jpeg, "bin")}
    from studio.config import load_settings
    from studio.imaging.io import ingest_file

    image = ingest_file(path, load_settings().limits, check_only=True)  # the ingest stage decodes it for real
    return {"photo": store.put_artifact(image.original, "bin"), "photo_name": path.name}


def cancel(store: Store, job_id: str, ledger: Ledger | None = None) -> str:
    return jobs.cancel(store, job_id, ledger)


def delete(store: Store, job_id: str) -> None:
    jobs.delete(store, job_id)


def stages_left(store: Store, job_ids: list[str]) -> int:
    """Stage runs of these jobs that have not finished (a progress bar's total)."""
    return queries.stages_left(store, job_ids)


def stages_to_run(store: Store, job_id: str) -> int:
    """Stage runs the job runs itself, not reused from another job (a progress bar's total)."""
    return queries.stages_to_run(store, job_id)
