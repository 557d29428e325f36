"""The Gradio Blocks app: five tabs, each its own module; they call the same service
functions as the CLI."""

from __future__ import annotations

import gradio as gr

import studio
from studio.shipped import shipped_dir
from studio.ui import tab_batch, tab_history, tab_models, tab_settings, tab_studio

ASSETS = shipped_dir("assets")
CSS = ASSETS / "studio.css"


def theme() -> gr.themes.Base:
    """Calm neutrals and one accent: the photos carry the colour."""
    return gr.themes.Soft(
        primary_hue=gr.themes.colors.indigo, secondary_hue=gr.themes.colors.slate,
        neutral_hue=gr.themes.colors.slate, radius_size=gr.themes.sizes.radius_md,
        font=[gr.themes.Font("system-ui"), gr.themes.Font("Segoe UI"), gr.themes.Font("Roboto"), "sans-serif"],
    ).set(block_title_text_weight="600", button_primary_text_color="white")


def theme_js(name: str) -> str | None:
    """Light or dark as chosen in Settings (system: leave it to the browser)."""
    if name == "system":
        return None
    add = "add" if name == "dark" else "remove"
    return f"() => {{ document.body.classList.{add}('dark'); }}"


def build_app() -> gr.Blocks:
    with gr.Blocks(title="Studio") as app:
        gr.Markdown("# Studio\nProduct photos, shot on your own machine.", elem_id="header")
        with gr.Tabs():
            with gr.Tab("Studio", id="studio"):
                scenes, scene_ids, plan_md, category, search, engine, variants = tab_studio.build()
            with gr.Tab("History", id="history") as history_tab:
                _, status, history_outs = tab_history.build()
            with gr.Tab("Batch", id="batch"):
                tab_batch.build()
            with gr.Tab("Models", id="models") as models_tab:
                models_grid = tab_models.build()
            with gr.Tab("Settings", id="settings") as settings_tab:
                spent, ledger_grid = tab_settings.build()
        # filled on load (and when a tab is opened) so the page itself comes up at once
        app.load(tab_studio.on_filter, [category, search], [scenes, scene_ids], api_visibility="private")
        app.load(tab_studio.on_plan, [engine, variants], plan_md, api_visibility="private")
        history_tab.select(tab_history.on_list, [status], history_outs, api_visibility="private")
        models_tab.select(tab_models.on_models, None, models_grid, api_name="models")
        settings_tab.select(tab_settings.on_ledger, None, [spent, ledger_grid], api_name="ledger")
        gr.Markdown(f"Studio {studio.__version__}", elem_id="version")  # the one version, as `studio --version`
    return app
