"""The Studio tab: upload → cut-out → touch-up → scene → variants → colour → export,
one photo at a time (several can be uploaded and picked in turn)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gradio as gr
from PIL import Image

from studio.app import shoot, touchup
from studio.app.context import TERMINAL, open_store
from studio.app.engines import backend_facts, engine_choices, plan_note
from studio.app.history import cancel, get_job, made_line
from studio.config import data_dir, load_settings
from studio.imaging.export import PRESETS
from studio.ui import workbench
from studio.ui.uploads import page_file, receive
from studio.ui.views import (
    active_job,
    mask_overlay,
    on_checkerboard,
    readable,
    session_of,
    strokes_from_editor,
    tracker,
)

CATEGORIES = ["all", "studio", "lifestyle", "seasonal", "marketplace"]
SLIDERS = (("exposure", -3.0, 3.0, 0.05), ("temperature", -100, 100, 1), ("tint", -100, 100, 1),
           ("saturation", -100, 100, 1), ("contrast", -100, 100, 1), ("auto_white_balance", 0.0, 1.0, 0.05))


def sample_photo() -> str:
    """scikit-image's coffee cup (CC0): a real photo of a product, installed with the app."""
    import skimage

    src = Path(skimage.data.__path__[0]) / "coffee.png"
    target = data_dir() / "uploads" / "sample-coffee.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copyfile(src, target)
    return str(target)


def _cutout_outputs(view: dict, state: dict) -> tuple:
    notes = "".join(f"\n- {n}" for n in view["notes"])
    facts = backend_facts(view["backend"])
    info = (f"**Cut-out:** {facts['title']} ({facts['licence']}; commercial use: {facts['commercial_use']}), "
            f"confidence {view['confidence']:.2f}; {view['edits']} touch-up edit(s).{notes}")
    doubt = view.get("advice")
    if doubt:
        info = f"⚠ **{doubt['line']}**\n\n" + info
    editor = {"background": mask_overlay(view["image"], view["alpha"]), "layers": [], "composite": None}
    # the one-click fix: a model cut-out (downloaded first where it is not installed)
    fix = gr.update(visible=bool(doubt and doubt["model"]),
                    value=_fix_label(doubt) if doubt and doubt["model"] else "Cut out with a model")
    return state, on_checkerboard(view["cutout"]), info, editor, fix


def _fix_label(doubt: dict) -> str:
    from studio.app.engines import model_size_gb

    if doubt["installed"]:
        return "Cut out again with BiRefNet lite"
    return f"Download BiRefNet lite ({model_size_gb(doubt['model']):.1f} GB, MIT) and cut out again"


