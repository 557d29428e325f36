"""Service: the interactive flow of one photo, step by step (used by the Studio tab;
each step is also a named API endpoint). Cut out → touch up → shoot in a scene →
choose a variant → colour → export. Every step is a job in the engine, so the
history, retry and replay work for what the UI did exactly as for the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from studio import touchup
from studio.config import data_dir, load_settings
from studio.cutout import stage_output, submit_cutout
from studio.imaging.color import Adjustments, apply_adjustments
from studio.pipeline import jobs
from studio.pipeline.events import Event
from studio.services import ledger, open_store, registry, run_jobs
from studio.shoot import EXT, WORK_SIDE, resolve_engine, shoot_summary, submit_shoot
from studio.store import Store

PREVIEW_SIDE = 1024  # live previews are drawn at this size; the export uses the full image


class FlowError(ValueError):
    """A step that cannot go on, with a message for people."""


def _run(store: Store, job_id: str, on_event: Callable[[Event], None] | None) -> dict:
    run_jobs([job_id], on_event=on_event, store=store)
    job = jobs.get_job(store, job_id)
    if job["status"] == "failed":
        raise FlowError(f"{job['failed_stage']} failed: {job['error']} (the job {job_id} keeps its artifacts; "
                        "see History)")
    if job["status"] == "cancelled":
        raise FlowError("cancelled")
    return job


# -- cut-out and touch-up ------------------------------------------------------

def cut_out(photo: Path, backend: str = "auto", on_event: Callable[[Event], None] | None = None,
            store: Store | None = None) -> dict:
    """Cut the product out of a photo. Raises IngestError for a file that can't be used."""
    store = store or open_store()
    # the shoot reuses this cut-out, so it is made at the size shoots work at
    job_id = submit_cutout(store, photo, backend, work_side=WORK_SIDE)
    _run(store, job_id, on_event)
    return cutout_view(store, job_id)


def cutout_view(store: Store, job_id: str) -> dict:
    """The cut-out of a cutout job with its touch-up edits applied."""
    seg = stage_output(store, job_id, "segment")
    image = stage_output(store, job_id, "ingest")["image"]
    base = np.asarray(seg["alpha"], np.float32) / 255.0
    alpha = touchup.preview(store, job_id, base)
    rgba = np.dstack([np.asarray(image.convert("RGB")), (alpha * 255 + 0.5).astype(np.uint8)])
    return {"job": job_id, "image": image, "alpha": alpha, "cutout": Image.fromarray(rgba, "RGBA"),
            "backend": seg["backend"], "confidence": float(seg["confidence"]), "notes": list(seg.get("notes", [])),
            "edits": len(touchup.edits(store, job_id))}


def touch_up(store: Store, job_id: str, *, add: np.ndarray | None = None, erase: np.ndarray | None = None,
             grow_px: int = 0, feather_px: float = 0.0, fill_holes: bool = False) -> dict:
    """Add one touch-up step (strokes, grow/shrink, feather or fill holes) to a cut-out;
    each is one undo step."""
    if add is not None or erase is not None:
        touchup.add_strokes(store, job_id, add, erase)
    if grow_px:
        touchup.add_edit(store, job_id, {"op": "grow", "px": int(grow_px)})
    if feather_px:
        touchup.add_edit(store, job_id, {"op": "feather", "px": float(feather_px)})
    if fill_holes:
        touchup.add_edit(store, job_id, {"op": "fill_holes"})
    return cutout_view(store, job_id)


def undo(store: Store, job_id: str) -> dict:
    touchup.undo(store, job_id)
    return cutout_view(store, job_id)


def reset(store: Store, job_id: str) -> dict:
    touchup.reset(store, job_id)
    return cutout_view(store, job_id)


# -- shoot ---------------------------------------------------------------------

def plan_note(engine: str, variants: int) -> dict:
    """What a shoot with this engine would use: the engine `auto` resolves to, the
    VRAM plan for a local model, and the most the cloud could charge."""
    settings = load_settings()
    resolved = resolve_engine(engine)
    out: dict = {"engine": resolved, "plan": None, "cost": 0.0}
    if resolved in ("flux", "sdxl"):
        from studio.models.devices import BY_ID, choose_plan, detect_card

        card = detect_card()
        plan = BY_ID.get(settings.vram_plan) or choose_plan(card)  # "auto" fits the plan to the card
        out["plan"] = {"card": f"{card.name}, {card.total_gb:.0f} GB" if card else "no CUDA GPU", **plan.as_dict()}
    elif resolved == "cloud":
        from studio.models.generate_cloud import price

        each = price(settings.cloud_provider)
        # a variant the gate rejects is generated again, up to gate_attempts times
        out["cost"] = round(each * variants, 4)
        out["cost_max"] = round(each * variants * settings.gate_attempts, 4)
    return out


