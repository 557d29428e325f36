"""Catalog batches. A batch is a parent row with one child shoot job per
photo; at most `parallel` children are in flight (so memory stays flat however long
the catalog), and the state lives in SQLite, so a killed process resumes where it
stopped without redoing finished SKUs."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from studio.app.batch_input import BatchInput, read_input
from studio.app.context import ledger, stages
from studio.app.engines import engine_choices
from studio.app.shoot import check_light_match, exported, shoot_summary, submit_shoot, waiting_for_review
from studio.config import data_dir, load_settings
from studio.csvfile import csv_text
from studio.imaging.io import IngestError
from studio.paths import inside, safe_join, safe_name, write_atomic
from studio.pipeline import jobs
from studio.pipeline.native import give_back_memory
from studio.pipeline.worker import Worker
from studio.scenes import LONG_SIDE
from studio.store import Store, dumps, loads

PATTERN = "{sku}_{scene}_{n}.{ext}"
BATCH_CACHE_BYTES = 64 * 1024**2
PARALLEL = 3
REPORT_COLUMNS = ["sku", "status", "photos", "chosen", "fidelity", "alignment", "delta_e", "compliance", "cutout",
                  "time_s", "cost", "error", "files", "notes"]


class BatchInvalid(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("the batch input has problems:\n  " + "\n  ".join(problems))
        self.problems = problems


def find_batch(store: Store, out_dir: Path) -> dict | None:
    """The latest batch writing into `out_dir` (what --resume continues)."""
    row = store.one("SELECT * FROM batches WHERE out_dir = ? ORDER BY created_at DESC LIMIT 1",
                    (str(Path(out_dir).resolve()),))
    return dict(row) if row else None


def create_batch(store: Store, source: Path, out_dir: Path, *, scene: str | None = None, preset: str | None = None,
                 engine: str = "classic", variants: int | None = None, pattern: str = PATTERN,
                 long_side: int | None = None, checked: BatchInput | None = None,
                 roots: list[Path] | None = None, out_roots: list[Path] | None = None,
                 cluster: str | None = None, clip: str | None = None, backdrop: Path | bytes | None = None,
                 light_match: float | None = None, hold_doubtful: bool = False) -> str:
    """Check the input and record the batch and its items; nothing runs yet. Raises
    BatchInvalid listing every problem that stops it; unusable photos don't stop it —
    their items are recorded as failed with the reason. With `roots` / `out_roots`
    (the app's Batch tab), the input must lie in `roots` and `out_dir` in `out_roots`."""
    out_dir = Path(out_dir)
    # the folders first: outside them, nothing is said about what the path is
    if out_roots is not None and not any(inside(out_dir, r) for r in out_roots):
        raise BatchInvalid([f"{out_dir} is outside the folders the app may write to: the data dir's batches "
                            "folder, or a batch folder named in Settings"])
    if out_dir.exists() and not out_dir.is_dir():
        raise BatchInvalid([f"--out {out_dir} is a file, not a folder"])
    checked = checked or read_input(source, scene, preset, roots=roots)
    if checked.errors:
        raise BatchInvalid(checked.problems())
    check_pattern(pattern)
    if variants is not None and not (isinstance(variants, int) and 1 <= variants <= 16):
        raise BatchInvalid([f"--variants must be a whole number from 1 to 16, not {variants!r}"])
    if long_side is not None and not (isinstance(long_side, int) and LONG_SIDE[0] <= long_side <= LONG_SIDE[1]):
        raise BatchInvalid([f"--long-side must be from {LONG_SIDE[0]} to {LONG_SIDE[1]} px, not {long_side!r}"])
    if engine not in engine_choices():
        raise BatchInvalid([f"--engine {engine!r} is not available; use {', '.join(engine_choices())}"])
    if clip is not None:
        from studio.app.clip import clip_params

        try:
            clip_params(clip)
        except (ValueError, RuntimeError) as exc:
            raise BatchInvalid([f"--clip: {exc}"]) from exc
    try:
        check_light_match(light_match)
    except ValueError as exc:
        raise BatchInvalid([f"--light-match: {exc}"]) from exc
    if not isinstance(hold_doubtful, bool):
        raise BatchInvalid([f"--hold-doubtful is on or off, not {hold_doubtful!r}"])
    _check_writable(out_dir)
    scene, scenes_of = _backdrop_scenes(checked, scene, backdrop)
    sizes = [it.size_cm for it in checked.items if it.size_cm]
    batch_id = jobs.new_id()
    out = Path(out_dir).resolve()
    options = {"scene": scene, "preset": preset, "engine": engine, "variants": variants, "pattern": pattern,
               "long_side": long_side, "cluster": cluster, "clip": clip, "light_match": light_match,
               # a SKU whose cut-out is doubtful waits in the review queue instead of being exported
               "hold_doubtful": hold_doubtful,
               # the largest SKU fills the scene; the others keep their size relations to it
               "size_ref_cm": max(sizes) if sizes else None}
    with store.tx() as conn:
        conn.execute("INSERT INTO batches(id, source, out_dir, options, created_at) VALUES (?,?,?,?,?)",
                     (batch_id, str(Path(source).resolve()), str(out), dumps(options), time.time()))
        for idx, it in enumerate(checked.items):
            spec = {"scene": scenes_of.get(idx) or it.scene, "preset": it.preset, "variants": it.variants,
                    "notes": it.notes, "extra": it.extra, "size_cm": it.size_cm,
                    "reference": str(it.reference) if it.reference else None}
            conn.execute("INSERT INTO batch_items(batch_id, idx, row, sku, photo, spec, status, error) "
                         "VALUES (?,?,?,?,?,?,?,?)", (batch_id, idx, it.row, it.sku, str(it.photo), dumps(spec),
                                                       "failed" if it.problem else "pending", it.problem))
    return batch_id


def _backdrop_scenes(checked: BatchInput, scene: str | None, backdrop: Path | bytes | None
                     ) -> tuple[str | None, dict[int, str]]:
    """The batch's scene (one backdrop photo for the whole catalog becomes the seller's
    scene) and each item's own backdrop scene (a CSV's `backdrop` column), by item index.
    A photo named by many rows is read once; no scene is saved unless every one is good."""
    from studio.app.backdrops import BackdropError, backdrop_for_photo, save_backdrop

    problems: list[str] = []
    kept = []
    try:
        if backdrop is not None:
            kept.append(backdrop_for_photo(backdrop, backdrop.name if isinstance(backdrop, Path) else "backdrop"))
            scene = kept[-1].scene_id
    except BackdropError as exc:
        problems.append(f"--backdrop: {exc}")
    made: dict[Path, str] = {}
    per_item: dict[int, str] = {}
    for idx, it in enumerate(checked.items):
        if it.backdrop is None:
            continue
        try:
            if it.backdrop not in made:
                kept.append(backdrop_for_photo(it.backdrop, it.backdrop.name))
                made[it.backdrop] = kept[-1].scene_id
            per_item[idx] = made[it.backdrop]
        except BackdropError as exc:
            problems.append(f"row {it.row} ({it.sku}): backdrop: {exc}")
    if problems:
        raise BatchInvalid(problems)
    for k in kept:
        save_backdrop(k)
    return scene, per_item


def _check_writable(out_dir: Path) -> None:
    """--out (or its nearest existing parent, where it will be made) must be writable: a
    batch that cannot write its shots is refused before anything is made for it."""
    probe = out_dir
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:  # a file made and gone there: os.access would not see a read-only disk mounted for root
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError:
        raise BatchInvalid([f"--out {out_dir}: {probe} is read-only or not yours; choose a folder you can write to"]) from None


def app_read_roots() -> list[Path]:
    """What the app's Batch tab may read catalogs from: its uploads and the batch folders
    named in Settings (the CLI reads whatever its user can)."""
    return [data_dir() / "uploads", *(Path(p).expanduser() for p in load_settings().batch_folders)]


def app_write_roots() -> list[Path]:
    """Where the app's Batch tab may write shots: the data dir's batches folder and the
    batch folders named in Settings."""
    return [data_dir() / "batches", *(Path(p).expanduser() for p in load_settings().batch_folders)]


def check_pattern(pattern: str) -> None:
    """File-name patterns make one file name: no folders, no way out of the SKU's folder."""
    try:
        sample = pattern.format(sku="s", scene="x", n=1, ext="jpg", angle=1)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise BatchInvalid([f"--pattern {pattern!r}: {exc}; use {{sku}}, {{scene}}, {{n}}, {{ext}}, {{angle}}"]) from exc
    if any(c in pattern for c in "/\\:") or sample.startswith(".") or safe_name(sample) != sample:
        raise BatchInvalid([f"--pattern {pattern!r} must make a plain file name (letters, digits, - _ . and "
                            "spaces; no folders); each SKU's files go in its own folder anyway"])


def set_status(store: Store, batch_id: str, status: str) -> None:
    """pause / resume (running) / cancel a batch; `run_batch` notices within a moment."""
    if status not in ("running", "paused", "cancelled"):
        raise ValueError(f"unknown batch status {status!r}")
    with store.tx() as conn:
        conn.execute("UPDATE batches SET status = ? WHERE id = ? AND status NOT IN ('done','cancelled')",
                     (status, batch_id))
        # (an item sent to a cluster worker has no job here until its result comes back)
        running = [r[0] for r in conn.execute("SELECT job_id FROM batch_items WHERE batch_id = ? AND "
                                              "status = 'running' AND job_id IS NOT NULL", (batch_id,))]
    for job_id in running:
        {"paused": jobs.pause, "running": jobs.resume}.get(status, lambda s, j: jobs.cancel(s, j))(store, job_id)


def finish_item(store: Store, batch: dict, item: dict) -> None:
    s = shoot_summary(store, item["job_id"])
    job = jobs.get_job(store, item["job_id"])
    base = {"time_s": round((job["finished_at"] or time.time()) - (job["started_at"] or job["created_at"]), 2),
            "cost": job.get("cost") or 0.0}
    if s["status"] != "done":
        error = s.get("error") or job["status"]
        # held: a doubtful cut-out the batch was told not to export (nothing failed)
        status = "held" if job["status"] == "waiting" and "doubtful cut-out" in error else "failed"
        store.conn.execute("UPDATE batch_items SET status = ?, error = ?, result = ? WHERE batch_id = ? AND "
                           "idx = ?", (status, error, dumps(base), batch["id"], item["idx"]))
        return
    opts = loads(batch["options"])
    angle = store.one("SELECT COUNT(*) FROM batch_items WHERE batch_id = ? AND sku = ? AND idx < ?",
                      (batch["id"], item["sku"], item["idx"]))[0]
    # the proposed variant is n = 1, then the others in rank order; later angles continue the count
    ranked = sorted(s["variants"], key=lambda v: v["rank"])
    start = angle * len(ranked)
    files = []
    folder = safe_name(item["sku"])
    for n, v in enumerate(ranked, start + 1):
        data, ext = exported(store, item["job_id"], v["index"])
        name = opts["pattern"].format(sku=folder, scene=s["scene"], n=n, ext=ext, angle=angle + 1)
        write_atomic(safe_join(batch["out_dir"], folder, name), data)
        files.append(f"{folder}/{name}")
    if opts.get("clip"):
        from studio.app.clip import CLIP_FACTS, clip_result

        clip = clip_result(store, item["job_id"], only=("video", *CLIP_FACTS))
        name = f"{folder}_{s['scene']}_{clip['settings']['preset']}" + (f"_{angle + 1}" if angle else "") + ".mp4"
        write_atomic(safe_join(batch["out_dir"], folder, name), clip["video"])
        files.append(f"{folder}/{name}")
        ok = clip["report"]["ok"] and clip["product"].get("ok", True)
        base["clip"] = "ok" if ok else "; ".join(c["check"] for c in clip["report"]["checks"] if not c["ok"]) \
            or "the product drifted"
    chosen = next(v for v in s["variants"] if v["index"] == s["chosen"])
    result = {**base, "chosen": s["chosen"], "scene": s["scene"], "fidelity": chosen["scores"]["fidelity"],
              "alignment": chosen["scores"]["alignment"], "delta_e": (chosen["delta_e"] or {}).get("mean"),
              "compliance": "ok" if chosen["compliance"]["ok"] else "; ".join(
                  c["check"] for c in chosen["compliance"]["checks"] if not c["ok"]), "files": files,
              # fidelity and compliance above were measured through the mask: say when it is doubtful
              "cutout": (f"doubtful (confidence {s['cutout']['confidence']:.2f}): {s['cutout']['caveat']}"
                         if s["cutout"].get("caveat") else "")}
    store.conn.execute("UPDATE batch_items SET status = 'done', error = NULL, result = ? WHERE batch_id = ? AND "
                       "idx = ?", (dumps(result), batch["id"], item["idx"]))


def shoot_options(batch: dict, item: dict) -> dict:
    """The `submit_shoot` arguments of an item (besides its photo): the same whether it
    runs here or on a cluster worker, so both make the same shots."""
    opts, spec = loads(batch["options"]), loads(item["spec"])
    extra: dict = {}
    if spec.get("size_cm") and opts.get("size_ref_cm"):
        extra |= {"size_cm": spec["size_cm"], "size_ref_cm": opts["size_ref_cm"]}
    if spec.get("reference"):
        extra["reference"] = Path(spec["reference"])
    if opts.get("light_match") is not None:
        extra["light_match"] = opts["light_match"]
    if opts.get("hold_doubtful"):
        extra["hold_doubtful"] = True
    return {"scene": spec["scene"] or opts["scene"], "preset": spec["preset"] or opts["preset"],
            "variants": spec["variants"] or opts["variants"], "engine": opts["engine"],
            "long_side": opts.get("long_side"), "title": f"{item['sku']} ({Path(item['photo']).name})",
            "batch_id": batch["id"], **({"clip": _clip_params(opts["clip"])} if opts.get("clip") else {}), **extra}


def _clip_params(preset: str) -> dict:
    from studio.app.clip import clip_params  # the clips' code only for a batch that makes clips

    return clip_params(preset)


def fail_item(store: Store, batch_id: str, idx: int, error: str) -> None:
    store.conn.execute("UPDATE batch_items SET status = 'failed', error = ? WHERE batch_id = ? AND idx = ?",
                       (error, batch_id, idx))


def _submit_item(store: Store, batch: dict, item: dict) -> None:
    def link(job: str) -> None:  # in the job's own transaction: a kill leaves no orphan to resubmit
        store.conn.execute("UPDATE batch_items SET status = 'running', job_id = ? WHERE batch_id = ? AND idx = ?",
                           (job, batch["id"], item["idx"]))

    try:
        submit_shoot(store, Path(item["photo"]), **shoot_options(batch, item), then=link)
    except (IngestError, OSError, ValueError) as exc:
        fail_item(store, batch["id"], item["idx"], exc.message if isinstance(exc, IngestError) else str(exc))


def ended(store: Store, job_id: str) -> bool:
    job = jobs.get_job(store, job_id)
    if job["status"] in jobs.TERMINAL:
        return True
    # a job whose variants all failed the gate waits for review: this batch moves on
    return job["status"] == "waiting" and waiting_for_review(store, job_id)


def run_batch(store: Store, batch_id: str, *, parallel: int = PARALLEL, lease_s: float | None = None,
              on_item: Callable[[dict], None] | None = None, stop: threading.Event | None = None) -> dict:
    """Run (or continue) a batch to its end, a pause or a cancel; returns `batch_summary`."""
    if not store.one("SELECT 1 FROM batches WHERE id = ?", (batch_id,)):
        raise jobs.JobError(f"no batch {batch_id!r}")
    store.conn.execute("UPDATE batches SET status = 'running', finished_at = NULL WHERE id = ? AND status = 'paused'",
                       (batch_id,))
    for r in store.query("SELECT job_id FROM batch_items WHERE batch_id = ? AND status = 'running'", (batch_id,)):
        jobs.resume(store, r["job_id"])
    # after a kill, the dead process's runs are taken over once their lease expires
    lease_s = lease_s or float(os.environ.get("STUDIO_LEASE_S", "30"))
    # a small artifact cache: it only needs to carry one SKU's images from stage to
    # stage, and a full-size one would grow with the batch until it is full
    worker = Worker(store, stages(), ledger(store), poll_s=0.05, lease_s=lease_s,
                    cache_bytes=BATCH_CACHE_BYTES).start()
    try:
        while not (stop and stop.is_set()):
            batch = dict(store.one("SELECT * FROM batches WHERE id = ?", (batch_id,)))
            if batch["status"] != "running":
                break
            running = [dict(r) for r in store.query("SELECT * FROM batch_items WHERE batch_id = ? AND "
                                                    "status = 'running' ORDER BY idx", (batch_id,))]
            for it in running:
                if ended(store, it["job_id"]):
                    finish_item(store, batch, it)
                    give_back_memory()
                    if on_item:
                        on_item(dict(store.one("SELECT * FROM batch_items WHERE batch_id = ? AND idx = ?",
                                               (batch_id, it["idx"]))))
            in_flight = store.one("SELECT COUNT(*) FROM batch_items WHERE batch_id = ? AND status = 'running'",
                                  (batch_id,))[0]
            # one more than can start, so "nothing pending" is known without a second query
            pending = [dict(r) for r in store.query("SELECT * FROM batch_items WHERE batch_id = ? AND "
                                                    "status = 'pending' ORDER BY idx LIMIT ?",
                                                    (batch_id, max(0, parallel - in_flight) + 1))]
            for it in pending[:max(0, parallel - in_flight)]:
                _submit_item(store, batch, it)
                worker.wake()
            if not pending and not in_flight:
                store.conn.execute("UPDATE batches SET status = 'done', finished_at = ? WHERE id = ?",
                                   (time.time(), batch_id))
                break
            time.sleep(0.1)
    finally:
        worker.stop()
    summary = batch_summary(store, batch_id)
    if summary["status"] in ("done", "cancelled"):
        write_report(store, batch_id)
    return summary


def batch_summary(store: Store, batch_id: str) -> dict:
    batch = dict(store.one("SELECT * FROM batches WHERE id = ?", (batch_id,)))
    counts = dict(store.query("SELECT status, COUNT(*) FROM batch_items WHERE batch_id = ? GROUP BY status",
                              (batch_id,)))
    failed = [{"sku": r["sku"], "row": r["row"], "photo": r["photo"], "error": r["error"]} for r in store.query(
        "SELECT sku, row, photo, error FROM batch_items WHERE batch_id = ? AND status = 'failed' ORDER BY idx",
        (batch_id,))]
    return {"batch": batch_id, "status": batch["status"], "out": batch["out_dir"], "items": sum(counts.values()),
            "done": counts.get("done", 0), "failed": counts.get("failed", 0), "held": counts.get("held", 0),
            "pending": counts.get("pending", 0) + counts.get("running", 0), "failures": failed,
            "report": str(Path(batch["out_dir"]) / "report.csv"), "zip": str(Path(batch["out_dir"]) / "batch.zip")}


def write_report(store: Store, batch_id: str) -> Path:
    """report.csv (one row per SKU) and batch.zip of every exported image."""
    from studio.imaging.export import zip_paths

    batch = dict(store.one("SELECT * FROM batches WHERE id = ?", (batch_id,)))
    out = Path(batch["out_dir"])
    per_sku: dict[str, list[dict]] = {}
    for r in store.query("SELECT * FROM batch_items WHERE batch_id = ? ORDER BY idx", (batch_id,)):
        per_sku.setdefault(r["sku"], []).append(dict(r))
    clip_cols = ["clip"] if loads(batch["options"]).get("clip") else []
    extra_cols: list[str] = list(clip_cols)
    rows = []
    files: list[str] = []
    for sku, items in per_sku.items():
        results = [loads(i["result"]) or {} for i in items]
        spec = loads(items[0]["spec"])
        # the catalog's own columns are copied, but never in place of the report's
        extra = {(k if k not in REPORT_COLUMNS + clip_cols else f"{k} (catalog)"): v
                 for k, v in spec.get("extra", {}).items()}
        for k in extra:
            if k not in extra_cols:
                extra_cols.append(k)
        done = [r for i, r in zip(items, results, strict=True) if i["status"] == "done"]
        files += [f for r in done for f in r["files"]]
        errors = [f"{Path(i['photo']).name}: {i['error']}" for i in items if i["status"] != "done"]
        held = any(i["status"] == "held" for i in items) and all(i["status"] in ("done", "held") for i in items)
        first = done[0] if done else {}
        rows.append({"sku": sku, "status": "done" if not errors else "held" if held else "failed",
                     "photos": len(items),
                     "chosen": ";".join(str(r["chosen"]) for r in done), "fidelity": first.get("fidelity", ""),
                     "alignment": first.get("alignment") if first.get("alignment") is not None else "",
                     "delta_e": first.get("delta_e", ""), "compliance": ";".join(r["compliance"] for r in done),
                     "cutout": ";".join(r["cutout"] for r in done if r.get("cutout")),
                     "time_s": round(sum(r.get("time_s", 0) for r in results), 2),
                     "cost": round(sum(r.get("cost", 0) or 0 for r in results), 4), "error": " | ".join(errors),
                     "files": ";".join(f for r in done for f in r["files"]), "notes": spec.get("notes", ""),
                     **({"clip": ";".join(r["clip"] for r in done if r.get("clip"))} if clip_cols else {}),
                     **extra})
    write_atomic(out / "report.csv", csv_text(rows, REPORT_COLUMNS + extra_cols).encode("utf-8"))
    # only files this batch wrote, inside its folder (an item written by an older version with
    # an unsafe SKU is left out rather than stopping the report)
    zip_paths(out / "batch.zip", {f: out / f for f in files if inside(out / f, out)})
    return out / "report.csv"


def batch_items(store: Store, batch_id: str) -> list[dict]:
    return [{**dict(r), "spec": loads(r["spec"]), "result": loads(r["result"])}
            for r in store.query("SELECT * FROM batch_items WHERE batch_id = ? ORDER BY idx", (batch_id,))]

