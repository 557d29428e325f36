"""Stages from cut-out to exported shots: describe → prompt → generate ×N →
preserve ×N → color ×N → export ×N → select."""

from __future__ import annotations

import numpy as np
from PIL import Image

from studio.imaging.compose import Box, crop_to_alpha, eroded, paste_layer, resize_product
from studio.pipeline.stage import Stage, StageContext


def describe(ctx: StageContext, cutout: Image.Image) -> dict:
    from studio.imaging.color_names import dominant_colors

    rgba = np.asarray(cutout)
    colors = dominant_colors(rgba[..., :3], rgba[..., 3].astype(np.float32) / 255.0)
    return {"category": ctx.params.get("category") or "product", "colors": colors}


def prompt(ctx: StageContext, category: str, colors: list) -> dict:
    from studio.prompting import ProductDescription, build_prompt
    from studio.scenes import get_scene

    scene = get_scene(ctx.params["scene"])
    desc = ProductDescription(category, [c["name"] for c in colors])
    return build_prompt(scene, desc, ctx.params.get("extra_prompt", ""))


def generate(ctx: StageContext, cutout: Image.Image, prompt: str) -> dict:
    from studio.models.generate_classic import generate as classic
    from studio.scenes import get_scene

    engine = ctx.params.get("engine", "classic")
    if engine != "classic":
        raise ValueError(f"engine {engine!r} is not available in this build; use classic")
    seed = int(ctx.params.get("seed", 0)) + int(ctx.params["index"])
    g = classic(get_scene(ctx.params["scene"]), cutout, seed, ctx.params.get("long_side"))
    ctx.store.conn.execute(
        "INSERT INTO variants(job_id, idx, seed, data) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(job_id, idx) DO UPDATE SET seed = excluded.seed, data = excluded.data",
        (ctx.job_id, ctx.params["index"], seed, f'{{"engine": "{engine}", "light_direction": {g.light_direction}}}'))
    return {"image": g.image, "box": g.box.as_dict(), "seed": seed}


def preserve(ctx: StageContext, image: Image.Image, cutout: Image.Image, box: dict) -> dict:
    from studio.imaging.preserve import preserve as put_back

    return {"image": put_back(image, cutout, Box(**box))}


def _placed(cutout: Image.Image, box: dict, shape: tuple[int, int]) -> np.ndarray:
    return paste_layer(shape, resize_product(crop_to_alpha(cutout), Box(**box)), Box(**box))


def color(ctx: StageContext, image: Image.Image, cutout: Image.Image, box: dict) -> dict:
    from studio.imaging.color import Adjustments, correct

    rgb = np.asarray(image)
    layer = _placed(cutout, box, rgb.shape[:2])
    original = np.clip(layer[..., :3] * 255 + 0.5, 0, 255).astype(np.uint8)
    out, report = correct(rgb, Adjustments.from_dict(ctx.params.get("adjustments")), eroded(layer[..., 3], 2), original)
    return {"image": Image.fromarray(out), "report": report}


def export(ctx: StageContext, image: Image.Image, cutout: Image.Image, box: dict) -> dict:
    from studio.imaging.export import export as encode_for
    from studio.imaging.export import get_preset

    rgb = np.asarray(image)
    preset = get_preset(ctx.params.get("preset", "shopify"), ctx.params.get("format"), ctx.params.get("quality"))
    data, report = encode_for(rgb, _placed(cutout, box, rgb.shape[:2])[..., 3], preset)
    return {"file": data, "format": preset.format, "compliance": report}


def select(ctx: StageContext, **variants) -> dict:
    """The proposed variant: the person's choice if given, else the first that passes
    compliance (no scorer is installed in this build to rank them further)."""
    n = len([k for k in variants if k.startswith("compliance")])
    ok = [i for i in range(n) if variants[f"compliance{i}"]["ok"]]
    choice = ctx.params.get("choice")
    if choice is not None and 0 <= int(choice) < n:
        return {"chosen": int(choice), "reason": "chosen by you"}
    if ok:
        return {"chosen": ok[0], "reason": "first variant that passes compliance (unscored)"}
    return {"chosen": 0, "reason": "no variant passes compliance"}


STAGES = [
    Stage("describe", describe, inputs=("cutout",), outputs=("category", "colors")),
    Stage("prompt", prompt, inputs=("category", "colors"), outputs=("prompt", "negative")),
    Stage("generate", generate, inputs=("cutout", "prompt"), outputs=("image", "box", "seed")),
    Stage("preserve", preserve, inputs=("image", "cutout", "box"), outputs=("image",)),
    Stage("color", color, inputs=("image", "cutout", "box"), outputs=("image", "report")),
    Stage("export", export, inputs=("image", "cutout", "box"), outputs=("file", "format", "compliance")),
    Stage("select", select, outputs=("chosen", "reason")),
]
