"""The Studio tab's interactive flow of one photo, step by step (each step is also a
named API endpoint): cut out → touch up → make variants in a scene → choose one →
colour → export. Every step is a job in the engine (through the app layer), so the
history, retry and replay work for what the page did exactly as for the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from studio.app import touchup
from studio.app.context import Event, Store, open_store
from studio.app.cutout import submit_cutout
from studio.app.shoot import WORK_SIDE, run_to_end, submit_shoot, variants_view
from studio.imaging.color import Adjustments, apply_adjustments

PREVIEW_SIDE = 1024  # live previews are drawn at this size; the export uses the full image


def cut_out(photo: Path, backend: str = "auto", on_event: Callable[[Event], None] | None = None,
            store: Store | None = None) -> dict:
    """Cut the product out of a photo. Raises IngestError for a file that can't be used."""
    store = store or open_store()
    # the shoot reuses this cut-out, so it is made at the size shoots work at
    job_id = submit_cutout(store, photo, backend, work_side=WORK_SIDE)
    run_to_end(store, job_id, on_event)
    return touchup.cutout_view(store, job_id)


def undo(store: Store, job_id: str) -> dict:
    touchup.undo(store, job_id)
    return touchup.cutout_view(store, job_id)


def reset(store: Store, job_id: str) -> dict:
    touchup.reset(store, job_id)
    return touchup.cutout_view(store, job_id)


def make_variants(store: Store, cutout_job: str, *, scene: str, engine: str = "classic", variants: int = 4,
                  extra_prompt: str = "", preset: str | None = None, upscale: str | None = None,
                  light_match: float | None = None, reference: Path | None = None,
                  on_event: Callable[[Event], None] | None = None) -> dict:
    """Shoot a touched-up cut-out in a scene: the shoot job reuses the cut-out job's
    photo and segmentation and carries its touch-up edits."""
    job_id = submit_shoot(store, None, scene=scene, engine=engine, variants=variants, extra_prompt=extra_prompt,
                          preset=preset, reuse_from=cutout_job, upscale=upscale, light_match=light_match,
                          reference=reference)
    run_to_end(store, job_id, on_event)
    return variants_view(store, job_id)


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
