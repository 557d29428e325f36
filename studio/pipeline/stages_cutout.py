"""Stages from upload to cut-out: ingest → segment → touchup → matte."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from studio.imaging import masks
from studio.imaging.compose import rgb_array
from studio.pipeline import keys
from studio.pipeline.stage import Rejected, Stage, StageContext

DECODE_SHARE = 0.75


def ingest(ctx: StageContext) -> dict:
    from studio.config import load_settings
    from studio.imaging.io import ingest_bytes

    data = ctx.store.artifacts.read_bytes(ctx.params["photo"])
    max_side = ctx.params.get("work_side")
    # a JPEG much larger than needed is decoded at a fraction of its size (DCT scaling),
    # down to three quarters of the working size: a 12 MP photo at 2000 px
    at_least = round(DECODE_SHARE * max_side) if max_side else None
    img = ingest_bytes(data, ctx.params.get("photo_name", "photo"), load_settings().limits,
                       long_side_at_least=at_least)
    image, notes = img.image.convert("RGB"), list(img.notes)
    if max_side and max(image.size) > max_side:
        # A shoot never needs more pixels than its largest export; fewer make every stage
        # faster. Pixel-area averaging (BOX): a clean downscale at a third of Lanczos' cost.
        f = max_side / max(image.size)
        size = (max(1, round(image.width * f)), max(1, round(image.height * f)))
        image = image.resize(size, Image.Resampling.BOX)
        notes.append(f"worked at {image.width}×{image.height}")
    return {"image": image, "notes": notes}


def segment(ctx: StageContext, image: Image.Image) -> dict:
    """The product's matte. A backend named by the person runs or fails with the reason
    (never silently swapped); `auto` takes the best installed model their declared use
    allows, and falls back to the classic cut-out, saying so, when that model fails."""
    from studio.config import load_settings
    from studio.models.registry import pick_segmenter

    name = ctx.params.get("segmenter", "auto")
    settings = load_settings()
    usage, held = ctx.params.get("usage") or settings.usage, tuple(settings.licences_held)
    seg = pick_segmenter(name, usage, held)
    notes: list[str] = []
    weights = getattr(seg, "weights", None)
    if weights is not None and not weights.allowed_for(usage) and weights.id not in held:
        notes.append(weights.licence_line())  # named explicitly: it runs, and says what its licence asks
    ctx.progress(0.1, f"cutting out with {seg.name}")
    try:
        result = seg.segment(image)
    except Exception as exc:
        if name != "auto" or seg.name == "classic":
            raise
        from studio.models.segment_classic import ClassicSegmenter

        notes.append(f"{seg.name} failed ({type(exc).__name__}: {exc}); used the classic cut-out instead")
        result = ClassicSegmenter().segment(image)
    return {"alpha": _alpha_image(result.alpha), "backend": result.backend, "confidence": result.confidence,
            "notes": notes + list(result.notes)}


def touchup(ctx: StageContext, image: Image.Image, alpha: Image.Image) -> dict:
    """Apply the person's mask edits. With pause_for_touchup the job waits for them."""
    if ctx.params.get("pause_for_touchup"):
        edits = ctx.require_input(keys.MASK_EDITS, {"hint": "touch up the mask, then continue"})
    else:
        edits = ctx.input_or(keys.MASK_EDITS, [])
    if not edits:
        return {"alpha": alpha, "edits": 0}
    a = np.asarray(alpha, dtype=np.float32) / 255.0
    out = masks.apply_edits(a, edits, ctx.store.artifacts.read_array)
    return {"alpha": _alpha_image(out), "edits": len(edits)}


def matte(ctx: StageContext, image: Image.Image, alpha: Image.Image) -> dict:
    """RGBA cut-out with decontaminated edge colours (no halo of the old background);
    with the crop param, cropped to the product (as `crop_to_alpha` would crop it) and
    taken from the photo at its full resolution: the shot resamples the product once,
    from the photo's own pixels, straight to its size in the frame."""
    a = np.asarray(alpha, dtype=np.float32) / 255.0
    win = masks.region(np.asarray(alpha) > 8, 0)
    if ctx.params.get("crop") and win is None:
        # a shoot needs a product to place; a cut-out job (the page's first step) is kept
        # empty instead, so the person can paint the product in
        raise Rejected("no product found in the photo: paint it in with the touch-up brush (Studio tab), or try "
                       "another cut-out backend (--backend)")
    if ctx.params.get("crop"):
        full = _full_resolution(ctx, image)
        if full is not None:
            rgb, a = _product_at(full, a, win)
            return {"cutout": Image.fromarray(masks.to_rgba(masks.decontaminate(rgb, a), a), "RGBA")}
    fg = masks.decontaminate(rgb_array(image), a)
    if ctx.params.get("crop"):
        fg, a = fg[win], a[win]
    return {"cutout": Image.fromarray(masks.to_rgba(fg, a), "RGBA")}


def _full_resolution(ctx: StageContext, worked: Image.Image) -> Image.Image | None:
    """The photo as ingest read it but at its full size, where ingest worked smaller."""
    if not ctx.params.get("work_side") or not ctx.params.get("photo"):
        return None
    from studio.config import load_settings
    from studio.imaging.io import ingest_bytes

    data = ctx.store.artifacts.read_bytes(ctx.params["photo"])
    full = ingest_bytes(data, ctx.params.get("photo_name", "photo"), load_settings().limits).image
    if max(full.size) <= max(worked.size):
        return None
    return full


def _product_at(full: Image.Image, alpha: np.ndarray, win: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    """The product's box of the full-size photo (RGB) and the matte found at the working
    size taken up to it (linear: the matte is smooth at its edge)."""
    h, w = alpha.shape
    fx, fy = full.width / w, full.height / h
    x0, x1 = int(win[1].start * fx), min(full.width, int(np.ceil(win[1].stop * fx)))
    y0, y1 = int(win[0].start * fy), min(full.height, int(np.ceil(win[0].stop * fy)))
    rgb = np.asarray(full.crop((x0, y0, x1, y1)).convert("RGB"))
    # the matte's pixels under the full-size box: sample centres mapped back (what cv2.warpAffine does)
    m = np.float32([[1 / fx, 0, (x0 + 0.5) / fx - 0.5], [0, 1 / fy, (y0 + 0.5) / fy - 0.5]])
    a = cv2.warpAffine(alpha, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # crop to where the matte shows (as crop_to_alpha would): the edge rows may be empty
    rows, cols = masks.region(a > 8 / 255, 0) or (slice(0, a.shape[0]), slice(0, a.shape[1]))
    return np.ascontiguousarray(rgb[rows, cols]), np.ascontiguousarray(np.clip(a[rows, cols], 0, 1))


def _alpha_image(alpha: np.ndarray) -> Image.Image:
    # scaled, rounded and clipped to 8 bits in one pass (no 12 MP float temporaries)
    return Image.fromarray(cv2.convertScaleAbs(np.maximum(alpha, 0, dtype=np.float32), alpha=255.0), "L")


STAGES = [
    Stage("ingest", ingest, outputs=("image", "notes")),
    Stage("segment", segment, inputs=("image",), outputs=("alpha", "backend", "confidence", "notes")),
    Stage("touchup", touchup, inputs=("image", "alpha"), outputs=("alpha", "edits")),
    Stage("matte", matte, inputs=("image", "alpha"), outputs=("cutout",)),
]
