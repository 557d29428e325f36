"""Stages from cut-out to exported shots: describe → prompt → generate ×N →
preserve ×N → color ×N → export ×N → select."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from studio.imaging.compose import Box, crop_to_alpha, eroded, paste_layer, resize_product
from studio.pipeline.stage import RetryPolicy, Stage, StageContext


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


def _seed(ctx: StageContext) -> int:
    return int(ctx.params.get("seed", 0)) + int(ctx.params["index"])


def _record_variant(ctx: StageContext, seed: int, data: dict) -> None:
    ctx.store.conn.execute(
        "INSERT INTO variants(job_id, idx, seed, data) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(job_id, idx) DO UPDATE SET seed = excluded.seed, data = excluded.data",
        (ctx.job_id, ctx.params["index"], seed, json.dumps(data)))


def generate(ctx: StageContext, cutout: Image.Image, prompt: str) -> dict:
    from studio.models.generate_classic import generate as classic
    from studio.scenes import get_scene

    seed = _seed(ctx)
    g = classic(get_scene(ctx.params["scene"]), cutout, seed, ctx.params.get("long_side"))
    _record_variant(ctx, seed, {"engine": "classic", "light_direction": g.light_direction})
    return {"image": g.image, "box": g.box.as_dict(), "seed": seed}


class OutOfVram(RuntimeError):
    def __init__(self, message: str, next_plan: str | None):
        super().__init__(message)
        self.next_plan = next_plan


def _handed_off(ctx: StageContext, own: str, cutout: Image.Image, prompt: str, negative: str = ""):
    """A retry under the cloud-fallback policy may move a variant to the other engine."""
    target = ctx.params.get("engine_override")
    if not target or target == own:
        return None
    if target == "sdxl":
        return generate_sdxl(ctx, cutout, prompt, negative, _handoff=False)
    return {"flux": generate_flux, "cloud": generate_cloud}[target](ctx, cutout, prompt, _handoff=False)


def generate_flux(ctx: StageContext, cutout: Image.Image, prompt: str, _handoff: bool = True) -> dict:
    import torch

    if _handoff and (other := _handed_off(ctx, "flux", cutout, prompt)) is not None:
        return other

    from studio.models import generate_flux as flux
    from studio.models.devices import BY_ID, PlanMemory, detect_card
    from studio.models.registry import BackendUnavailable, locate
    from studio.scenes import get_scene

    path = locate("flux-fill-dev")
    if path is None:
        raise BackendUnavailable("FLUX.1 Fill [dev] is not installed (studio models download flux-fill-dev)")
    scene = get_scene(ctx.params["scene"])
    card, memory = detect_card(), PlanMemory()
    w, h = scene.canvas_size(ctx.params.get("long_side"))
    plan = BY_ID[ctx.params["plan"]] if ctx.params.get("plan") else memory.plan_for(card, w * h)
    seed = _seed(ctx)
    steps = int(ctx.params.get("steps") or flux.DEFAULT_STEPS)
    try:
        image, box = flux.generate(
            path, plan, "cuda" if card else "cpu", scene, cutout, prompt, seed, steps=steps,
            guidance=float(ctx.params.get("guidance") or flux.DEFAULT_GUIDANCE), long_side=ctx.params.get("long_side"),
            max_sequence_length=int(ctx.params.get("max_sequence_length", 512)),
            on_step=lambda i, n: ctx.progress(i / n, f"step {i}/{n}"), cancelled=ctx.cancelled)
    except torch.cuda.OutOfMemoryError as exc:
        flux.OWNER.release()
        nxt = memory.remember_oom(card, plan) if card else None
        raise OutOfVram(f"out of GPU memory on plan {plan.id}", nxt.id if nxt else None) from exc
    ctx.check_cancelled()
    _record_variant(ctx, seed, {"engine": "flux", "plan": plan.id, "steps": steps})
    return {"image": image, "box": box.as_dict(), "seed": seed}


def generate_sdxl(ctx: StageContext, cutout: Image.Image, prompt: str, negative: str, _handoff: bool = True) -> dict:
    if _handoff and (other := _handed_off(ctx, "sdxl", cutout, prompt, negative)) is not None:
        return other
    from studio.models import generate_sdxl as sdxl
    from studio.models.devices import detect_card
    from studio.models.registry import BackendUnavailable, locate
    from studio.scenes import get_scene

    path = locate("sdxl-inpaint")
    if path is None:
        raise BackendUnavailable("SDXL inpainting is not installed (studio models download sdxl-inpaint)")
    card = detect_card()
    plan = sdxl.sdxl_plan(card)
    seed = _seed(ctx)
    steps = int(ctx.params.get("steps") or sdxl.DEFAULT_STEPS)
    image, box = sdxl.generate(path, plan, "cuda" if card else "cpu", get_scene(ctx.params["scene"]), cutout, prompt,
                               negative, seed, steps=steps, long_side=ctx.params.get("long_side"),
                               on_step=lambda i, n: ctx.progress(i / n, f"step {i}/{n}"), cancelled=ctx.cancelled)
    ctx.check_cancelled()
    _record_variant(ctx, seed, {"engine": "sdxl", "plan": plan.id, "steps": steps})
    return {"image": image, "box": box.as_dict(), "seed": seed}


def generate_cloud(ctx: StageContext, cutout: Image.Image, prompt: str, _handoff: bool = True) -> dict:
    """One variant on the user's cloud account: reserved, then charged only for an image."""
    import os

    if _handoff and (other := _handed_off(ctx, "cloud", cutout, prompt)) is not None:
        return other

    from studio.models import generate_cloud as cloud
    from studio.models.inpaint_common import fill_canvas
    from studio.scenes import get_scene

    provider = ctx.params.get("cloud_provider", "bfl")
    cost = cloud.price(provider)
    # money is set aside before the call; a failed call's hold is released when the job ends
    ctx.ledger.reserve(ctx.job_id, cost, provider, note=f"{ctx.key} attempt {ctx.attempt}")
    scene = get_scene(ctx.params["scene"])
    canvas, mask, box = fill_canvas(scene, cutout, ctx.params.get("long_side"))
    seed = _seed(ctx)
    client = cloud.BFLFillClient(cloud.load_key(provider) or "",
                                 os.environ.get("STUDIO_BFL_BASE_URL", cloud.DEFAULT_BASE_URL))
    try:
        image = client.generate(canvas, mask, prompt, seed, steps=int(ctx.params.get("cloud_steps", 50)),
                                guidance=float(ctx.params.get("guidance") or 30.0))
    finally:
        client.close()
    ctx.charge(cost, provider, note=f"{ctx.key}")
    _record_variant(ctx, seed, {"engine": "cloud", "provider": provider, "cost": cost})
    return {"image": image.resize(canvas.size), "box": box.as_dict(), "seed": seed}