def shoot(store: Store, cutout_job: str, *, scene: str, engine: str = "classic", variants: int = 4,
          extra_prompt: str = "", preset: str | None = None, on_event: Callable[[Event], None] | None = None) -> dict:
    """Shoot a touched-up cut-out in a scene: the shoot job reuses the cut-out job's
    photo and segmentation and carries its touch-up edits."""
    job_id = submit_shoot(store, None, scene=scene, engine=engine, variants=variants, extra_prompt=extra_prompt,
                          preset=preset, reuse_from=cutout_job)
    _run(store, job_id, on_event)
    return results(store, job_id)


def results(store: Store, job_id: str) -> dict:
    """A shoot's variants (images, scores, verdicts), best first, and its summary."""
    summary = shoot_summary(store, job_id)
    if summary.get("error") and "variants" not in summary:
        from studio.review import waiting_for_review

        if not waiting_for_review(store, job_id):
            raise FlowError(summary["error"])
    params = jobs.job_params(store, job_id)
    by_index = {v["index"]: v for v in summary.get("variants", [])}
    original = stage_output(store, job_id, "matte")["cutout"]
    shots = []
    for i in range(params["variants"]):
        placed, image = compare_pair(store, job_id, i, original)
        shots.append({"index": i, "image": image, "original": placed, **by_index.get(i, {})})
    shots.sort(key=lambda s: s.get("rank", 99))
    return {"job": job_id, "summary": summary, "shots": shots, "chosen": summary.get("chosen"),
            "original": original}


def variant_image(store: Store, job_id: str, index: int) -> Image.Image:
    """A variant after colour, or (gated out, waiting for review) as preserved."""
    try:
        return stage_output(store, job_id, f"color[{index}]")["image"]
    except KeyError:
        return stage_output(store, job_id, f"preserve[{index}]")["image"]


def compare_pair(store: Store, job_id: str, index: int,
                 cutout: Image.Image | None = None) -> tuple[Image.Image, Image.Image]:
    """(the original product where the generator was asked to put it, on white; the
    variant): laid over each other they show what was preserved. `cutout` is the
    job's matte cut-out when the caller already has it."""
    from studio.pipeline.stages_score import placed_layer

    image = variant_image(store, job_id, index)
    cutout = cutout or stage_output(store, job_id, "matte")["cutout"]
    box = stage_output(store, job_id, f"generate[{index}]")["box"]
    layer = placed_layer(cutout, box, (image.height, image.width))  # float RGBA in 0..1
    a = layer[..., 3:4]
    placed = Image.fromarray(np.clip((layer[..., :3] * a + (1 - a)) * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
    return placed, image


# -- colour and export ---------------------------------------------------------

def preview_color(image: Image.Image, adjustments: dict) -> Image.Image:
    """A quick look at manual adjustments on a reduced copy (the export re-runs the
    full colour stage, product match included)."""
    small = image.convert("RGB")
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    rgb = np.asarray(small)
    adj = Adjustments.from_dict(adjustments)
    background = None
    if adj.auto_white_balance:
        background = np.ones(rgb.shape[:2], bool)
    return Image.fromarray(apply_adjustments(rgb, adj, background))


def export_choice(store: Store, job_id: str, variant: int, *, adjustments: dict | None = None,
                  preset: str | None = None, on_event: Callable[[Event], None] | None = None) -> dict:
    """Finish the chosen variant: replay its colour and export stages with these
    adjustments and preset (a new job in the history, the shoot left as it was) and
    write the file under the data dir's exports folder."""
    overrides: dict = {"choice": int(variant)}
    if adjustments is not None:
        overrides["adjustments"] = Adjustments.from_dict(adjustments).as_dict()
    if preset:
        overrides["preset"] = preset
    new = jobs.replay(store, registry(), job_id, f"color[{int(variant)}]", overrides, ledger=ledger(store))
    _run(store, new, on_event)
    out = stage_output(store, new, f"export[{int(variant)}]")
    color = stage_output(store, new, f"color[{int(variant)}]")
    params = jobs.job_params(store, new)
    folder = data_dir() / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(params['photo_name']).stem}_{params['scene']}_{new}.{EXT[out['format']]}"
    path.write_bytes(out["file"])
    return {"job": new, "path": str(path), "compliance": out["compliance"], "format": out["format"],
            "delta_e": color["report"].get("delta_e_after"), "image": color["image"]}
