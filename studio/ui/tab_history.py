"""The History tab: past jobs with thumbnails; one job's stages, seeds, scores and
artifacts; retry, replay from a stage with changed parameters, delete; the review
queue of gated jobs."""

from __future__ import annotations

import datetime as dt
import json

import gradio as gr

from studio.app import history, review
from studio.app.context import ledger, open_store, run_jobs
from studio.app.shoot import chosen_image
from studio.ui.uploads import page_file
from studio.ui.views import readable, table

COLUMNS = ["id", "status", "recipe", "title", "scene", "engine", "when", "wall_s", "cost", "error"]


@readable
def on_list(status: str):
    store = open_store()
    rows = history.list_jobs(store, limit=60, status=None if status in ("all", "") else status)
    for r in rows:
        r["when"] = dt.datetime.fromtimestamp(r["created_at"]).strftime("%Y-%m-%d %H:%M")
        r["wall_s"] = round(r["wall_s"], 1) if r["wall_s"] else ""
        r["cost"] = round(r["cost"] or 0.0, 4)
    thumbs = []
    for r in rows[:24]:
        img = chosen_image(store, r["id"])
        if img is not None:
            img = img.copy()
            img.thumbnail((256, 256))
            thumbs.append((img, f"{r['id']} · {r['status']}"))
    queue = review.review_queue(store)
    qmd = "\n".join(f"- `{q['job']}` {q['title']} ({q['scene']}, {q['engine']}): {q['why']}; "
                     + ", ".join(f"#{r['index'] + 1} fidelity {r['fidelity']}" for r in q["ranking"])
                     for q in queue)
    return table(rows, COLUMNS), thumbs, qmd or "Nothing waits for review.", gr.update(
        choices=[r["id"] for r in rows])


@readable
def on_open(job_id: str):
    if not job_id:
        raise gr.Error("Pick a job (click a row or type its id).")
    store = open_store()
    d = history.job_detail(store, job_id.strip())
    lines = [f"### Job `{d['id']}` — {d['status']}", f"{d['recipe']} · {d['title']} · scene {d['scene']} · "
             f"engine {d['engine']} · cost {round(d['cost'] or 0, 4)}"
             + (f" · ran on **{d['node']}** (cluster worker)" if d.get("node") else "")]
    if d["error"]:
        lines.append(f"\n**Failed at {d['failed_stage']}:** {d['error']}")
    lines += ["", "| stage | status | attempt | s | note |", "|---|---|---|---|---|"]
    for s in d["stages"]:
        note = s["error"] or ("reused" if s["reused_from"] else "") or (s["waiting_for"] or "")
        lines.append(f"| {s['key']} | {s['status']} | {s['attempt']} | "
                     f"{round(s['duration_s'], 2) if s['duration_s'] else ''} | {note} |")
    if d["variants"]:
        lines += ["", "| variant | seed | fidelity | gate | alignment | frame |", "|---|---|---|---|---|---|"]
        for v in d["variants"]:
            fid = v.get("fidelity", {}) or {}
            lines.append(f"| {v['index'] + 1} | {v['seed']} | {fid.get('score', '')} | "
                         f"{'✓' if (v.get('gate') or {}).get('passed') else (v.get('gate') or {}).get('reason', '')} "
                         f"| {v.get('alignment') or ''} | {history.made_line(v.get('made'))} |")
    clip = next((s for s in d["stages"] if s["stage"] == "clip" and s["status"] == "done"), None)
    if clip:
        c, report = clip["outputs"]["settings"], clip["outputs"]["report"]
        lines += ["", f"**Clip:** {c['preset']} {c['width']}×{c['height']}, {c['seconds']:g} s at {c['fps']} fps, "
                      f"{c['motion']}, {c['engine']}, seed {c['seed']}, variant {c['variant'] + 1} — "
                      + ("all checks pass" if report["ok"] else "fails: " + ", ".join(
                          x["check"] for x in report["checks"] if not x["ok"]))]
    images = []
    for img, key in history.stage_images(store, d):
        img = img.copy()
        img.thumbnail((384, 384))
        images.append((img, key))
    stages = sorted({s["key"] for s in d["stages"]} | {s["stage"] for s in d["stages"]})
    params = json.dumps({k: v for k, v in d["params"].items() if k not in ("photo",)}, indent=1, default=str)
    return "\n".join(lines), images, gr.update(choices=stages, value=None), params


