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


STAGES = [
    Stage("clip", clip, outputs=("video", "preview", "report", "product", "settings"),
          retry=RetryPolicy(max_attempts=MAX_ATTEMPTS)),
]
