"""Service: a whole shoot through the engine (used by `studio shoot` and the UI)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from studio.config import load_settings
from studio.cutout import stage_output
from studio.imaging.io import IngestError, ingest_file
from studio.pipeline import jobs
from studio.scenes import get_scene
from studio.services import open_store, registry
from studio.store import Store

EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# The largest export is 2048 px with the product at most ~85% of it: 2560 px of photo is plenty.
WORK_SIDE = 2560


def resolve_engine(engine: str) -> str:
    """`auto`: local FLUX when it is installed and a CUDA GPU is present (unless the
    cloud policy is cloud-only); else the cloud when a key is set and the policy allows
    it; else the classic compositor."""
    if engine != "auto":
        return engine
    from studio.models.generate_cloud import load_key

    settings = load_settings()
    has_key = bool(load_key(settings.cloud_provider))
    if settings.cloud_policy == "cloud-only" and has_key:
        return "cloud"
    from studio.models.registry import locate

    has_flux, has_sdxl = locate("flux-fill-dev") is not None, locate("sdxl-inpaint") is not None
    if settings.cloud_policy != "cloud-only" and (has_flux or has_sdxl):
        from studio.models.devices import detect_card  # imports torch: only when a local model exists

        card = detect_card()
        if card is not None:
            # under 12 GB FLUX only runs streamed from system memory: the lighter model is the better choice
            if has_sdxl and (card.total_gb < 12 or not has_flux):
                return "sdxl"
            if has_flux:
                return "flux"
    if settings.cloud_policy == "cloud-fallback" and has_key:
        return "cloud"
    return "classic"


def submit_shoot(store: Store, photo: Path | None, *, scene: str | None = None, variants: int | None = None,
                 engine: str = "classic", preset: str | None = None, seed: int = 0, segmenter: str = "auto",
                 extra_prompt: str = "", adjustments: dict | None = None, long_side: int | None = None,
                 steps: int | None = None, guidance: float | None = None, max_sequence_length: int = 512,
                 allow_cpu_fallback: bool = False, title: str | None = None, batch_id: str | None = None,
                 reuse_from: str | None = None, then: Callable[[str], None] | None = None) -> str:
    """Queue a shoot of `photo`; or, with `reuse_from` (a cutout job), of that job's
    photo, taking its segmentation as done and carrying its touch-up edits.
    `then(job_id)` runs in the transaction that creates the job: a record linking to
    it (a batch item) exists exactly when the job does, whenever the process dies."""
    settings = load_settings()
    engine = resolve_engine(engine)
    scene = scene or settings.default_scene
    get_scene(scene)  # a clear error for an unknown scene before anything runs
    reuse, inputs = {}, {}
    if reuse_from:
        from studio import touchup

        src = jobs.job_params(store, reuse_from)
        digest, name, segmenter = src["photo"], src["photo_name"], src.get("segmenter", segmenter)
        reuse = {r["key"]: dict(r) for r in store.query(
            "SELECT * FROM stage_runs WHERE job_id = ? AND key IN ('ingest', 'segment') AND status = 'done'",
            (reuse_from,))}
        inputs = {touchup.KEY: touchup.edits(store, reuse_from)}
    elif photo is None:
        raise ValueError("a shoot needs a photo or a cut-out job to start from")
    else:
        img = ingest_file(photo, settings.limits)
        digest, name = store.put_artifact(img.original, "bin"), photo.name
    params = {"photo": digest, "photo_name": name, "segmenter": segmenter,
              "scene": scene, "variants": variants or settings.default_variants, "engine": engine,
              "preset": preset or settings.default_preset, "seed": seed, "extra_prompt": extra_prompt,
              "adjustments": adjustments or {}, "long_side": long_side, "work_side": WORK_SIDE,
              "steps": steps or settings.default_steps, "guidance": guidance or settings.default_guidance,
              "max_sequence_length": max_sequence_length, "cloud_provider": settings.cloud_provider,
              # with no GPU, may a failed cloud call fall back to a local model on the CPU (minutes)?
              "allow_cpu_fallback": allow_cpu_fallback,
              "clip_model": settings.clip_model, "fidelity_threshold": settings.fidelity_threshold,
              "gate_attempts": settings.gate_attempts}
    if engine == "flux" and settings.vram_plan != "auto":
        params["plan"] = settings.vram_plan  # chosen in the Models tab; "auto" fits the plan to the card
    with store.tx():
        job = jobs.submit(store, registry(), "shoot", params, title=title or name, batch_id=batch_id, reuse=reuse,
                          inputs=inputs)
        if then is not None:
            then(job)
    return job


def shoot_summary(store: Store, job_id: str) -> dict:
    job = jobs.get_job(store, job_id)
    from studio.store import loads

    params = loads(job["params"])
    out: dict = {"job": job_id, "status": job["status"], "photo": params["photo_name"], "scene": params["scene"],
                 "engine": params["engine"], "preset": params["preset"]}
    from studio.review import waiting_for_review

    if job["status"] == "waiting" and waiting_for_review(store, job_id):
        out["error"] = "no variant passed the fidelity check: waiting in the review queue (studio review)"
        return out
    if job["status"] != "done":
        out["error"] = f"{job['failed_stage']}: {job['error']}"
        return out
    seg = stage_output(store, job_id, "segment")
    sel = stage_output(store, job_id, "select")
    out.update(cutout={"backend": seg["backend"], "confidence": seg["confidence"]}, chosen=sel["chosen"],
               reason=sel["reason"], notes=sel["notes"], variants=[])
    ranking = {r["index"]: r for r in sel["ranking"]}
    for i in range(params["variants"]):
        gen = stage_output(store, job_id, f"generate[{i}]")
        col = stage_output(store, job_id, f"color[{i}]")["report"]
        exp = stage_output(store, job_id, f"export[{i}]")
        r = ranking[i]
        out["variants"].append({"index": i, "seed": gen["seed"], "rank": r["rank"],
                                "scores": {"fidelity": r["fidelity"], "alignment": r["alignment"],
                                           "aesthetic": r["aesthetic"]},
                                "gate": {"passed": r["passed"], "reason": r["reason"]},
                                "delta_e": col.get("delta_e_after"), "compliance": exp["compliance"]})
    return out


def write_outputs(store: Store, job_id: str, out_dir: Path) -> list[str]:
    """The chosen shot as <photo>_<scene>.<ext>, the others as <photo>_<scene>_alt<N>.<ext>."""
    summary = shoot_summary(store, job_id)
    stem = Path(summary["photo"]).stem
    written = []
    for v in summary["variants"]:
        exp = stage_output(store, job_id, f"export[{v['index']}]")
        suffix = "" if v["index"] == summary["chosen"] else f"_alt{v['index']}"
        path = out_dir / f"{stem}_{summary['scene']}{suffix}.{EXT[exp['format']]}"
        path.write_bytes(exp["file"])
        written.append(str(path))
    return written


def shoot_photos(photos: list[Path], out_dir: Path, **options) -> list[dict]:
    store = open_store()
    out_dir.mkdir(parents=True, exist_ok=True)
    results, queued = [], []
    for photo in photos:
        try:
            queued.append(submit_shoot(store, photo, **options))
        except IngestError as exc:
            results.append({"photo": str(photo), "status": "rejected", "error": exc.message})
    if queued:
        from studio.cli_progress import run_with_bar

        run_with_bar(queued)
    for job_id in queued:
        summary = shoot_summary(store, job_id)
        if summary["status"] == "done":
            summary["files"] = write_outputs(store, job_id, out_dir)
        results.append(summary)
    return results
