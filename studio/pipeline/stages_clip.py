"""The clip stage: after export, a short video of the chosen (or a named) variant."""

from __future__ import annotations

import numpy as np
from PIL import Image

from studio.imaging.compose import placed_alpha
from studio.pipeline.stage import Rejected, RetryPolicy, Stage, StageContext

MAX_ATTEMPTS = 2


def clip(ctx: StageContext, chosen: int, cutout: Image.Image, prompt: str = "", **variants) -> dict:
    from studio.clips.make import make_clip
    from studio.scenes import get_scene

    settings = dict(ctx.params["clip"])
    index = chosen if settings.get("variant") is None else int(settings["variant"])
    if f"image{index}" not in variants:
        raise ValueError(f"the shoot has no variant {index}")
    settings["variant"] = index
    laid = _laid_out_for_clip(ctx, index, variants.get(f"seed{index}"), cutout, settings)
    if laid is not None:
        rgb, alpha = laid
        settings["layout"] = "the variant laid out again for the clip's frame"
    else:
        rgb = np.asarray(variants[f"image{index}"].convert("RGB"))
        alpha = placed_alpha(cutout, variants[f"box{index}"], rgb.shape[:2])
    direction = get_scene(ctx.params["scene"]).lighting.direction
    # a generated clip whose product drifted is made again with the next seed, then flagged
    settings |= {"seed": int(settings.get("seed", 0)) + ctx.attempt - 1,
                 "fidelity_threshold": ctx.params.get("fidelity_threshold", 0.75)}
    out = make_clip(rgb, alpha, settings, direction=direction, workdir=ctx.store.root / "tmp",
                    check_cancelled=ctx.check_cancelled, progress=ctx.progress, prompt=prompt)
    if out["product"].get("ok") is False and ctx.attempt < MAX_ATTEMPTS:
        raise Rejected(f"the product drifted in frames {out['product']['drift_frames'][:8]}", out["product"])
    return {**out, "settings": settings}


def _laid_out_for_clip(ctx: StageContext, index: int, seed: int | None, cutout: Image.Image,
                       settings: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Frame first: a classic variant made again for the clip's frame (its 9:16 or 16:9)
    from the same choices (scene, seed, spot, light), so the clip crops nothing of a frame
    made for another aspect. None where that cannot be: a model's variant (its plate is
    painted once), a shot from before clips knew their variant's seed, or colour work on
    the whole image that the clip then shows as it was done."""
    from studio.imaging.color import Adjustments
    from studio.imaging.layout import Frame
    from studio.pipeline.queries import variant_data
    from studio.pipeline.shot_inputs import kept_image, shot_scene
    from studio.pipeline.stages_shoot import _upscale_setting, engine_of

    p = ctx.params
    engine = variant_data(ctx.store, ctx.job_id, index).get("engine") or engine_of(p)
    if seed is None or engine != "classic" or Adjustments.from_dict(p.get("adjustments")).changes_whole_image():
        return None
    from studio.models.generate_classic import compose

    scene = shot_scene(p, Frame(int(settings["width"]), int(settings["height"])))
    backdrop = kept_image(ctx.store, p.get("backdrop"), "backdrop")
    photo = np.asarray(backdrop.convert("RGB")) if backdrop is not None else None
    view = p.get("view") if p.get("view") in ("side", "top") else None
    c = compose(scene, cutout, int(seed), None, view, photo, float(p.get("light_match") or 0.0), _upscale_setting(p))
    rgb = np.asarray(c.image)
    return rgb, placed_alpha(cutout, c.box, rgb.shape[:2])


STAGES = [
    Stage("clip", clip, outputs=("video", "preview", "report", "product", "settings"),
          retry=RetryPolicy(max_attempts=MAX_ATTEMPTS)),
]
