"""A shoot: one photo (or a finished cut-out) → N variants of the product in a scene,
scored, gated, colour-corrected and exported, as one `shoot` job in the engine. And
what the shells read back from one: its summary, its variants, its files, and the
finish of a chosen variant with other colour settings or another preset."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from studio.app.context import BudgetExceeded, Event, ledger, run_jobs, stages
from studio.app.engines import engine_price, plan_ids, resolve_engine
from studio.config import MAX_SEED, data_dir, load_settings
from studio.imaging.color import Adjustments
from studio.imaging.compose import placed_layer
from studio.imaging.io import ingest_file
from studio.paths import free_path, photo_stem, write_atomic
from studio.pipeline import jobs, keys, queries
from studio.scenes import LONG_SIDE, Scene, get_scene
from studio.store import Store, loads

EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# The largest export is 2048 px with the product at most ~85% of it: 2560 px of photo is plenty.
WORK_SIDE = 2560


_WARMED = threading.Event()


def _warm_up_later_stages() -> None:
    """Load scikit-image (colour and fidelity stages, ~0.8 s of imports) on a thread
    while the photo is decoded and cut out, which mostly runs in OpenCV without the GIL."""
    if _WARMED.is_set():
        return
    _WARMED.set()

    def load() -> None:
        import skimage.color  # noqa: F401
        import skimage.metrics  # noqa: F401

    threading.Thread(target=load, name="warm-imports", daemon=True).start()


class FlowError(ValueError):
    """A step that cannot go on, with a message for people."""


def runnable_engine(engine: str, allow_cpu_fallback: bool = False) -> str:
    """The engine a shoot (new, replayed or sent back) runs on: `auto` resolved; a named
    engine that cannot run here, with nothing to fall back on, refused now (FlowError
    saying why), not at its generate stage."""
    settings = load_settings()
    resolved = resolve_engine(engine)
    if engine != "auto":
        from studio.models.registry import fallback_engine, generator

        why = generator(resolved).unavailable()
        if why and not fallback_engine(resolved, settings.cloud_policy, allow_cpu_fallback, settings.usage,
                                       tuple(settings.licences_held)):
            raise FlowError(why)
    return resolved


def submit_shoot(store: Store, photo: Path | None, *, scene: str | None = None, variants: int | None = None,
                 engine: str = "classic", preset: str | None = None, seed: int = 0, segmenter: str = "auto",
                 extra_prompt: str = "", adjustments: dict | None = None, long_side: int | None = None,
                 steps: int | None = None, guidance: float | None = None, max_sequence_length: int = 512,
                 allow_cpu_fallback: bool = False, title: str | None = None, batch_id: str | None = None,
                 reuse_from: str | None = None, then: Callable[[str], None] | None = None,
                 work_side: int = WORK_SIDE, view: str = "auto", clip: dict | None = None,
                 upscale: str | None = None, reference: Path | bytes | None = None,
                 light_match: float | None = None, size_cm: float | None = None,
                 size_ref_cm: float | None = None, hold_doubtful: bool = False) -> str:
    """Queue a shoot of `photo`; or, with `reuse_from` (a cutout job), of that job's
    photo, taking its segmentation as done and carrying its touch-up edits.
    `then(job_id)` runs in the transaction that creates the job: a record linking to
    it (a batch item) exists exactly when the job does, whenever the process dies."""
    settings = load_settings()
    engine = runnable_engine(engine, allow_cpu_fallback)
    scene = scene or settings.default_scene
    variants = settings.default_variants if variants is None else variants
    preset = preset or settings.default_preset
    upscale = upscale or settings.upscale
    light_match = settings.light_match if light_match is None else light_match
    check_params(scene=scene, preset=preset, variants=variants, long_side=long_side, steps=steps,
                 guidance=guidance, seed=seed, upscale=upscale, light_match=light_match)
    if view not in ("auto", "side", "top"):
        raise ValueError(f"view must be auto, side or top, not {view!r}")
    extras = _backdrop_params(store, scene, reference, size_cm, size_ref_cm)
    reuse, inputs = {}, {}
    if reuse_from:
        src = jobs.job_params(store, reuse_from)
        digest, name, segmenter = src["photo"], src["photo_name"], src.get("segmenter", segmenter)
        reuse = queries.finished_runs(store, reuse_from, [keys.INGEST, keys.SEGMENT])
        inputs = {keys.MASK_EDITS: queries.job_input(store, reuse_from, keys.MASK_EDITS, [])}
    elif photo is None:
        raise ValueError("a shoot needs a photo or a cut-out job to start from")
    else:
        img = ingest_file(photo, settings.limits, check_only=True)  # the ingest stage decodes it for real
        digest, name = store.put_artifact(img.original, "bin"), photo.name
    params = {"photo": digest, "photo_name": name, "segmenter": segmenter,
              "scene": scene, "variants": variants, "engine": engine,
              "preset": preset, "seed": seed, "extra_prompt": extra_prompt,
              "adjustments": adjustments or {}, "long_side": long_side, "work_side": work_side,
              # None: each model's own defaults (FLUX.1 Fill's are the Settings tab's)
              "steps": steps, "guidance": guidance,
              "max_sequence_length": max_sequence_length, "cloud_provider": settings.cloud_provider,
              # with no GPU, may a failed cloud call fall back to a local model on the CPU (minutes)?
              "allow_cpu_fallback": allow_cpu_fallback,
              "clip_model": settings.clip_model, "fidelity_threshold": settings.fidelity_threshold,
              "gate_attempts": settings.gate_attempts,
              # side or top (photographed from above: laid flat); auto: judged from the cut-out
              "view": view,
              # how a plate painted small and a small product photo are enlarged (auto, off, or an upscaler)
              "upscale": upscale,
              # 0..1: the product's shading adapted to the plate (0: its own pixels exactly)
              "light_match": float(light_match), **extras}
    if clip:  # a clip of the chosen variant after its export (studio/app/clip.py checks it)
        params["clip"] = clip
    if not isinstance(hold_doubtful, bool):
        raise ValueError(f"hold_doubtful must be true or false, not {hold_doubtful!r}")
    if hold_doubtful:  # a doubtful cut-out waits in the review queue instead of finishing
        params["hold_doubtful"] = True
    if settings.vram_plan != "auto" and settings.vram_plan in plan_ids(engine):
        params["plan"] = settings.vram_plan  # chosen in the Models tab; "auto" fits the plan to the card
    check_budget(store, engine, variants)
    from studio.models.registry import GENERATORS, generator

    if engine not in GENERATORS or generator(engine).redraws_product:  # a pasted product is neither measured nor matched
        _warm_up_later_stages()
    with store.tx():
        job = jobs.submit(store, stages(), "shoot", params, title=title or name, batch_id=batch_id, reuse=reuse,
                          inputs=inputs)
        if then is not None:
            then(job)
    return job


def _backdrop_params(store: Store, scene_id: str, reference: Path | bytes | None, size_cm: float | None,
                     size_ref_cm: float | None) -> dict:
    """What a shoot keeps of a backdrop scene's photo and a reference photo: each as an
    artifact (the job is replayed with the same pixels whatever happens to the files),
    and the product's real size against the catalog's largest (a batch on one backdrop)."""
    from studio.app.backdrops import backdrop_bytes, reference_bytes

    out: dict = {}
    data = backdrop_bytes(get_scene(scene_id))
    if data is not None:
        out["backdrop"] = store.put_artifact(data, "bin")
    if reference is not None:
        out["reference"] = store.put_artifact(reference_bytes(reference), "bin")
    for key, value in (("size_cm", size_cm), ("size_ref_cm", size_ref_cm)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10000:
            raise ValueError(f"{key} must be a size in centimetres above 0, not {value!r}")
        out[key] = float(value)
    return out



def _whole(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def check_light_match(value) -> None:
    """0..1, or None (the settings' default)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1):
        raise ValueError(f"light_match must be a number from 0 to 1, not {value!r}")


def check_params(*, scene: str, preset: str, variants, long_side=None, steps=None, guidance=None, seed=0,
                 upscale=None, light_match=None) -> None:
    """Refuse, with one sentence, what would fail later in the job (an unknown preset is
    otherwise found only at export, after a cloud engine was paid)."""
    from studio.config import UPSCALES
    from studio.imaging.export import PRESETS

    get_scene(scene)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if not _whole(variants, 1, 16):
        raise ValueError(f"variants must be a whole number from 1 to 16, not {variants!r}")
    if long_side is not None and not _whole(long_side, *LONG_SIDE):
        raise ValueError(f"the long side must be from {LONG_SIDE[0]} to {LONG_SIDE[1]} px, not {long_side!r}")
    if steps is not None and not _whole(steps, 1, 200):
        raise ValueError(f"steps must be a whole number from 1 to 200, not {steps!r}")
    if guidance is not None and (isinstance(guidance, bool) or not isinstance(guidance, int | float)
                                 or not math.isfinite(guidance) or not 0 <= guidance <= 100):
        raise ValueError(f"guidance must be a number from 0 to 100, not {guidance!r}")
    if not _whole(seed, 0, MAX_SEED):
        raise ValueError(f"the seed must be a whole number from 0 to {MAX_SEED}, not {seed!r}")
    if upscale is not None and upscale not in UPSCALES:
        raise ValueError(f"upscale must be one of {', '.join(UPSCALES)}, not {upscale!r}")
    check_light_match(light_match)


def check_replay(params: dict, overrides: dict) -> dict:
    """A replay's or a send-back's changed parameters checked as a new shoot's are (an
    impossible size or seed is one sentence, not a MemoryError later); returns the
    overrides, with a clip preset name made into the clip's settings."""
    merged = {**params, **overrides}
    check_params(scene=merged.get("scene"), preset=merged.get("preset"), variants=merged.get("variants"),
                 long_side=merged.get("long_side"), steps=merged.get("steps"), guidance=merged.get("guidance"),
                 seed=merged.get("seed", 0), upscale=merged.get("upscale"), light_match=merged.get("light_match"))
    out = dict(overrides)
    if "view" in overrides and overrides["view"] not in ("auto", "side", "top"):
        raise ValueError(f"view must be auto, side or top, not {overrides['view']!r}")
    if "engine" in overrides:
        out["engine"] = runnable_engine(overrides["engine"], bool(merged.get("allow_cpu_fallback")))
    ref = overrides.get("reference")
    if ref is not None and not isinstance(ref, str):
        raise ValueError(f"reference must be the path of a photo (or null to drop it), not {ref!r}")
    threshold = overrides.get("fidelity_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)
                                  or not 0 <= threshold <= 1):
        raise ValueError(f"fidelity_threshold must be a number from 0 to 1, not {threshold!r}")
    if isinstance(overrides.get("clip"), str):
        from studio.app.clip import clip_params

        out["clip"] = clip_params(overrides["clip"])
    return out


def check_budget(store: Store, engine: str, variants: int) -> None:
    """A paid engine's shoot is refused before it starts when the budget left, less what
    the shoots already queued will spend at least, cannot pay one image per variant
    (BudgetExceeded, saying how much is left). The budget is read from the settings now."""
    each = engine_price(engine)
    if not each:
        return
    book = ledger(store)
    left = book.available()
    if left is None:
        return
    queued = committed(store, book)
    if each * variants > left - queued + 1e-9:
        also = f", {queued:.2f} of it promised to queued shoots" if queued > 1e-9 else ""
        raise BudgetExceeded(f"this shoot needs at least {each * variants:.2f} ({variants} image(s) at {each:.2f}) "
                             f"but only {max(left - queued, 0):.2f} of the {book.budget:.2f} budget is left{also} "
                             "(Settings → budget)")


def committed(store: Store, book) -> float:
    """What the shoots that have not ended will spend at least (one image per variant on
    their paid engine), beyond what they have already spent or set aside."""
    total = 0.0
    for job_id, params in queries.unfinished_jobs(store, "shoot"):
        engine = params.get("engine")
        try:
            each = engine_price(engine) if engine else 0.0
        except (KeyError, ValueError):
            continue
        if each:
            total += max(0.0, each * int(params.get("variants", 1)) - book.spent(job_id) - book.hold(job_id))
    return total


def waiting_for_review(store: Store, job_id: str) -> bool:
    return queries.waiting_for(store, job_id, keys.REVIEW)


def review_reason(store: Store, job_id: str) -> str:
    """Why a job waits in the review queue (no variant passed, or a doubtful cut-out held)."""
    prompt = queries.waiting_prompt(store, job_id, keys.REVIEW)  # this job's row, not the whole queue's
    return (prompt.get("why") if prompt else None) or "no variant passed the fidelity check"


def shoot_summary(store: Store, job_id: str) -> dict:
    job = jobs.get_job(store, job_id)
    params = loads(job["params"])
    out: dict = {"job": job_id, "status": job["status"], "photo": params["photo_name"], "scene": params["scene"],
                 "engine": params["engine"], "preset": params["preset"],
                 # the seller's own backdrop and reference photos, kept with the job (artifact digests)
                 "backdrop": params.get("backdrop"), "reference": params.get("reference"),
                 "light_match": params.get("light_match", 0.0)}
    if job["status"] == "waiting" and waiting_for_review(store, job_id):
        out["error"] = f"{review_reason(store, job_id)}: waiting in the review queue (studio review)"
        return out
    if job["status"] != "done":
        out["error"] = f"{job['failed_stage']}: {job['error']}"
        return out
    from studio.app.cutout_advice import fidelity_caveat

    seg = queries.stage_output(store, job_id, keys.SEGMENT, only=("backend", "confidence"))
    sel = queries.stage_output(store, job_id, keys.SELECT)
    doubt = cutout_doubt(store, job_id)
    caveat = fidelity_caveat(doubt)
    try:
        enlarged = queries.stage_output(store, job_id, keys.ENLARGE, only=("enlarged",))["enlarged"]
    except KeyError:  # a shoot from before the step existed
        enlarged = None
    out.update(cutout={"backend": seg["backend"], "confidence": seg["confidence"], "advice": doubt,
                       "enlarged": enlarged, "caveat": caveat},
               chosen=sel["chosen"], reason=sel["reason"], notes=sel["notes"], variants=[])
    ranking = {r["index"]: r for r in sel["ranking"]}
    for i in range(params["variants"]):
        gen = queries.stage_output(store, job_id, keys.generate(i), only=("seed",))
        col = queries.stage_output(store, job_id, keys.color(i), only=("report",))["report"]
        exp = queries.stage_output(store, job_id, keys.export(i), only=("compliance",))
        r = ranking[i]
        out["variants"].append({"index": i, "seed": gen["seed"], "rank": r["rank"],
                                "scores": {"fidelity": r["fidelity"], "alignment": r["alignment"],
                                           "aesthetic": r["aesthetic"]},
                                # a pass against a doubtful cut-out is no proof the product held
                                "gate": {"passed": r["passed"], "reason": r["reason"], "caveat": caveat},
                                # fill and purity are measured through the mask too
                                "delta_e": col.get("delta_e_after"),
                                "compliance": {**exp["compliance"], "caveat": caveat},
                                # how its frame was made (frame first: frame, plate, upscaler, product scale)
                                "made": queries.variant_data(store, job_id, i).get("made")})
    return out


def cutout_doubt(store: Store, job_id: str) -> dict | None:
    """The advice on a job's cut-out when it is doubtful (and nobody touched it up), else None."""
    from studio.app.cutout_advice import job_advice

    return job_advice(store, job_id, queries.stage_output(store, job_id, keys.SEGMENT, only=("backend", "confidence")))


def exported(store: Store, job_id: str, index: int) -> tuple[bytes, str]:
    """The exported file of variant `index` and its extension."""
    exp = queries.stage_output(store, job_id, keys.export(index))
    return exp["file"], EXT[exp["format"]]


def write_outputs(store: Store, job_id: str, out_dir: Path, taken: set[Path] | None = None,
                  variant: int | None = None) -> list[str]:
    """The chosen shot as <photo>_<scene>.<ext>, the others as <photo>_<scene>_alt<N>.<ext>
    (only `variant`, when given), and the job's clip when it made one. Names already in
    `taken` (written earlier in the same run: two photos called mug.jpg in different
    folders), or held by another file in `out_dir` (another job's shot of a photo of the
    same name), get -2, -3, …; the same shot written again keeps its name."""
    summary = shoot_summary(store, job_id)
    if summary["status"] != "done":
        raise FlowError(f"job {job_id} has no shots to export: {summary.get('error', summary['status'])}")
    indexes = [v["index"] for v in summary["variants"]]
    if variant is not None and variant not in indexes:
        raise FlowError(f"job {job_id} has variants {', '.join(map(str, indexes))}, not {variant}")
    stem = photo_stem(summary["photo"])
    taken = set() if taken is None else taken
    written = []
    for i in indexes if variant is None else [variant]:
        data, ext = exported(store, job_id, i)
        suffix = "" if i == summary["chosen"] else f"_alt{i}"
        path = free_path(out_dir / f"{stem}_{summary['scene']}{suffix}.{ext}", data, taken)
        write_atomic(path, data)
        written.append(str(path))
    if variant is None and jobs.job_params(store, job_id).get("clip"):
        from studio.app.clip import write_clip

        written.append(str(write_clip(store, job_id, out_dir, taken)))
    return written


def cutout_of(store: Store, job_id: str) -> Image.Image:
    """The job's cut-out as the shoot placed it (cropped to the product; enlarged where
    the photo was small, for shoots made since that step exists)."""
    try:
        return queries.stage_output(store, job_id, keys.ENLARGE, only=("cutout",))["cutout"]
    except KeyError:
        return queries.stage_output(store, job_id, keys.MATTE)["cutout"]


def variant_image(store: Store, job_id: str, index: int) -> Image.Image:
    """A variant after colour, or (gated out, waiting for review) as preserved."""
    try:
        return queries.stage_output(store, job_id, keys.color(index))["image"]
    except KeyError:
        return queries.stage_output(store, job_id, keys.preserve(index))["image"]


def chosen_image(store: Store, job_id: str) -> Image.Image | None:
    """The chosen shot of a finished shoot, else the job's cut-out, else None (a thumbnail)."""
    try:
        return variant_image(store, job_id, queries.stage_output(store, job_id, keys.SELECT)["chosen"])
    except KeyError:
        pass
    try:
        return cutout_of(store, job_id)
    except KeyError:
        return None


def compare_pair(store: Store, job_id: str, index: int,
                 cutout: Image.Image | None = None) -> tuple[Image.Image, Image.Image]:
    """(the original product where the generator was asked to put it, on white; the
    variant): laid over each other they show what was preserved. `cutout` is the
    job's matte cut-out when the caller already has it."""
    image = variant_image(store, job_id, index)
    cutout = cutout or cutout_of(store, job_id)
    box = queries.stage_output(store, job_id, keys.generate(index), only=("box",))["box"]
    layer = placed_layer(cutout, box, (image.height, image.width))  # float RGBA in 0..1
    a = layer[..., 3:4]
    placed = Image.fromarray(np.clip((layer[..., :3] * a + (1 - a)) * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
    return placed, image


def variants_view(store: Store, job_id: str) -> dict:
    """A shoot's variants (images, scores, verdicts), best first, and its summary."""
    summary = shoot_summary(store, job_id)
    if summary.get("error") and "variants" not in summary and not waiting_for_review(store, job_id):
        raise FlowError(summary["error"])
    params = jobs.job_params(store, job_id)
    by_index = {v["index"]: v for v in summary.get("variants", [])}
    original = cutout_of(store, job_id)
    shots = []
    for i in range(params["variants"]):
        placed, image = compare_pair(store, job_id, i, original)
        shots.append({"index": i, "image": image, "original": placed, **by_index.get(i, {})})
    shots.sort(key=lambda s: s.get("rank", 99))
    return {"job": job_id, "summary": summary, "shots": shots, "chosen": summary.get("chosen"),
            "original": original}


def run_to_end(store: Store, job_id: str, on_event: Callable[[Event], None] | None = None) -> dict:
    """Run a job in this process; a failed or cancelled one raises FlowError saying why."""
    run_jobs([job_id], on_event=on_event, store=store)
    job = jobs.get_job(store, job_id)
    if job["status"] == "failed":
        raise FlowError(f"{job['failed_stage']} failed: {job['error']} (the job {job_id} keeps its artifacts; "
                        "see History)")
    if job["status"] == "cancelled":
        raise FlowError("cancelled")
    return job


def new_frame(params: dict, preset: str) -> bool:
    """Whether `preset` is delivered in another frame than the shot was made for."""
    from studio.imaging.layout import frame_for

    return frame_for(preset, params.get("long_side")) != frame_for(params.get("preset") or "shopify",
                                                                      params.get("long_side"))


def finish_variant(store: Store, job_id: str, variant: int, *, adjustments: dict | None = None,
                   preset: str | None = None, on_event: Callable[[Event], None] | None = None) -> dict:
    """Finish the chosen variant: replay its colour and export stages with these
    adjustments and preset (a new job in the history, the shoot left as it was) and
    write the file under the data dir's exports folder. A preset of another frame is
    another layout of the same choices (scene, seed, light): the variant is made again
    for that frame from its generate stage, never cropped from the shot's frame."""
    overrides: dict = {"choice": int(variant)}
    if adjustments is not None:
        overrides["adjustments"] = Adjustments.from_dict(adjustments).as_dict()
    start = keys.color(int(variant))
    if preset:
        overrides["preset"] = preset
        if new_frame(jobs.job_params(store, job_id), preset):
            start = keys.generate(int(variant))
    new = jobs.replay(store, stages(), job_id, start, overrides, ledger=ledger(store))
    run_to_end(store, new, on_event)
    out = queries.stage_output(store, new, keys.export(int(variant)))
    color = queries.stage_output(store, new, keys.color(int(variant)))
    params = jobs.job_params(store, new)
    folder = data_dir() / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    # the photo's name is a person's (an upload's, a CSV's, a replay's): a safe name, never a path
    path = folder / f"{photo_stem(params['photo_name'])}_{params['scene']}_{new}.{EXT[out['format']]}"
    path.write_bytes(out["file"])
    from studio.app.cutout_advice import fidelity_caveat

    compliance = {**out["compliance"], "caveat": fidelity_caveat(cutout_doubt(store, new))}
    return {"job": new, "path": str(path), "compliance": compliance, "format": out["format"],
            "delta_e": color["report"].get("delta_e_after"), "image": color["image"]}


def scene_preview(scene: Scene, product: Image.Image, long_side: int) -> Image.Image:
    """The scene around `product` by the classic compositor (gallery thumbnails); a
    seller's backdrop scene on its own photo."""
    from studio.models.generate_classic import compose

    photo = None
    if scene.backdrop is not None:
        from studio.app.backdrops import backdrop_bytes, decode

        photo = np.asarray(decode(backdrop_bytes(scene), scene.backdrop.image))
    return compose(scene, product, seed=0, long_side=long_side, backdrop=photo).image
