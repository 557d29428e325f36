"""Stages that judge variants: score ×N (product fidelity) → gate ×N (regenerate a
variant that changed the product, up to a limit) → select (rank, propose the best, or
send the job to review when no variant passed)."""

from __future__ import annotations

from PIL import Image

from studio.imaging.compose import Box, placed_layer, rgb_array, window
from studio.pipeline import keys
from studio.pipeline.stage import Rejected, RetryPolicy, Rewind, Stage, StageContext
from studio.pipeline.stages_shoot import redrew_product

DEFAULT_THRESHOLD = 0.75
DEFAULT_GATE_ATTEMPTS = 3


def score(ctx: StageContext, image: Image.Image, cutout: Image.Image, box: dict) -> dict:
    from studio.imaging.fidelity import fidelity
    from studio.models.score_clip import get_scorer

    if not redrew_product(ctx):
        # the cut-out's own pixels, pasted: nothing a measurement could find changed (light
        # matching changes only their lightness, bounded so their colour stays: imaging.light)
        threshold = float(ctx.params.get("fidelity_threshold", DEFAULT_THRESHOLD))
        how = ("exact paste of the cut-out, its shading matched to the plate" if ctx.params.get("light_match")
               else "exact paste of the cut-out")
        report = {"score": 1.0, "passed": True, "threshold": threshold, "terms": {}, "measures": {},
                  "weakest": "", "notes": [f"{how}: not measured"]}
        if ctx.params.get("light_match"):
            report["exposure"] = _exposure(image, cutout, Box(**box))
        return {"fidelity": report, "reason": how}
    rgb = rgb_array(image)
    scorer = get_scorer(ctx.params.get("clip_model")) if ctx.params.get("use_clip", True) else None
    # the rim the generator may repaint, plus the band preserve feathers
    rim = int(ctx.params.get("rim_px", 3)) + 3
    # fidelity looks at most 0.45 × the product's size around it: score that window only
    b = Box(**box)
    win = window(b, max(b.w, b.h) // 2 + 2, rgb.shape[:2])
    report = fidelity(rgb[win], _expected(ctx, cutout, b, rgb, win), scorer.embed_images if scorer else None,
                      float(ctx.params.get("fidelity_threshold", DEFAULT_THRESHOLD)), rim_px=rim)
    out = report.as_dict()
    if ctx.params.get("light_match"):  # measured against the product under the same light; the change said beside
        out["exposure"] = _exposure(image, cutout, b)
    return {"fidelity": out, "reason": report.reason()}


def _exposure(image: Image.Image, cutout: Image.Image, box: Box) -> dict:
    """How light matching changed the product's light (imaging.light.exposure_report),
    measured over its inside in the shot against its photo placed alike."""
    import cv2
    import numpy as np

    from studio.imaging import light
    from studio.imaging.compose import eroded

    rgb = rgb_array(image)
    win = window(box, 0, rgb.shape[:2])
    layer = placed_layer(cutout, box, rgb.shape[:2], win)
    original = cv2.convertScaleAbs(np.ascontiguousarray(layer[..., :3]), alpha=255.0)
    inside = eroded(np.ascontiguousarray(layer[..., 3]), 3)  # the rim is blended with the plate
    return light.exposure_report(np.ascontiguousarray(rgb[win]), original, inside)


def _expected(ctx: StageContext, cutout: Image.Image, box: Box, rgb, win):
    """The product as the variant should show it, in the scored window: the cut-out where
    it was placed, with the shading light matching gives it on this plate (the same
    bounded lightness change, so that alone is not read as a change; anything moved,
    bent, redrawn or recoloured still differs from it)."""
    strength = float(ctx.params.get("light_match") or 0.0)
    if not strength:
        return placed_layer(cutout, box, rgb.shape[:2], win)
    from studio.imaging import light
    from studio.imaging.compose import crop_to_alpha, paste_layer, resize_product
    from studio.pipeline.shot_inputs import light_override

    layer = light.shaded(resize_product(crop_to_alpha(cutout), box), rgb, box, strength, light_override(ctx.params))
    return paste_layer((win[0].stop - win[0].start, win[1].stop - win[1].start), layer, box.within(win))


def _stronger(round_: int) -> dict:
    """What the next generation of a rejected variant changes: always the seed; then
    the model may no longer repaint the product's rim; then the scene loses its props."""
    return {"round": round_, "rim_px": 0 if round_ >= 1 else 3, "simple_scene": round_ >= 2,
            "variant_started_at": None}  # a new round has its own time limit


def gate(ctx: StageContext, fidelity: dict, reason: str) -> dict:
    index = int(ctx.params["index"])
    limit = int(ctx.params.get("gate_attempts", DEFAULT_GATE_ATTEMPTS))
    verdict = {"passed": bool(fidelity["passed"]), "score": fidelity["score"], "reason": reason,
               "rounds": ctx.attempt}
    if not verdict["passed"] and not redrew_product(ctx):
        # the product is the cut-out's own pixels, pasted exactly: nothing to regenerate.
        # (The score is kept: on a plain product over a look-alike backdrop the colour
        # terms can mistake the scene for the product.)
        verdict.update(passed=True, reason=f"exact paste of the cut-out ({reason})")
    if not verdict["passed"] and ctx.attempt < limit:
        raise Rewind(reason, to=keys.generate(index), params=_stronger(ctx.attempt), details=fidelity)
    ctx.update_variant(index, fidelity=fidelity, gate=verdict)
    return {"verdict": verdict}


def _alignment(ctx: StageContext, images: list[Image.Image], prompt: str) -> tuple[list, list, str | None]:
    from studio.models.score_clip import get_scorer

    scorer = get_scorer(ctx.params.get("clip_model")) if ctx.params.get("use_clip", True) else None
    if scorer is None:
        return [None] * len(images), [None] * len(images), "no CLIP model installed: ranked by fidelity only"
    return scorer.alignment(images, prompt), scorer.aesthetic_scores(images) or [None] * len(images), None


def select(ctx: StageContext, prompt: str, **variants) -> dict:
    """Rank the variants — passed the gate, then compliant, then fidelity (to 0.05),
    then prompt alignment — and propose the best. A person's choice wins. When no
    variant passed the gate, the job waits in the review queue for a decision."""
    n = len([k for k in variants if k.startswith("verdict")])
    images = [variants[f"image{i}"] for i in range(n)]
    align, aesthetic, note = _alignment(ctx, images, prompt)
    ranking = []
    for i in range(n):
        v, c = variants[f"verdict{i}"], variants[f"compliance{i}"]
        ranking.append({"index": i, "passed": v["passed"], "compliant": bool(c["ok"]), "fidelity": v["score"],
                        "alignment": align[i], "aesthetic": aesthetic[i], "reason": v["reason"]})
        ctx.update_variant(i, alignment=align[i], aesthetic=aesthetic[i])
    order = sorted(ranking, key=lambda r: (r["passed"], r["compliant"], round(r["fidelity"] * 20),
                                           r["alignment"] or 0.0), reverse=True)
    for rank, r in enumerate(order, 1):
        r["rank"] = rank
    notes = [note] if note else []
    choice = ctx.params.get("choice")
    if choice is not None and 0 <= int(choice) < n:
        return {"chosen": int(choice), "reason": "chosen by you", "ranking": ranking, "notes": notes}
    held = _held_cutout(ctx, variants)
    if held:  # every verdict above was measured through a doubtful mask: a person decides
        decision = ctx.require_input(keys.REVIEW, {"why": held, "ranking": ranking})
        if decision.get("action") == "accept" and 0 <= int(decision.get("variant", -1)) < n:
            return {"chosen": int(decision["variant"]), "reason": "accepted in review", "ranking": ranking,
                    "notes": notes}
        raise Rejected(f"rejected in review: {decision.get('note') or 'the cut-out was doubtful'}")
    if any(r["passed"] for r in ranking):
        best = order[0]
        why = f"best fidelity {best['fidelity']:.2f}" + (
            f", alignment {best['alignment']:.3f}" if best["alignment"] is not None else "")
        return {"chosen": best["index"], "reason": why, "ranking": ranking, "notes": notes}
    decision = ctx.require_input(keys.REVIEW, {"why": "no variant passed the fidelity check",
                                            "ranking": ranking})
    if decision.get("action") == "accept" and 0 <= int(decision.get("variant", -1)) < n:
        return {"chosen": int(decision["variant"]), "reason": "accepted in review", "ranking": ranking,
                "notes": notes}
    raise Rejected(f"rejected in review: {decision.get('note') or 'no variant kept the product faithful'}")


def _held_cutout(ctx: StageContext, variants: dict) -> str | None:
    """Why the shoot is held for review: asked to hold a doubtful cut-out (`hold_doubtful`,
    a batch option), and its cut-out is one nobody touched up with a confidence under LOW."""
    if not ctx.params.get("hold_doubtful") or "cutout_confidence" not in variants:
        return None
    from studio.models.classic_confidence import LOW

    confidence = float(variants["cutout_confidence"])
    if variants.get("cutout_edits") or confidence >= LOW:  # touched up (a person looked), or clear
        return None
    return f"doubtful cut-out (confidence {confidence:.2f}) held for review"


STAGES = [
    Stage("score", score, inputs=("image", "cutout", "box"), outputs=("fidelity", "reason")),
    Stage("gate", gate, inputs=("fidelity", "reason"), outputs=("verdict",)),
    Stage("select", select, outputs=("chosen", "reason", "ranking", "notes"), retry=RetryPolicy(max_attempts=1)),
]
