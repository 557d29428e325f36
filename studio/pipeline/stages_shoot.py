"""Stages from cut-out to exported shots: describe → prompt → generate ×N →
preserve ×N → (score → gate, in stages_score) → color ×N → export ×N."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from studio.imaging.compose import (
    Box,
    crop_to_alpha,
    eroded,
    placed_alpha,
    placed_layer,
    resize_product,
    window,
)
from studio.pipeline.stage import RetryPolicy, Stage, StageContext


def _category(ctx: StageContext, cutout: Image.Image) -> tuple[str, str, list]:
    """(category, where it came from, the top candidates): the person's word first,
    else CLIP zero-shot over the label list, else the plain word "product"."""
    if ctx.params.get("category"):
        return ctx.params["category"], "given", []
    from studio.models.score_clip import get_scorer

    scorer = get_scorer(ctx.params.get("clip_model")) if ctx.params.get("use_clip", True) else None
    if scorer is None:
        return "product", "default (no CLIP model installed)", []
    from studio.labels import load_labels

    crop = np.asarray(crop_to_alpha(cutout.convert("RGBA"))).astype(np.float32)
    a = crop[..., 3:] / 255.0
    on_white = (crop[..., :3] * a + 255 * (1 - a)).astype(np.uint8)  # CLIP has seen products on white
    top = scorer.zero_shot(on_white, load_labels())[:3]
    return top[0][0], "clip", [{"label": lab, "p": round(p, 4)} for lab, p in top]


def describe(ctx: StageContext, cutout: Image.Image) -> dict:
    from studio.imaging.color_names import dominant_colors
    from studio.imaging.view import product_view

    rgba = np.asarray(cutout)
    colors = dominant_colors(rgba[..., :3], rgba[..., 3].astype(np.float32) / 255.0)
    category, source, candidates = _category(ctx, cutout)
    view = ctx.params.get("view")
    if view not in ("side", "top"):  # auto: judged from the cut-out, as the compositor does
        view = product_view(rgba if rgba.shape[-1] == 4 else np.asarray(cutout.convert("RGBA"))).kind
    return {"category": category, "colors": colors, "source": source, "candidates": candidates, "view": view}


def prompt(ctx: StageContext, category: str, colors: list, view: str | None = None) -> dict:
    from dataclasses import replace

    from studio.prompting import ProductDescription, build_prompt
    from studio.scenes import get_scene

    scene = get_scene(ctx.params["scene"])
    if view == "top":  # photographed from above: the model is asked for a flat lay, not a floor line
        scene = replace(scene, prompt=replace(scene.prompt, camera="top-down flat lay, camera directly above",
                                              background=f"{scene.prompt.surface}, seen from directly above"))
    desc = ProductDescription(category, [c["name"] for c in colors])
    extra = " ".join(x for x in (ctx.params.get("extra_prompt", ""), _reference_words(ctx)) if x)
    full = build_prompt(scene, desc, extra)
    return {**full, "simple_prompt": build_prompt(scene, desc, simple=True)["prompt"]}


def _reference_words(ctx: StageContext) -> str:
    """For an engine that takes no reference image: the reference's colours, in words."""
    from studio.models.registry import GENERATORS, generator

    engine = engine_of(ctx.params)
    if not ctx.params.get("reference") or engine not in GENERATORS or generator(engine).takes_reference:
        return ""
    from studio.imaging.color_names import dominant_colors

    rgb = np.asarray(_kept_image(ctx, ctx.params["reference"], "reference").resize((96, 96)))
    names = [c["name"] for c in dominant_colors(rgb, np.ones(rgb.shape[:2], np.float32), k=3)]
    return f"in the colours and mood of the reference photo: {', '.join(names)}" if names else ""


def light_override(params: dict) -> float | None:
    """The key light's direction a backdrop scene's owner chose (None: read from the plate)."""
    from studio.scenes import get_scene

    bd = get_scene(params["scene"]).backdrop
    return bd.light if bd is not None else None


def _kept_image(ctx: StageContext, digest: str | None, name: str) -> Image.Image | None:
    """A backdrop or reference photo the job keeps, decoded by the ingest rules."""
    if not digest:
        return None
    from studio.app.backdrops import decode

    return decode(ctx.store.artifacts.read_bytes(digest), name)


