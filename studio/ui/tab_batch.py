"""The Batch tab: a folder or CSV of SKUs (a path on this machine, or uploaded
photos) → scene and preset for the batch (a CSV may set them per row) → progress,
pause/resume/cancel, results, zip. It drives studio/app/batch.py in a background thread;
the batch's state lives in SQLite, so closing the browser loses nothing."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import gradio as gr

from studio.app import batch as batches
from studio.app.batch_cluster import continue_batch
from studio.app.context import open_store
from studio.app.engines import engine_choices
from studio.config import data_dir, load_settings
from studio.paths import safe_name, unique_path
from studio.ui.served import is_served
from studio.ui.uploads import page_file
from studio.ui.views import readable, table

_runners: dict[str, threading.Thread] = {}
_lock = threading.Lock()


def _run_in_background(batch_id: str) -> None:
    with _lock:
        t = _runners.get(batch_id)
        if t is not None and t.is_alive():
            return
        # a batch started on a Ray cluster (by the CLI) continues on its cluster
        t = threading.Thread(target=continue_batch, args=(open_store(), batch_id), daemon=True,
                             name=f"batch-{batch_id}")
        _runners[batch_id] = t
        t.start()


def _source(path: str, files: list[str] | None) -> Path:
    if path and path.strip():
        # whether it exists is told by create_batch, and only inside the folders the page may read
        return Path(path.strip()).expanduser()
    if not files:
        raise gr.Error("Give a folder or CSV path, or upload the photos (one SKU per photo).")
    uploaded = [page_file(f, "Upload the photos here") for f in files]  # checked before a folder is made
    # uploaded photos become a folder input: one SKU per file, named after the file
    folder = data_dir() / "uploads" / f"batch-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[Path] = set()
    for f in uploaded:
        name = safe_name(f.name) or "photo"
        shutil.copyfile(f, unique_path(folder / name, taken))
    return folder


@readable
def on_start(path: str, files: list[str] | None, out: str, scene: str, preset: str, engine: str, variants: float,
             clip: str = "", backdrop: str | None = None, light_match: float = 0.0, hold_doubtful: bool = False):
    backdrop_file = page_file(backdrop, "Upload the backdrop photo here") if backdrop else None
    src = _source(path, files)
    name = safe_name(src.stem) or "batch"
    out_dir = Path(out.strip()).expanduser() if out and out.strip() else data_dir() / "batches" / name
    store = open_store()
    # the page reads only uploads and the folders named in Settings, and writes only there
    # or in the data dir: whoever can reach the page must not reach the rest of the disk
    bid = batches.create_batch(store, src, out_dir, scene=scene or None, preset=preset or None, engine=engine,
                               variants=int(variants), roots=batches.app_read_roots(),
                               out_roots=batches.app_write_roots(), clip=clip or None,
                               backdrop=backdrop_file, light_match=float(light_match or 0),
                               hold_doubtful=bool(hold_doubtful))
    _run_in_background(bid)
    return bid, *on_status(bid)


@readable
def on_status(batch_id: str):
    if not batch_id:
        return "No batch yet.", [], [], gr.update(visible=False)
    store = open_store()
    s = batches.batch_summary(store, batch_id)
    items = batches.batch_items(store, batch_id)
    done = s["done"] + s["failed"] + s["held"]
    held = f", {s['held']} held for review: doubtful cut-out" if s["held"] else ""
    md = (f"**Batch `{batch_id}`: {s['status']}** — {done}/{s['items']} finished ({s['done']} done, "
          f"{s['failed']} failed{held}) → `{s['out']}`")
    rows = [{"sku": i["sku"], "status": i["status"], "photo": Path(i["photo"]).name, "node": i["node"],
             "files": ", ".join((i["result"] or {}).get("files", [])), "error": i["error"]} for i in items]
    # which machine shot each SKU, for a batch run on a cluster
    columns = ["sku", "status", "photo", *(["node"] if any(i["node"] for i in items) else []), "files", "error"]
    shots = []
    for i in items:
        for f in (i["result"] or {}).get("files", [])[:1]:
            p = Path(s["out"]) / f
            if p.is_file() and len(shots) < 40:
                shots.append((str(_servable(p)), i["sku"]))
    zip_ready = Path(s["zip"]).is_file() and s["status"] in ("done", "cancelled")
    if zip_ready:
        md += f"\n\nZip: `{s['zip']}` · report: `{s['report']}`"
    # the app serves only its own folders; a zip saved elsewhere is opened from disk
    served = zip_ready and is_served(Path(s["zip"]))
    return md, {"headers": columns, "data": table(rows, columns)}, shots, gr.update(
        value=s["zip"] if served else None, visible=served)


def _servable(path: Path) -> Path:
    """The image itself when the app serves its folder; else a small copy in its cache."""
    if is_served(path):
        return path
    import hashlib

    from PIL import Image

    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    thumb = data_dir() / "cache" / "batch-thumbnails" / f"{key}.jpg"
    if not thumb.is_file():
        thumb.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((384, 384))
            im.save(thumb, quality=85)
    return thumb


def _set(batch_id: str, status: str):
    if not batch_id:
        raise gr.Error("Start a batch first.")
    batches.set_status(open_store(), batch_id, status)
    if status == "running":
        _run_in_background(batch_id)
    return on_status(batch_id)


@readable
def on_pause(batch_id: str):
    return _set(batch_id, "paused")


@readable
def on_resume(batch_id: str):
    return _set(batch_id, "running")


@readable
def on_cancel(batch_id: str):
    return _set(batch_id, "cancelled")


def build() -> None:
    from studio.app.backdrops import page_scenes
    from studio.imaging.export import PRESETS

    with gr.Row():
        path = gr.Textbox(label="Folder of photos, or a CSV (sku, image, scene, preset, variants, notes)",
                          placeholder="/home/me/catalog or /home/me/catalog.csv", scale=3)
        files = gr.File(label="…or upload photos (one SKU each)", file_count="multiple", type="filepath", scale=2)
    with gr.Row():
        out = gr.Textbox(label="Output folder (default: <data dir>/batches/<name>)")
        scene = gr.Dropdown([""] + sorted(page_scenes(open_store())), value="", label="Scene (CSV rows may set their own)")
        preset = gr.Dropdown([""] + list(PRESETS), value="", label="Preset (CSV rows may set their own)")
        engine = gr.Dropdown(engine_choices(), value="classic", label="Engine")
        variants = gr.Slider(1, 8, value=1, step=1, label="Variants per SKU")
        clip = gr.Dropdown([("none", ""), ("Reels 9:16", "reels"), ("Square 1:1", "square"),
                            ("Listing 16:9", "listing")], value="", label="Clip of each SKU")
    with gr.Row():
        backdrop = gr.Image(label="One backdrop photo for every SKU (optional: each stands on the same spot; a CSV's "
                                  "size_cm keeps their size relations)", type="filepath", sources=["upload"],
                            height=180, elem_id="batch-backdrop")
        light_match = gr.Slider(0, 1, value=load_settings().light_match, step=0.1, label="Light match",
                                elem_id="batch-light-match")
        hold = gr.Checkbox(False, label="Hold SKUs with a doubtful cut-out for review (not exported)",
                           elem_id="batch-hold-doubtful")
    batch_id = gr.Textbox(label="Batch", interactive=False)
    with gr.Row():
        start = gr.Button("Start batch", variant="primary")
        pause = gr.Button("Pause")
        resume = gr.Button("Resume")
        cancel = gr.Button("Cancel", variant="stop")
    status = gr.Markdown()
    grid = gr.Dataframe(headers=["sku", "status", "photo", "files", "error"], interactive=False)
    shots = gr.Gallery(label="Results", columns=8, height=240, allow_preview=True, object_fit="contain", fit_columns=False)
    zip_file = gr.DownloadButton("Download batch.zip", visible=False)
    outs = [status, grid, shots, zip_file]
    start.click(on_start, [path, files, out, scene, preset, engine, variants, clip, backdrop, light_match, hold],
                [batch_id, *outs],
                api_name="batch_start")
    pause.click(on_pause, [batch_id], outs, api_name="batch_pause")
    resume.click(on_resume, [batch_id], outs, api_name="batch_resume")
    cancel.click(on_cancel, [batch_id], outs, api_name="batch_cancel")
    timer = gr.Timer(2.0)
    timer.tick(on_status, [batch_id], outs, api_name="batch_status", show_progress="hidden")
