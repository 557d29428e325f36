"""The Settings tab: cloud provider and key (masked, stored owner-only), budget and
the ledger, data dir, defaults, theme, and the job API's keys."""

from __future__ import annotations

import datetime as dt

import gradio as gr

from studio.app.context import ledger, open_store
from studio.config import data_dir, load_settings, save_settings, settings_path
from studio.imaging.export import PRESETS
from studio.secrets import load_key, masked, save_key
from studio.ui.views import readable, table

LEDGER_COLUMNS = ["when", "job_id", "kind", "amount", "provider", "note"]


@readable
def on_ledger():
    led = ledger(open_store())
    rows = led.entries(limit=100)
    for r in rows:
        r["when"] = dt.datetime.fromtimestamp(r["created_at"]).strftime("%Y-%m-%d %H:%M")
    avail = led.available()
    md = (f"**Spent:** {led.spent():.2f} · **held for running jobs:** {led.hold():.2f} · **left of the budget:** "
          f"{'unlimited' if avail is None else f'{avail:.2f}'}")
    problems = led.problems()
    if problems:
        md += "\n\n**The ledger does not balance:**\n" + "\n".join(f"- {p}" for p in problems)
    return md, table(rows, LEDGER_COLUMNS)


@readable
def on_save(provider: str, key: str, budget: float, policy: str, variants: float, steps: float, preset: str,
            scene: str, theme: str, usage: str | None = None, light_match: float | None = None):
    settings = load_settings()
    if usage:
        settings.usage = usage
    if light_match is not None:
        settings.light_match = min(max(float(light_match), 0.0), 1.0)
    settings.cloud_provider, settings.cloud_policy = provider, policy
    settings.budget = float(budget)
    settings.default_variants, settings.default_steps = int(variants), int(steps)
    settings.default_preset, settings.default_scene, settings.theme = preset, scene, theme
    save_settings(settings)
    msg = f"Saved to `{settings_path()}`."
    if key and key.strip():
        save_key(provider, key.strip())
        msg += " The key is stored readable by you only."
    if theme != "light":
        msg += " The theme applies when the app next starts."
    return msg, "", masked(load_key(provider)), *on_ledger()


KEY_COLUMNS = ["id", "name", "created", "last used", "state"]


def _when(t) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "-"


@readable
def on_keys():
    from studio.api import keys

    rows = [{"id": r["id"], "name": r["name"], "created": _when(r["created_at"]), "last used": _when(r["last_used_at"]),
             "state": f"revoked {_when(r['revoked_at'])}" if r["revoked_at"] else "active"}
            for r in keys.list_keys(open_store()) if r["id"] != "loopback"]
    return table(rows, KEY_COLUMNS)


@readable
def on_create_key(name: str):
    from studio.api import keys

    try:
        key_id, key, secret = keys.create(open_store(), name or "")
    except ValueError as exc:
        return f"Not created: {exc}.", "", on_keys()
    return (f"Key `{key_id}` created. Copy it now: it is shown this once (Studio keeps only its hash). "
            f"Its webhook secret signs the callbacks of its jobs: `{secret}`"), key, on_keys()


@readable
def on_revoke_key(key_id: str):
    from studio.api import keys

    done = keys.revoke(open_store(), (key_id or "").strip())
    return (f"Key `{key_id}` revoked." if done else f"No active key `{key_id}`."), on_keys()


def build() -> None:
    from studio.app.backdrops import page_scenes

    s = load_settings()
    with gr.Row():
        provider = gr.Dropdown(["bfl"], value=s.cloud_provider, label="Cloud provider")
        key = gr.Textbox(label="API key (stored owner-only; leave empty to keep the current one)", type="password",
                         elem_id="api-key")
        key_now = gr.Textbox(label="Stored key", value=masked(load_key(s.cloud_provider)), interactive=False,
                             elem_id="api-key-masked")
    with gr.Row():
        policy = gr.Radio(["local-only", "cloud-fallback", "cloud-only"], value=s.cloud_policy, label="Cloud use")
        budget = gr.Number(value=s.budget, label="Budget (the price table's currency)")
    with gr.Row():
        variants = gr.Slider(1, 8, value=s.default_variants, step=1, label="Default variants")
        steps = gr.Slider(4, 50, value=s.default_steps, step=1, label="Default steps (FLUX.1 Fill; the other models use their own)")
        preset = gr.Dropdown(list(PRESETS), value=s.default_preset, label="Default preset")
        scene = gr.Dropdown(sorted(page_scenes(open_store())), value=s.default_scene, label="Default scene")
        theme = gr.Radio(["light", "dark", "system"], value=s.theme, label="Theme")
    usage = gr.Radio(["commercial", "personal"], value=s.usage, elem_id="usage",
                     label="What the pictures are for (auto never picks a model whose licence forbids it)")
    light_match = gr.Slider(0, 1, value=s.light_match, step=0.1, elem_id="settings-light-match",
                            label="Light match by default (the product's shading follows the scene's light; its "
                                  "colour stays; 0: its own pixels)")
    gr.Markdown(f"**Data dir:** `{data_dir()}` (set `STUDIO_HOME` to move it) · **settings:** `{settings_path()}`")
    save = gr.Button("Save settings", variant="primary")
    saved = gr.Markdown()
    spent = gr.Markdown()
    grid = gr.Dataframe(headers=LEDGER_COLUMNS, interactive=False, label="Ledger (newest first)")
    save.click(on_save, [provider, key, budget, policy, variants, steps, preset, scene, theme, usage, light_match],
               [saved, key, key_now, spent, grid], api_name="save_settings")
    with gr.Accordion("Job API keys (/api/v1)", open=False):
        keys_grid = gr.Dataframe(value=on_keys, headers=KEY_COLUMNS, interactive=False, label="Keys")
        with gr.Row():
            key_name = gr.Textbox(label="New key's name", elem_id="api-key-name")
            create = gr.Button("Create key")
            revoke_id = gr.Textbox(label="Key id to revoke", elem_id="api-key-revoke")
            revoke = gr.Button("Revoke key")
        key_msg = gr.Markdown()
        new_key = gr.Textbox(label="The new key (shown once)", interactive=False, elem_id="api-key-new")
        create.click(on_create_key, [key_name], [key_msg, new_key, keys_grid], api_name="create_api_key")
        revoke.click(on_revoke_key, [revoke_id], [key_msg, keys_grid], api_name="revoke_api_key")
    return spent, grid