@readable
def on_model_cutout(state: dict, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
    """The doubtful cut-out's fix: BiRefNet lite, downloaded where it is not installed,
    then the same photo cut out again with it."""
    from studio.app import engines
    from studio.app.cutout_advice import MODEL

    if not state or not state.get("photo"):
        raise gr.Error("Upload a photo first (or try the sample photo).")
    if not engines.installed(MODEL):
        progress(0, desc=f"downloading {MODEL} ({engines.model_size_gb(MODEL)} GB)")
        engines.download(MODEL)
    view = workbench.cut_out(_uploaded(state["photo"]), backend=MODEL,
                             on_event=tracker(progress, session_of(request), "cut-out"))
    return _cutout_outputs(view, {"cutout": view["job"], "photo": state["photo"]})


@readable
def on_photos(files: list[str] | None, state: dict, request: gr.Request, progress=gr.Progress()):
    """New uploads: remember them, cut out the first."""
    if not files:
        raise gr.Error("Drop one or more product photos (JPEG, PNG, WebP, HEIC).")
    paths = [str(_uploaded(f)) for f in files]
    choices = [(Path(p).name, p) for p in paths]
    out = on_pick(paths[0], state, request, progress)
    return (gr.update(choices=choices, value=paths[0]), *out)


def _uploaded(path: object) -> Path:
    """A photo the page may open: one uploaded to it, or the sample (ui/uploads.py). The
    dropdown's value and a FileData's path come from the browser: anything else is refused."""
    return page_file(path, "Pick one of the photos you uploaded")


@readable
def on_pick(path: str | None, state: dict, request: gr.Request, progress=gr.Progress()):
    if not path:
        raise gr.Error("Pick a photo first.")
    view = workbench.cut_out(_uploaded(path), on_event=tracker(progress, session_of(request), "cut-out"))
    state = {"cutout": view["job"], "photo": path}
    return _cutout_outputs(view, state)


@readable
def on_paste(path: str | None, state: dict, request: gr.Request, progress=gr.Progress()):
    if not path:
        raise gr.Error("Nothing was pasted.")
    return on_photos([path], state, request, progress)


@readable
def on_sample(state: dict, request: gr.Request, progress=gr.Progress()):
    path = sample_photo()
    receive([path])  # made by Studio itself: the page may open it again when it is picked
    return (gr.update(choices=[("sample-coffee.png", path)], value=path), *on_pick(path, state, request, progress))


def _need_cutout(state: dict) -> str:
    if not state or not state.get("cutout"):
        raise gr.Error("Upload a photo first (or try the sample photo).")
    return state["cutout"]


@readable
def on_strokes(editor: dict | None, state: dict):
    job = _need_cutout(state)
    store = open_store()
    view = touchup.cutout_view(store, job)
    add, erase = strokes_from_editor(editor, view["alpha"].shape)
    if add is None and erase is None:
        raise gr.Error("Paint on the photo first: green adds to the product, red removes.")
    return _cutout_outputs(touchup.touch_up(store, job, add=add, erase=erase), state)


@readable
def on_grow(px: float, state: dict):
    return _cutout_outputs(touchup.touch_up(open_store(), _need_cutout(state), grow_px=int(px)), state)


@readable
def on_feather(px: float, state: dict):
    return _cutout_outputs(touchup.touch_up(open_store(), _need_cutout(state), feather_px=float(px)), state)


@readable
def on_fill(state: dict):
    return _cutout_outputs(touchup.touch_up(open_store(), _need_cutout(state), fill_holes=True), state)


@readable
def on_undo(state: dict):
    return _cutout_outputs(workbench.undo(open_store(), _need_cutout(state)), state)


@readable
def on_reset(state: dict):
    return _cutout_outputs(workbench.reset(open_store(), _need_cutout(state)), state)


@readable
def on_filter(category: str, search: str):
    from studio.ui.scene_thumbnails import gallery

    items = gallery(category, search)
    return [(path, caption) for path, caption, _ in items], [sid for _, _, sid in items]


@readable
def on_scene_select(ids: list[str], evt: gr.SelectData):
    scene = ids[evt.index]
    return scene, f"**Scene:** `{scene}`"


def _cutout_of(state: dict) -> Image.Image | None:
    if not state.get("cutout"):
        return None
    from studio.app.cutout import cutout_result

    res = cutout_result(open_store(), state["cutout"])
    return res["cutout"] if res["ok"] else None


@readable
def on_backdrop(path: str | None, state: dict, light_match: float, category: str, search: str):
    """A backdrop photo uploaded on the page: saved as the seller's scene (once per
    photo), chosen, previewed with the product on its spot, and shown in the gallery."""
    from studio.app.backdrops import BackdropError, preview, scene_for_photo, seller_keeps
    from studio.ui.scene_thumbnails import gallery

    if not path:
        raise gr.Error("Drop a photo of your surface or backdrop.")
    try:
        scene = scene_for_photo(page_file(path, "Upload the backdrop photo here"), Path(path).name)
        seller_keeps(open_store(), scene.id)  # in the gallery, even when a shop sent the same photo first
        shown = preview(scene.id, _cutout_of(state), light_match)
    except BackdropError as exc:
        raise gr.Error(str(exc)) from exc
    note = f"**Scene:** `{scene.id}` (your backdrop) · click the preview where the product should stand"
    items = gallery(category, search)
    return scene.id, note, shown, [(p, c) for p, c, _ in items], [sid for _, _, sid in items]


@readable
def on_spot(scene: str, state: dict, light_match: float, evt: gr.SelectData):
    """A click on the backdrop preview: the product's foot goes there, and the scene keeps it."""
    from studio.app.backdrops import BackdropError, keep_clicked_spot, preview

    try:
        spot = keep_clicked_spot(scene, *evt.index)
        return preview(scene, _cutout_of(state), light_match), f"**Scene:** `{scene}` · the product stands at {spot}"
    except BackdropError as exc:
        raise gr.Error(str(exc)) from exc


@readable
def on_plan(engine: str, variants: float) -> str:
    note = plan_note(engine, int(variants))
    text = f"**Engine:** {note['engine']}"
    if note.get("model"):
        m = note["model"]
        text += f" · **Model:** {m['title']} ({m['licence']}; commercial use: {m['commercial_use']})"
        if not m["allowed"]:
            text += f" · ⚠ {m['licence_line']}"
    if note["plan"]:
        p = note["plan"]
        text += f" · **GPU:** {p['card']} · **VRAM plan:** {p['id']} ({p['note']})"
    if note["engine"] == "cloud":
        text += f" · **Cloud cost:** about {note['cost']:.2f} (at most {note['cost_max']:.2f} with gate retries)"
    if note["engine"] == "classic":
        text += " · no model needed: the classic compositor runs on the CPU"
    return text


def _shots_outputs(res: dict, state: dict) -> tuple:
    captions = []
    for s in res["shots"]:
        score = s.get("scores", {}).get("fidelity")
        gate = s.get("gate", {})
        mark = "★ proposed · " if s["index"] == res["chosen"] else ""
        verdict = "passed" if gate.get("passed") else f"rejected: {gate.get('reason', 'not judged')}"
        if gate.get("caveat"):
            verdict += f" ({gate['caveat']})"
        captions.append(f"{mark}#{s['index'] + 1} · fidelity {score if score is not None else '–'} · {verdict}")
    gallery = [(s["image"], c) for s, c in zip(res["shots"], captions, strict=True)]
    summary = res["summary"]
    rows = ["| # | rank | seed | fidelity | alignment | gate | ΔE | compliance | frame |",
            "|---|---|---|---|---|---|---|---|---|"]
    for v in sorted(summary.get("variants", []), key=lambda v: v["rank"]):
        sc = v["scores"]
        doubtful = "?" if v["gate"].get("caveat") else ""  # against a doubtful cut-out: not a clean pass
        rows.append(f"| {v['index'] + 1} | {v['rank']} | {v['seed']} | {sc['fidelity']}{doubtful} | "
                    f"{sc['alignment'] or '–'} | "
                    f"{('✓' + doubtful) if v['gate']['passed'] else '✗ ' + v['gate']['reason']} | "
                    f"{v['delta_e']['mean'] if v['delta_e'] else '–'} | "
                    f"{('✓' if v['compliance']['ok'] else '✗') + doubtful} | {made_line(v.get('made'))} |")
    note = summary.get("error") or summary.get("reason", "")
    doubt = (summary.get("cutout") or {}).get("advice")
    warn = (f"⚠ {doubt['line']}\n\nFidelity, gate and compliance (marked ?) were "
            f"{(summary.get('cutout') or {}).get('caveat')}.\n\n" if doubt else "")
    md = f"**Job** `{res['job']}` · {note}\n\n{warn}" + "\n".join(rows)
    chosen = res["chosen"] if res["chosen"] is not None else res["shots"][0]["index"]
    state = {**state, "shoot": res["job"], "chosen": chosen, "order": [s["index"] for s in res["shots"]]}
    picked = next(s for s in res["shots"] if s["index"] == chosen)
    return state, gallery, md, (picked["original"], picked["image"]), picked["image"], _chosen_md(chosen)


def _chosen_md(index: int) -> str:
    return f"**Chosen:** variant #{index + 1} (click another to choose it)"


@readable
def on_shoot(state: dict, scene: str, extra: str, engine: str, variants: float, preset: str, upscale: bool,
             light_match: float, reference: str | None, request: gr.Request, progress=gr.Progress()):
    job = _need_cutout(state)
    if not scene:
        raise gr.Error("Pick a scene in the gallery.")
    res = workbench.make_variants(open_store(), job, scene=scene, engine=engine, variants=int(variants),
                                  extra_prompt=extra, preset=preset,
                                  upscale=None if upscale else "off",  # on: the settings' choice (auto by default)
                                  light_match=float(light_match),
                                  reference=page_file(reference, "Upload the reference photo here")
                                  if reference else None,
                                  on_event=tracker(progress, session_of(request), "shoot"))
    return _shots_outputs(res, state)


@readable
def on_cancel(request: gr.Request) -> str:
    job = active_job(session_of(request))
    if not job or get_job(open_store(), job)["status"] in TERMINAL:
        return "Nothing is running."
    cancel(open_store(), job)
    return f"Cancelling job `{job}` …"


@readable
def on_choose(state: dict, evt: gr.SelectData):
    if not state or "shoot" not in state:
        raise gr.Error("Generate variants first.")
    return _choose(state, state["order"][evt.index])


@readable
def on_choose_variant(state: dict, number: float):
    """Choose variant `number` (1-based, as shown in the table)."""
    if not state or "shoot" not in state:
        raise gr.Error("Generate variants first.")
    index = int(number) - 1
    if index not in state["order"]:
        raise gr.Error(f"there is no variant #{int(number)}; choose 1 to {len(state['order'])}")
    return _choose(state, index)


def _choose(state: dict, index: int) -> tuple:
    placed, image = shoot.compare_pair(open_store(), state["shoot"], index)
    return {**state, "chosen": index}, (placed, image), image, _chosen_md(index)


def _adjustments(values: tuple) -> dict:
    return {name: float(v) for (name, *_), v in zip(SLIDERS, values, strict=True)}


@readable
def on_color(state: dict, exposure: float, temperature: float, tint: float, saturation: float, contrast: float,
             auto_white_balance: float):
    values = (exposure, temperature, tint, saturation, contrast, auto_white_balance)
    if not state or "shoot" not in state:
        return None
    picked = shoot.variant_image(open_store(), state["shoot"], state["chosen"])
    return workbench.preview_color(picked, _adjustments(values))


def on_auto() -> list:
    return [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


@readable
def on_export(state: dict, preset: str, exposure: float, temperature: float, tint: float, saturation: float,
              contrast: float, auto_white_balance: float, request: gr.Request, progress=gr.Progress()):
    values = (exposure, temperature, tint, saturation, contrast, auto_white_balance)
    if not state or "shoot" not in state:
        raise gr.Error("Generate variants and choose one first.")
    out = shoot.finish_variant(open_store(), state["shoot"], state["chosen"], adjustments=_adjustments(values),
                               preset=preset, on_event=tracker(progress, session_of(request), "export"))
    comp = out["compliance"]
    lines = [f"**{'Compliant' if comp['ok'] else 'Not compliant'}** with {comp['preset']} ({out['format']}); "
             f"product ΔE2000 after colour matching: {out['delta_e']['mean'] if out['delta_e'] else '–'}",
             *([f"⚠ Fill and purity were {comp['caveat']}: check the mask before trusting this report."]
               if comp.get("caveat") else []),
             "", "| check | ok | value | wanted |", "|---|---|---|---|"]
    for c in comp["checks"]:
        lines.append(f"| {c['check']} | {'✓' if c['ok'] else '✗'} | {c.get('value', '')} | {c.get('want', '')} |")
    return out["path"], "\n".join(lines), gr.update(value=out["path"], visible=True)


@readable
def on_clip(state: dict, preset: str, seconds: float, motion: str, request: gr.Request, progress=gr.Progress()):
    """A classic clip of the chosen variant: the MP4 to play, its animated preview, its checks."""
    from studio.app.clip import CLIP_FACTS, clip_result, submit_clip, write_clip

    if not state or "shoot" not in state:
        raise gr.Error("Generate variants and choose one first.")
    store = open_store()
    job = submit_clip(store, state["shoot"], preset=preset, seconds=float(seconds), motion=motion,
                      variant=state.get("chosen"))
    shoot.run_to_end(store, job, tracker(progress, session_of(request), "clip"))
    folder = data_dir() / "exports"
    path = write_clip(store, job, folder)
    out = clip_result(store, job, only=("preview", *CLIP_FACTS))
    preview = path.with_suffix(".webp")
    preview.write_bytes(out["preview"])
    lines = [f"**{'Ready' if out['report']['ok'] else 'Check the clip'}:** `{path.name}` "
             f"({out['settings']['width']}×{out['settings']['height']}, {out['settings']['fps']} fps)", "",
             "| check | ok | value |", "|---|---|---|"]
    lines += [f"| {c['check']} | {'✓' if c['ok'] else '✗'} | {c['value']} |" for c in out["report"]["checks"]]
    return str(path), str(preview), "\n".join(lines)


@readable
def api_photo_to_export(photo: str, scene: str, engine: str, variants: float, preset: str) -> tuple[list, dict]:
    """One call from upload to exported files (for gradio_client and scripts)."""
    if not photo:
        raise gr.Error("no photo given")
    store = open_store()
    view = workbench.cut_out(_uploaded(photo))
    res = workbench.make_variants(store, view["job"], scene=scene or load_settings().default_scene,
                                  engine=engine or "classic", variants=int(variants or 1), preset=preset or None)
    out = shoot.finish_variant(store, res["job"], res["chosen"], preset=preset or None)
    summary = json.loads(json.dumps(res["summary"], default=str))
    summary.update(export=out["path"], export_job=out["job"], compliance=out["compliance"])
    return [out["path"]], summary


def build() -> None:
    settings = load_settings()
    state = gr.State({})
    scene_ids = gr.State([])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            gr.Markdown("### 1 · Photo")
            files = gr.File(label="Drop product photos (several at once are fine)", file_count="multiple",
                            file_types=["image", ".heic", ".heif"], type="filepath", elem_id="upload")
            paste = gr.Image(label="…or paste one (Ctrl+V)", sources=["clipboard"], type="filepath", height=110,
                             elem_id="paste")
            with gr.Row():
                pick = gr.Dropdown(label="Working on", choices=[], interactive=True, scale=3)
                sample = gr.Button("Try the sample photo", elem_id="sample", scale=2)
            cut_img = gr.Image(label="Cut-out", type="pil", interactive=False, elem_id="cutout", height=320)
            cut_info = gr.Markdown("Drop a product photo to start.", elem_id="cutout-info")
            model_fix = gr.Button("Cut out with a model", visible=False, elem_id="cutout-model")
        with gr.Column(scale=2, min_width=420):
            gr.Markdown("### 2 · Touch up the mask  \nPaint **green** to add to the product, **red** to remove; "
                        "then *Apply strokes*. Dimmed blue areas are left out.")
            editor = gr.ImageEditor(label="Mask touch-up", type="numpy", image_mode="RGBA", sources=(),
                                    transforms=(), layers=False, elem_id="editor", height=420,
                                    brush=gr.Brush(colors=["#22c55e", "#ef4444"], default_color="#22c55e",
                                                   color_mode="fixed", default_size=24),
                                    eraser=gr.Eraser(default_size=24))
            with gr.Row():
                apply_btn = gr.Button("Apply strokes", variant="primary", elem_id="apply-strokes")
                undo_btn = gr.Button("Undo", elem_id="undo")
                reset_btn = gr.Button("Reset", elem_id="reset")
                fill_btn = gr.Button("Fill holes")
            with gr.Row():
                grow = gr.Slider(-20, 20, value=2, step=1, label="Grow (+) / shrink (−), px")
                grow_btn = gr.Button("Grow/shrink")
                feather = gr.Slider(0.5, 10, value=1.5, step=0.5, label="Feather, px")
                feather_btn = gr.Button("Feather")

    gr.Markdown("### 3 · Scene")
    with gr.Row():
        category = gr.Radio(CATEGORIES, value="all", label="Category", scale=3)
        search = gr.Textbox(label="Search", placeholder="marble, window, holiday…", scale=2)
    scenes = gr.Gallery(label="Scenes", columns=8, height=340, allow_preview=False, object_fit="contain", fit_columns=False, elem_id="scenes")
    scene = gr.Textbox(value=settings.default_scene, visible=False)
    scene_md = gr.Markdown(f"**Scene:** `{settings.default_scene}`", elem_id="scene-chosen")
    with gr.Accordion("Your own backdrop, or a photo to match", open=False, elem_id="own-backdrop"):
        with gr.Row(equal_height=False):
            backdrop = gr.Image(label="Your backdrop photo (your surface, shelf or workbench)", type="filepath",
                                sources=["upload"], height=220, elem_id="backdrop-upload")
            backdrop_view = gr.Image(label="Preview: click where the product should stand", type="pil",
                                     interactive=False, height=320, elem_id="backdrop-preview")
            reference = gr.Image(label="Reference photo (optional): a scene like this", type="filepath",
                                 sources=["upload"], height=220, elem_id="reference-upload")
    extra = gr.Textbox(label="Extra words for the prompt (optional; the product-preservation rules always stay)")

    gr.Markdown("### 4 · Generate")
    with gr.Row():
        engines = engine_choices()
        engine = gr.Dropdown(engines, value=settings.engine if settings.engine in engines else "auto",
                             label="Engine", elem_id="engine")
        variants = gr.Slider(1, 8, value=settings.default_variants, step=1, label="Variants", elem_id="variants")
        preset = gr.Dropdown([(p.title, p.id) for p in PRESETS.values()], value=settings.default_preset,
                             label="Marketplace preset", elem_id="preset")
        upscale = gr.Checkbox(value=settings.upscale != "off", label="Upscale (sharp at export size)",
                              info="off: the product's pixels exactly the photo's, resampled", elem_id="upscale")
        light_match = gr.Slider(0, 1, value=settings.light_match, step=0.1, label="Light match",
                                info="the product's shading follows the scene's light; its colour stays (0: its "
                                     "own pixels)", elem_id="light-match")
    plan_md = gr.Markdown(elem_id="plan")
    with gr.Row():
        go = gr.Button("Generate variants", variant="primary", elem_id="generate")
        cancel = gr.Button("Cancel", variant="stop", elem_id="cancel")
    cancel_md = gr.Markdown()
    shots = gr.Gallery(label="Variants (click to choose)", columns=4, height=360, allow_preview=False, object_fit="contain", fit_columns=False,
                       elem_id="variants-gallery")
    shots_md = gr.Markdown(elem_id="variants-table")
    chosen_md = gr.Markdown(elem_id="chosen")
    compare = gr.ImageSlider(label="Original product, where it was placed ↔ chosen variant", type="pil", elem_id="compare")

    gr.Markdown("### 5 · Colour and export")
    with gr.Row(equal_height=False):
        with gr.Column():
            sliders = [gr.Slider(lo, hi, value=0.0, step=step, label=name.replace("_", " "),
                                 elem_id=f"color-{name}") for name, lo, hi, step in SLIDERS]
            auto = gr.Button("Auto (white balance)")
        preview = gr.Image(label="Preview", type="pil", interactive=False, elem_id="color-preview")
    export_btn = gr.Button("Export", variant="primary", elem_id="export")
    with gr.Row():
        export_file = gr.File(label="Exported file", interactive=False, elem_id="export-file")
        download = gr.DownloadButton("Download", visible=False, elem_id="download")
    compliance = gr.Markdown(elem_id="compliance")

    gr.Markdown("### 6 · Make a clip")
    with gr.Row(equal_height=False):
        with gr.Column():
            from studio.clips.presets import CLIP_PRESETS

            clip_preset = gr.Dropdown([(p.title, p.id) for p in CLIP_PRESETS.values()], value="reels",
                                      label="Where it goes", elem_id="clip-preset")
            clip_seconds = gr.Slider(4, 8, value=6, step=1, label="Seconds", elem_id="clip-seconds")
            clip_motion = gr.Radio(["push-in", "orbit"], value="push-in", label="Camera", elem_id="clip-motion")
            clip_btn = gr.Button("Make a clip", variant="primary", elem_id="make-clip")
        clip_preview = gr.Image(label="Preview", type="filepath", interactive=False, elem_id="clip-preview")
        clip_video = gr.Video(label="Clip (MP4)", interactive=False, elem_id="clip-video")
    clip_md = gr.Markdown(elem_id="clip-report")

    # every main action is a named API endpoint too (gradio_client keeps the session's state)
    cut_outs = [state, cut_img, cut_info, editor, model_fix]
    files.upload(on_photos, [files, state], [pick, *cut_outs], api_name="upload")
    pick.input(on_pick, [pick, state], cut_outs, api_name="pick_photo")
    paste.upload(on_paste, [paste, state], [pick, *cut_outs], api_visibility="private")
    sample.click(on_sample, [state], [pick, *cut_outs], api_name="sample_photo")
    apply_btn.click(on_strokes, [editor, state], cut_outs, api_name="apply_strokes")
    grow_btn.click(on_grow, [grow, state], cut_outs, api_name="grow_mask")
    feather_btn.click(on_feather, [feather, state], cut_outs, api_name="feather_mask")
    fill_btn.click(on_fill, [state], cut_outs, api_name="fill_holes")
    undo_btn.click(on_undo, [state], cut_outs, api_name="undo_touchup")
    reset_btn.click(on_reset, [state], cut_outs, api_name="reset_touchup")
    model_fix.click(on_model_cutout, [state], cut_outs, api_name="model_cutout")
    category.change(on_filter, [category, search], [scenes, scene_ids], api_name="scenes")
    search.submit(on_filter, [category, search], [scenes, scene_ids], api_visibility="private")
    scenes.select(on_scene_select, [scene_ids], [scene, scene_md], api_visibility="private")
    engine.change(on_plan, [engine, variants], plan_md, api_name="plan")
    variants.release(on_plan, [engine, variants], plan_md, api_visibility="private")
    backdrop.upload(on_backdrop, [backdrop, state, light_match, category, search],
                    [scene, scene_md, backdrop_view, scenes, scene_ids], api_name="backdrop")
    backdrop_view.select(on_spot, [scene, state, light_match], [backdrop_view, scene_md], api_visibility="private")
    go.click(on_shoot, [state, scene, extra, engine, variants, preset, upscale, light_match, reference],
             [state, shots, shots_md, compare, preview, chosen_md], api_name="generate")
    cancel.click(on_cancel, None, cancel_md, api_name="cancel")
    shots.select(on_choose, [state], [state, compare, preview, chosen_md], api_visibility="private")
    for s in sliders:
        s.change(on_color, [state, *sliders], preview, trigger_mode="always_last", show_progress="hidden",
                 api_visibility="private")
    auto.click(on_auto, None, sliders, api_visibility="private")
    export_btn.click(on_export, [state, preset, *sliders], [export_file, compliance, download], api_name="export")
    clip_btn.click(on_clip, [state, clip_preset, clip_seconds, clip_motion], [clip_video, clip_preview, clip_md],
                   api_name="make_clip")

    # headless API: choosing by number, and one call from photo to exported file
    with gr.Row(visible=False):
        api_number = gr.Number(precision=0)
        api_choose = gr.Button()
    api_choose.click(on_choose_variant, [state, api_number], [state, compare, preview, chosen_md],
                     api_name="choose_variant")
    with gr.Row(visible=False):
        api_photo = gr.File(type="filepath")
        api_files = gr.Files()
        api_summary = gr.JSON()
        api_btn = gr.Button()
    api_btn.click(api_photo_to_export, [api_photo, scene, engine, variants, preset], [api_files, api_summary],
                  api_name="shoot")
    return scenes, scene_ids, plan_md, category, search, engine, variants