def shot_scene(params: dict):
    """The shoot's scene, with the product's size relations of a catalog on one backdrop:
    a SKU of `size_cm` beside the batch's largest (`size_ref_cm`) gets that share of the
    fill, so their real sizes keep their relations."""
    from dataclasses import replace

    from studio.scenes import get_scene

    scene = get_scene(params["scene"])
    size, ref = params.get("size_cm"), params.get("size_ref_cm")
    if not size or not ref:
        return scene
    ratio = float(np.clip(float(size) / float(ref), 0.1, 1.0))
    if scene.backdrop is not None:
        fill = scene.backdrop.fill or scene.placement.scale
        return replace(scene, backdrop=replace(scene.backdrop, fill=fill * ratio))
    return replace(scene, placement=replace(scene.placement, scale=scene.placement.scale * ratio))


def _seed(ctx: StageContext) -> int:
    """Each variant its own seed; a variant regenerated by the gate gets a new one per round."""
    return int(ctx.params.get("seed", 0)) + int(ctx.params["index"]) + 1000 * int(ctx.params.get("round", 0))


def _sibling_seeds(params: dict) -> tuple[int, ...]:
    """The seeds of the shot's first-round variants, which a local model may paint in
    one call; a gate round regenerates one variant alone."""
    if int(params.get("round", 0)) or params.get("index") is None:
        return ()
    base = int(params.get("seed", 0))
    return tuple(base + i for i in range(int(params.get("variants", 4))))


def engine_of(params: dict) -> str:
    """The engine a generate run uses: the job's, or the one a fallback moved it to."""
    return params.get("engine_override") or params.get("engine") or "classic"


def generate(ctx: StageContext, cutout: Image.Image, prompt: str = "", simple_prompt: str = "",
             negative: str = "") -> dict:
    """One variant, by the engine's generator (from the model registry). Money a paid
    engine costs is set aside before the call (the budget is checked then), charged
    when the provider bills the image, and given back at once when the call fails
    before that (so a retry does not count it twice)."""
    import time

    from studio.models.base import BackendUnavailable, BlankImage, GenerateRequest, is_blank
    from studio.models.inpaint_common import fill_canvas
    from studio.models.registry import generator

    engine = engine_of(ctx.params)
    backend = generator(engine)
    why = backend.unavailable()
    if why:
        raise BackendUnavailable(why)
    p = ctx.params
    # the variant's time limit counts all its attempts: the first one's start is kept in
    # the params the next attempt gets (a gate round starts the clock again)
    if not p.get("variant_started_at"):
        p["variant_started_at"] = time.time()
    time_left = None
    if backend.time_limit_s is not None:
        time_left = backend.time_limit_s - (time.time() - float(p["variant_started_at"]))
    scene = shot_scene(p)
    backdrop = _kept_image(ctx, p.get("backdrop"), "backdrop")
    reference = _kept_image(ctx, p.get("reference"), "reference")
    if reference is None and backend.takes_reference:
        reference = backdrop  # a model asked for "a scene like this photo" of the seller's backdrop
    seed = _seed(ctx)
    cost = backend.price(p)
    provider = getattr(backend, "provider", "")
    billed = []

    def on_billed() -> None:
        if not billed:
            billed.append(True)
            ctx.charge(cost, provider, note=f"{ctx.key}")

    request = GenerateRequest(
        scene=scene, cutout=cutout, prompt=simple_prompt if p.get("simple_scene") else prompt,
        negative_prompt=negative, seed=seed, steps=p.get("steps"), guidance=p.get("guidance"), plan=p.get("plan"),
        long_side=p.get("long_side"), rim_px=int(p.get("rim_px", 3)),
        max_sequence_length=int(p.get("max_sequence_length", 512)),
        on_progress=lambda i, n: ctx.progress(i / n, f"step {i}/{n}"), cancelled=ctx.cancelled,
        time_left_s=time_left, on_billed=on_billed if cost else None,
        view=p.get("view") if p.get("view") in ("side", "top") else None,
        upscale=_upscale_setting(p), batch_seeds=_sibling_seeds(p), batch_key=f"{ctx.job_id}/{p.get('round', 0)}",
        backdrop=backdrop, reference=reference if backend.takes_reference else None,
        light_match=float(p.get("light_match") or 0.0))
    if backend.canvas_multiple:
        request.canvas, request.mask, request.box = fill_canvas(scene, cutout, p.get("long_side"),
                                                                erode_px=request.rim_px,
                                                                multiple=backend.canvas_multiple)
    if cost:
        ctx.ledger.reserve(ctx.job_id, cost, provider, note=f"{ctx.key} attempt {ctx.attempt}")
    try:
        result = backend.generate(request)
        ctx.check_cancelled()
        if is_blank(np.asarray(result.image)):  # every engine: a black image is a failed attempt
            raise BlankImage(f"{engine} made a black image", None)
    except BaseException:
        if cost and not billed:
            ctx.ledger.release(ctx.job_id, cost, note=f"{ctx.key} attempt {ctx.attempt} failed before billing")
        raise
    if cost:
        on_billed()  # a backend that does not report billing is paid on delivery
    info = {"engine": engine, **result.info, **({"cost": cost} if cost else {}), "round": p.get("round", 0)}
    if p.get("reference"):
        info["reference"] = ("taken as the model's reference image" if backend.takes_reference else
                             f"{backend.title or engine} takes no reference image: its colours were put in the prompt")
    elif backdrop is not None and engine_of(p) != "classic":
        info["backdrop"] = ("given to the model as its reference image" if backend.takes_reference else
                            f"{backend.title or engine} paints its own plate: the backdrop's colours are in the prompt")
    ctx.record_variant(seed, info)
    return {"image": result.image, "box": result.box.as_dict(), "seed": seed}