@readable
def on_retry(job_id: str):
    store = open_store()
    history.retry(store, job_id, ledger(store))
    run_jobs([job_id], store=store)
    return f"Retried `{job_id}`: now {history.get_job(store, job_id)['status']}."


@readable
def on_replay(job_id: str, stage: str, overrides: str):
    if not stage:
        raise gr.Error("Pick the stage to replay from.")
    try:
        changed = json.loads(overrides) if overrides.strip() else {}
    except json.JSONDecodeError as exc:
        raise gr.Error(f"Changed parameters must be JSON, e.g. {{\"scene\": \"marble\"}}: {exc.msg}") from None
    if not isinstance(changed, dict):
        raise gr.Error('Changed parameters must be a JSON object, e.g. {"scene": "marble"}')
    store = open_store()
    current = history.job_params(store, job_id)
    diff = {k: v for k, v in changed.items() if current.get(k) != v}
    for name in ("reference", *history.PHOTO_KEYS):  # a path or digest from the browser: only a page upload
        if diff.get(name) or (name == "photo" and name in diff):
            path = page_file(diff[name], f"Upload the {'product' if name == 'photo' else name} photo on the Studio tab")
            diff[name] = str(path) if name == "reference" else path  # a Path: a file to keep, not a digest
    new = history.replay(store, job_id, stage, diff, ledger(store))
    run_jobs([new], store=store)
    return f"Replayed from `{stage}` as job `{new}`: {history.get_job(store, new)['status']}."


@readable
def on_delete(job_id: str):
    history.delete(open_store(), job_id)
    return f"Deleted `{job_id}`."


@readable
def on_accept(job_id: str, variant: float):
    store = open_store()
    review.accept(store, job_id, int(variant) - 1)
    run_jobs([job_id], store=store)
    return f"Accepted variant #{int(variant)} of `{job_id}`: {history.get_job(store, job_id)['status']}."


@readable
def on_reject(job_id: str, note: str):
    store = open_store()
    review.reject(store, job_id, note)
    run_jobs([job_id], store=store)
    return f"Rejected `{job_id}`; nothing more is spent (what the provider billed stays charged)."


def build() -> gr.Dataframe:
    with gr.Row():
        status = gr.Radio(["all", "done", "failed", "waiting", "running", "queued", "cancelled"], value="all",
                          label="Status")
        refresh = gr.Button("Refresh", elem_id="history-refresh")
    thumbs = gr.Gallery(label="Recent shots", columns=8, height=200, allow_preview=False, object_fit="contain", fit_columns=False, elem_id="history-thumbs")
    grid = gr.Dataframe(headers=COLUMNS, interactive=False, elem_id="history-table", wrap=True)
    gr.Markdown("#### Review queue (no variant passed the fidelity check)")
    queue_md = gr.Markdown(elem_id="review-queue")
    with gr.Row():
        job = gr.Dropdown(label="Job", choices=[], allow_custom_value=True, elem_id="history-job")
        open_btn = gr.Button("Open")
    detail = gr.Markdown(elem_id="history-detail")
    images = gr.Gallery(label="Artifacts", columns=6, height=220, object_fit="contain", fit_columns=False)
    params = gr.Code(label="Parameters", language="json")
    with gr.Row():
        retry = gr.Button("Retry")
        stage = gr.Dropdown(label="Replay from stage", choices=[])
        overrides = gr.Textbox(label="Changed parameters (JSON)", placeholder='{"scene": "marble"}')
        replay = gr.Button("Replay")
        delete = gr.Button("Delete", variant="stop")
    with gr.Row():
        variant = gr.Number(label="Accept variant #", value=1, precision=0)
        accept = gr.Button("Accept")
        note = gr.Textbox(label="Reject note")
        reject = gr.Button("Reject")
    result = gr.Markdown()

    outs = [grid, thumbs, queue_md, job]
    refresh.click(on_list, [status], outs, api_name="history")
    status.change(on_list, [status], outs, api_visibility="private")
    open_btn.click(on_open, [job], [detail, images, stage, params], api_name="job_detail")
    retry.click(on_retry, [job], result, api_name="retry")
    replay.click(on_replay, [job, stage, overrides], result, api_name="replay")
    delete.click(on_delete, [job], result, api_name="delete_job")
    accept.click(on_accept, [job, variant], result, api_name="review_accept")
    reject.click(on_reject, [job, note], result, api_name="review_reject")

    def pick_row(evt: gr.SelectData) -> str | None:
        return evt.row_value[0] if evt.row_value else None

    grid.select(pick_row, None, job, api_visibility="private")
    return refresh, status, outs
