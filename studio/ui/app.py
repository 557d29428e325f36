"""The Gradio Blocks app."""

from __future__ import annotations

import gradio as gr

from studio.config import load_settings
from studio.imaging.io import IngestError, ingest_file


def _ingest(path: str | None):
    if not path:
        return None, "Drop a product photo to start."
    try:
        img = ingest_file(path, load_settings().limits)
    except IngestError as exc:
        return None, f"**Cannot use this file.** {exc.message}"
    notes = "".join(f"\n- {n}" for n in img.notes)
    return img.image, f"{img.size[0]}×{img.size[1]} {img.mode}, from {img.source_format}{notes}"


def build_app() -> gr.Blocks:
    with gr.Blocks(title="Studio") as app:
        gr.Markdown("# Studio\nProduct photos, shot on your own machine.")
        with gr.Row():
            upload = gr.File(label="Product photo", file_types=["image"], type="filepath")
            preview = gr.Image(label="Normalised", type="pil", interactive=False)
        status = gr.Markdown("Drop a product photo to start.")
        upload.change(_ingest, inputs=upload, outputs=[preview, status], api_name="ingest")
    return app