def _upscale_setting(params: dict) -> str:
    """The shoot's `upscale` (its params), else the settings'."""
    from studio.config import load_settings

    return params.get("upscale") or load_settings().upscale


def _adjust_generator(params: dict, attempt: int, exc: BaseException) -> dict:
    """A plan that failed (out of memory, a load that needs what is missing, a black or
    NaN image): the next plan, the reason kept in the history. Otherwise, per policy,
    the other engine."""
    from studio.config import load_settings
    from studio.models.base import PlanFailed
    from studio.models.registry import fallback_engine

    if isinstance(exc, PlanFailed) and exc.next_plan:
        return {**params, "plan": exc.next_plan}
    s = load_settings()
    other = fallback_engine(engine_of(params), s.cloud_policy, bool(params.get("allow_cpu_fallback")), s.usage,
                            tuple(s.licences_held))
    return {**params, "engine_override": other} if other else params


def _generate_policy(params: dict) -> RetryPolicy:
    """The job's engine decides how often a variant is tried (and how long to wait)."""
    from studio.models.registry import generator

    g = generator(params.get("engine") or "classic")
    return RetryPolicy(max_attempts=g.max_attempts, backoff_s=g.backoff_s, adjust=_adjust_generator)


def redrew_product(ctx: StageContext) -> bool:
    """Whether the engine that made this variant draws over the product (models do; the
    classic compositor only places the cut-out's own pixels). Runs of jobs queued before
    variants carried their index say yes: they are treated as they were then."""
    from studio.models.registry import GENERATORS, generator
    from studio.pipeline.queries import variant_data

    if ctx.params.get("index") is None:
        return True
    engine = variant_data(ctx.store, ctx.job_id, int(ctx.params["index"])).get("engine") or engine_of(ctx.params)
    return engine not in GENERATORS or generator(engine).redraws_product


def preserve(ctx: StageContext, image: Image.Image, cutout: Image.Image, box: dict) -> dict:
    from studio.imaging.preserve import preserve as put_back

    if not redrew_product(ctx):
        return {"image": image}  # put back by the generator already; the same image is stored once
    b = Box(**box)
    plate = _grounded(image, cutout, b)
    out = put_back(plate, cutout, b)
    strength = float(ctx.params.get("light_match") or 0.0)
    if strength > 0:  # the product's shading follows the painted plate (imaging.light)
        out = _light_matched(out, plate, cutout, b, strength, light_override(ctx.params))
    return {"image": out}


