"""The Models tab: the GPU and its VRAM plan, installed models with sizes, download
(with progress), remove, and a plan override."""

from __future__ import annotations

import gradio as gr

from studio.app import engines
from studio.config import load_settings
from studio.ui.views import readable, table

COLUMNS = ["id", "kind", "installed", "status", "size_gb", "vram_gb", "licence", "commercial_use", "licence_note",
           "licence_url", "repo_id", "path"]


@readable
def on_models():
    return table(engines.model_table(), COLUMNS)


@readable
def on_detect() -> str:
    gpu = engines.gpu_report()  # imports torch: only on request
    card, chosen = gpu["card"], gpu["chosen"]
    head = (f"**GPU:** {card['name']}, {card['total_gb']:.1f} GB ({card['free_gb']:.1f} GB free), compute "
            f"{card['capability']}" if card else "**GPU:** none found (CUDA unavailable): "
            "the classic engine and the CPU cut-out work; local models would take minutes per step")
    lines = [head, f"**Plan in use:** `{chosen}`" + (" (fits each model's plan to the card)" if chosen == "auto"
                                                     else " (set here)")]
    for m in gpu["models"].values():
        p = m["plan"]
        lines += ["", f"**{m['title']} at 1024²:** " + (f"`{p['id']}` — {p['note']}" if p else
                                                        "no plan runs on this card"),
                  "", "| plan | needs | offload | quantization | packages |", "|---|---|---|---|---|"]
        lines += [f"| {q['id']} | {q['min_vram_gb']:g} GB | {q['offload'] or '–'} | {q['quantization'] or '–'} | "
                  f"{', '.join(q['needs']) or '–'} |" for q in m["plans"]]
    return "\n".join(lines)


@readable
def on_download(model_id: str, token: str, progress=gr.Progress(track_tqdm=True)):
    if not model_id:
        raise gr.Error("Pick a model to download.")
    if progress is not None:
        progress(0, desc=f"downloading {model_id} ({engines.model_size_gb(model_id)} GB)")
    path = engines.download(model_id, token=token.strip() or None)
    return f"Installed {model_id} in `{path}`. {engines.licence_line(model_id)}", on_models()


@readable
def on_remove(model_id: str):
    if not model_id:
        raise gr.Error("Pick a model to remove.")
    path = engines.remove(model_id)
    return f"Removed {model_id} (`{path}`).", on_models()


@readable
def on_plan(plan: str) -> str:
    engines.set_plan(plan)
    return f"VRAM plan set to `{plan}`; the next FLUX shoot uses it."


def build() -> None:
    gpu = gr.Markdown("Click *Detect GPU* to see the card and its VRAM plan.", elem_id="gpu")
    detect = gr.Button("Detect GPU")
    grid = gr.Dataframe(headers=COLUMNS, interactive=False, elem_id="models-table")
    with gr.Row():
        model = gr.Dropdown(engines.model_ids(), label="Model")
        token = gr.Textbox(label="Hugging Face token (gated models)", type="password")
        get = gr.Button("Download", variant="primary")
        drop = gr.Button("Remove", variant="stop")
    with gr.Row():
        plan = gr.Dropdown(engines.plan_choices(), value=load_settings().vram_plan, label="VRAM plan")
        set_plan = gr.Button("Use this plan")
    result = gr.Markdown()
    detect.click(on_detect, None, gpu, api_name="gpu")
    get.click(on_download, [model, token], [result, grid], api_name="download_model")
    drop.click(on_remove, [model], [result, grid], api_name="remove_model")
    set_plan.click(on_plan, [plan], result, api_name="set_plan")
    return grid