def _fallback_engine(params: dict) -> str | None:
    """Under the cloud-fallback policy: local failed → the cloud (with a key); the cloud
    failed → a local model that is installed with a GPU present."""
    from studio.config import load_settings

    settings = load_settings()
    if settings.cloud_policy != "cloud-fallback":
        return None
    engine = params.get("engine_override") or params.get("engine")
    if engine in ("flux", "sdxl"):
        from studio.models.generate_cloud import load_key

        return "cloud" if load_key(params.get("cloud_provider", "bfl")) else None
    from studio.models.devices import detect_card
    from studio.models.registry import locate

    if detect_card() is None and not params.get("allow_cpu_fallback"):
        return None
    for local, model in (("flux", "flux-fill-dev"), ("sdxl", "sdxl-inpaint")):
        if locate(model) is not None:
            return local
    return None


def _adjust_generator(params: dict, attempt: int, exc: BaseException) -> dict:
    """Out of VRAM: the next tighter plan. Otherwise, per policy, the other engine."""
    if isinstance(exc, OutOfVram) and exc.next_plan:
        return {**params, "plan": exc.next_plan}
    other = _fallback_engine(params)
    return {**params, "engine_override": other} if other else params


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
    Stage("generate_flux", generate_flux, inputs=("cutout", "prompt"), outputs=("image", "box", "seed"), device="gpu",
          retry=RetryPolicy(max_attempts=4, adjust=_adjust_generator)),
    Stage("generate_sdxl", generate_sdxl, inputs=("cutout", "prompt", "negative"), outputs=("image", "box", "seed"),
          device="gpu", retry=RetryPolicy(max_attempts=2, adjust=_adjust_generator)),
    Stage("generate_cloud", generate_cloud, inputs=("cutout", "prompt"), outputs=("image", "box", "seed"),
          device="network", retry=RetryPolicy(max_attempts=2, backoff_s=2.0, adjust=_adjust_generator)),
    Stage("preserve", preserve, inputs=("image", "cutout", "box"), outputs=("image",)),
    Stage("color", color, inputs=("image", "cutout", "box"), outputs=("image", "report")),
    Stage("export", export, inputs=("image", "cutout", "box"), outputs=("file", "format", "compliance")),
    Stage("select", select, outputs=("chosen", "reason")),
]