def _grounded(image: Image.Image, cutout: Image.Image, box: Box) -> Image.Image:
    """A painted plate with no darkening under the product's foot gets a contact shadow
    (imaging.light, the compositor's own), so the product does not float."""
    from studio.imaging import light

    rgb = np.asarray(image)
    if box.y + box.h >= rgb.shape[0] or not light.lacks_ground_shadow(rgb, box):
        return image
    alpha = resize_product(crop_to_alpha(cutout), box)[..., 3]
    shade = light.shadows(alpha, box, rgb.shape[:2], 90.0, 0.5, 0.0, 0.0, 0.6)
    from studio.imaging import masks

    win = masks.region(shade > 0, 0)
    if win is None:
        return image
    out = rgb.copy()
    out[win] = cv2.convertScaleAbs(rgb[win].astype(np.float32) * (1 - shade[win])[..., None])
    return Image.fromarray(out, "RGB")


def _light_matched(image: Image.Image, plate: Image.Image, cutout: Image.Image, box: Box, strength: float,
                   direction: float | None) -> Image.Image:
    """The put-back product's inside with its shading adapted to the plate round it."""
    from studio.imaging import light

    rgb = np.asarray(image).copy()
    layer = resize_product(crop_to_alpha(cutout), box)
    H, W = rgb.shape[:2]
    y0, y1, x0, x1 = max(box.y, 0), min(box.y + box.h, H), max(box.x, 0), min(box.x + box.w, W)
    if y1 <= y0 or x1 <= x0:
        return image
    adapted = light.adapt_shading(layer[..., :3], layer[..., 3], np.asarray(plate), box, strength, direction)
    inner = eroded(np.ascontiguousarray(layer[..., 3]), 2)[y0 - box.y: y1 - box.y, x0 - box.x: x1 - box.x]
    win = rgb[y0:y1, x0:x1]
    win[inner] = cv2.convertScaleAbs(adapted[y0 - box.y: y1 - box.y, x0 - box.x: x1 - box.x], alpha=255.0)[inner]
    return Image.fromarray(rgb, "RGB")


def color(ctx: StageContext, image: Image.Image, cutout: Image.Image, box: dict) -> dict:
    from studio.imaging.color import Adjustments, correct

    rgb = np.asarray(image)
    adj = Adjustments.from_dict(ctx.params.get("adjustments"))
    if ctx.params.get("light_match"):
        from dataclasses import replace

        # its shading was matched to the plate on purpose (lightness only, bounded): ΔE is
        # still measured against the photo, but the product is not refitted to it
        adj = replace(adj, match_product=False)
    # the product lies in its box: build the original and its mask there only (rounded as
    # the preserve step rounds it, so a pasted product compares equal pixel for pixel)
    b = Box(**box)
    inside = b.x >= 0 and b.y >= 0 and b.x + b.w <= rgb.shape[1] and b.y + b.h <= rgb.shape[0]
    win = window(b, 0 if inside else 3, rgb.shape[:2])
    layer = resize_product(crop_to_alpha(cutout), b) if inside else placed_layer(cutout, box, rgb.shape[:2], win)
    original = cv2.convertScaleAbs(cv2.cvtColor(np.ascontiguousarray(layer), cv2.COLOR_RGBA2RGB), alpha=255.0)
    product = eroded(np.ascontiguousarray(layer[..., 3]), 2)
    if not adj.changes_whole_image():
        # only the product may change (the match): measured and corrected in its window
        out_win, report = correct(np.ascontiguousarray(rgb[win]), adj, product, original)
        if not report.get("matched"):
            return {"image": image, "report": report}  # nothing changed: the same image, stored once
        out = rgb.copy()
        out[win] = out_win
        return {"image": Image.fromarray(out), "report": report}
    full_original, full_product = np.zeros_like(rgb), np.zeros(rgb.shape[:2], bool)
    full_original[win], full_product[win] = original, product
    out, report = correct(rgb, adj, full_product, full_original)
    return {"image": Image.fromarray(out), "report": report}


def export(ctx: StageContext, image: Image.Image, cutout: Image.Image, box: dict, enlarged: dict | None = None
           ) -> dict:
    from studio.imaging.export import export as encode_for
    from studio.imaging.export import get_preset

    rgb = np.asarray(image)
    preset = get_preset(ctx.params.get("preset", "shopify"), ctx.params.get("format"), ctx.params.get("quality"))
    data, report = encode_for(rgb, placed_alpha(cutout, box, rgb.shape[:2]), preset)
    if enlarged:  # the seller is told when the product shows larger than it was photographed
        report = {**report, "product_enlarged": enlarged["note"]}
    return {"file": data, "format": preset.format, "compliance": report}


ENLARGE_FROM = 1.25  # below this the product is resampled as it is: an upscaler adds nothing visible


def enlarge(ctx: StageContext, cutout: Image.Image) -> dict:
    """A product photographed with fewer pixels than the canvas shows it with, enlarged
    by the upscaler (a phone JPEG: the compressed-JPEG model where installed) with its
    matte snapped to the enlarged edges; every later stage places this one. `upscale:
    off` (or a product big enough) keeps the photo's own pixels."""
    from studio.imaging import masks
    from studio.imaging.compose import place
    from studio.models.registry import pick_upscaler

    p = ctx.params
    setting = _upscale_setting(p)
    product = crop_to_alpha(cutout)
    scene = shot_scene(p)
    cw, ch = scene.canvas_size(p.get("long_side"))
    if scene.backdrop is not None:  # it stands at the backdrop's fill (its spot does not change its size)
        from studio.imaging.backdrop import stand_box

        box = stand_box(product.size, (cw, ch), (0.5, 0.9), scene.backdrop.fill or scene.placement.scale)
    else:
        box = place(product.size, (cw, ch), scene.placement)
    # the canvas is what every engine places the product on (scenes are 1536-2048 px,
    # about the export's size); a preview canvas smaller than the export is resampled whole
    factor = max(box.w / product.width, box.h / product.height)
    if setting == "off" or factor < ENLARGE_FROM:
        return {"cutout": cutout, "enlarged": None}
    upscaler = pick_upscaler(setting, factor, photo=True)
    size = (round(product.width * factor), round(product.height * factor))
    rgba = np.asarray(product.convert("RGBA"))
    rgb = np.asarray(upscaler.upscale(Image.fromarray(np.ascontiguousarray(rgba[..., :3])), size))
    alpha = cv2.resize(rgba[..., 3].astype(np.float32) / 255.0, size, interpolation=cv2.INTER_CUBIC)
    alpha = masks.refine_edges(rgb, np.clip(alpha, 0, 1))  # the edge follows the enlarged photo
    note = f"product enlarged {factor:.1f}× from {max(product.size)} px ({upscaler.name})"
    return {"cutout": Image.fromarray(masks.to_rgba(rgb, alpha), "RGBA"),
            "enlarged": {"factor": round(factor, 2), "from_px": max(product.size), "upscaler": upscaler.name,
                         "note": note}}


def _generate_stage(name: str, device: str = "cpu") -> Stage:
    return Stage(name, generate, inputs=("cutout",), optional_inputs=("prompt", "simple_prompt", "negative"),
                 outputs=("image", "box", "seed"), device=device, retry_for=_generate_policy)


STAGES = [
    Stage("describe", describe, inputs=("cutout",), outputs=("category", "colors", "source", "candidates", "view")),
    Stage("prompt", prompt, inputs=("category", "colors"), optional_inputs=("view",),
          outputs=("prompt", "negative", "simple_prompt")),
    # one stage for every engine; each node runs where its engine's generator says
    _generate_stage("generate"),
    # the names earlier versions gave the model engines' stages, so their stored jobs still run
    _generate_stage("generate_flux", "gpu"), _generate_stage("generate_sdxl", "gpu"),
    _generate_stage("generate_cloud", "network"),
    Stage("preserve", preserve, inputs=("image", "cutout", "box"), outputs=("image",)),
    Stage("color", color, inputs=("image", "cutout", "box"), outputs=("image", "report")),
    Stage("export", export, inputs=("image", "cutout", "box"), optional_inputs=("enlarged",),
          outputs=("file", "format", "compliance")),
    Stage("enlarge", enlarge, inputs=("cutout",), outputs=("cutout", "enlarged")),
]
