"""The `studio` command. Heavy modules are imported inside each command so that
`studio --help` answers at once."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def cmd_ingest_check(args: argparse.Namespace) -> int:
    from studio.config import load_settings
    from studio.imaging.io import IngestError, ingest_file

    limits = load_settings().limits
    rejected = 0
    results = []
    for path in args.files:
        try:
            img = ingest_file(path, limits)
        except IngestError as exc:
            rejected += 1
            results.append({"file": path, "ok": False, "code": exc.code, "error": exc.message})
            if not args.json:
                print(f"{path}: REJECTED ({exc.code}) {exc.message}")
            continue
        results.append({"file": path, "ok": True, "width": img.size[0], "height": img.size[1], "mode": img.mode,
                        "source_format": img.source_format, "source_mode": img.source_mode, "notes": img.notes})
        if not args.json:
            extra = f" ({'; '.join(img.notes)})" if img.notes else ""
            print(f"{path}: {img.size[0]}x{img.size[1]} {img.mode} from {img.source_format} {img.source_mode}{extra}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 2 if rejected else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from studio.ui.serve import serve

    return serve(port=args.port, listen=args.listen, auth=args.auth, open_browser=not args.no_browser)


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


def _when(ts: float | None) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def cmd_history(args: argparse.Namespace) -> int:
    from studio.history import list_jobs
    from studio.services import open_store

    rows = list_jobs(open_store(), limit=args.limit, status=args.status)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no jobs yet")
    for r in rows:
        wall = f"{r['wall_s']:.1f}s" if r["wall_s"] is not None else "-"
        extra = f"  {r['failed_stage']}: {r['error']}" if r["status"] == "failed" else ""
        print(f"{r['id']}  {_when(r['created_at'])}  {r['status']:<9} {r['recipe']:<8} {r['scene'] or '-':<18} "
              f"{wall:>7}  {r['cost']:.2f}{extra}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from studio.history import job_detail
    from studio.pipeline.jobs import JobError
    from studio.services import open_store

    try:
        detail = job_detail(open_store(), args.job)
    except JobError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    if args.json:
        _print_json(detail)
        return 0
    print(f"job {detail['id']}  {detail['status']}  recipe {detail['recipe']}  cost {detail['cost']:.2f}")
    if detail["parent_id"]:
        print(f"replay of {detail['parent_id']}")
    if detail["error"]:
        print(f"failed at {detail['failed_stage']} after {detail['failed_attempts']} attempt(s): {detail['error']}")
    print("params: " + json.dumps(detail["params"], default=str))
    for st in detail["stages"]:
        dur = f"{st['duration_s']:.3f}s" if st["duration_s"] is not None else "-"
        note = " (reused)" if st["reused_from"] else ""
        print(f"  {st['key']:<20} {st['status']:<9} attempt {st['attempt']}  {dur}{note}"
              + (f"  {st['error']}" if st["error"] else ""))
    for v in detail["variants"]:
        print(f"  variant {v['index']}: seed {v['seed']}")
    return 0


def _job_action(args: argparse.Namespace, action) -> int:
    from studio.pipeline.jobs import JobError
    from studio.services import open_store

    try:
        return action(open_store())
    except (JobError, KeyError, ValueError) as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2


def _run_with_progress(job_ids: list[str]) -> int:
    from studio.cli_progress import run_with_bar
    from studio.pipeline.jobs import get_job
    from studio.services import open_store

    run_with_bar(job_ids)
    statuses = [get_job(open_store(), j)["status"] for j in job_ids]
    for j, s in zip(job_ids, statuses, strict=True):
        print(f"{j}: {s}")
    return 0 if all(s == "done" for s in statuses) else 1


def cmd_retry(args: argparse.Namespace) -> int:
    from studio.pipeline import jobs
    from studio.services import ledger

    def go(store):
        job = jobs.get_job(store, args.job)
        jobs.retry(store, job["id"], ledger(store))
        return _run_with_progress([job["id"]])

    return _job_action(args, go)


def _parse_sets(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set wants key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value  # bare words are strings
    return out


def cmd_replay(args: argparse.Namespace) -> int:
    from studio.pipeline import jobs
    from studio.services import ledger, registry

    def go(store):
        new = jobs.replay(store, registry(), args.job, args.from_stage, _parse_sets(args.set), ledger(store))
        print(f"replay job {new} (from {args.from_stage} of {args.job})")
        return _run_with_progress([new])

    return _job_action(args, go)


def cmd_review(args: argparse.Namespace) -> int:
    from studio import review
    from studio.services import ledger

    def go(store):
        if args.action == "list":
            queue = review.review_queue(store)
            if args.json:
                _print_json(queue)
            elif not queue:
                print("the review queue is empty")
            for q in [] if args.json else queue:
                print(f"{q['job']}  {q['title']}  scene {q['scene']}  engine {q['engine']}: {q['why']}")
                for r in q["ranking"]:
                    print(f"    variant {r['index']}: {r['reason']}")
            return 0
        if not args.job:
            raise ValueError(f"review {args.action} needs a job id")
        if args.action == "accept":
            if args.variant is None:
                raise ValueError("review accept needs --variant N")
            return _run_with_progress([review.accept(store, args.job, args.variant)])
        if args.action == "reject":
            return _run_with_progress([review.reject(store, args.job, args.note)])
        new = review.send_back(store, args.job, _parse_sets(args.set), ledger(store))
        print(f"sent back as job {new}")
        return _run_with_progress([new])

    return _job_action(args, go)


def cmd_cancel(args: argparse.Namespace) -> int:
    from studio.pipeline import jobs
    from studio.services import ledger

    def go(store):
        print(f"{args.job}: {jobs.cancel(store, args.job, ledger(store))}")
        return 0

    return _job_action(args, go)


def cmd_cutout(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.cutout import cutout_photos

    out = Path(args.out)
    results = cutout_photos([Path(p) for p in args.photos], out, backend=args.backend)
    if args.json:
        _print_json(results)
    else:
        for r in results:
            if r["ok"]:
                extra = f"; {'; '.join(r['notes'])}" if r["notes"] else ""
                print(f"{r['photo']} -> {r['output']}  ({r['backend']}, confidence {r['confidence']:.2f}{extra})")
            else:
                print(f"{r['photo']}: FAILED {r['error']}")
    return 0 if all(r["ok"] for r in results) else 2


def cmd_batch(args: argparse.Namespace) -> int:
    import threading
    from pathlib import Path

    from tqdm import tqdm

    from studio import batch as batches
    from studio.services import open_store

    store = open_store()
    out = Path(args.out)
    existing = batches.find_batch(store, out)
    if args.cancel:
        if existing is None or existing["status"] in ("done", "cancelled"):
            print(f"studio: no unfinished batch in {out}", file=sys.stderr)
            return 2
        # a process running this batch notices within a moment and stops after its photos in flight
        batches.set_status(store, existing["id"], "cancelled")
        batches.write_report(store, existing["id"])
        summary = batches.batch_summary(store, existing["id"])
        if args.json:
            _print_json(summary)
        else:
            print(f"batch {existing['id']} cancelled: {summary['done']} done, {summary['failed']} failed, "
                  f"{summary['pending']} not run → {summary['report']}")
        return 0
    if args.resume:
        if existing is None:
            print(f"studio: no batch to resume in {out}", file=sys.stderr)
            return 2
        batch_id = existing["id"]
    else:
        if existing is not None and existing["status"] not in ("done", "cancelled"):
            print(f"studio: {out} holds an unfinished batch ({existing['id']}); add --resume to continue it, "
                  "or choose another --out", file=sys.stderr)
            return 2
        try:
            batch_id = batches.create_batch(store, Path(args.input), out, scene=args.scene, preset=args.preset,
                                            engine=args.engine, variants=args.variants, pattern=args.pattern,
                                            long_side=args.long_side)
        except batches.BatchInvalid as exc:
            print(f"studio: {exc}", file=sys.stderr)
            return 2
    items = batches.batch_items(store, batch_id)
    for it in items:
        if it["status"] == "failed" and not it["job_id"]:
            print(f"row {it['row']} ({it['sku']}): {it['error']}", file=sys.stderr)
    todo = sum(1 for it in items if it["status"] in ("pending", "running"))
    stop = threading.Event()
    with tqdm(total=len(items), initial=len(items) - todo, unit="photo", file=sys.stderr,
              disable=args.json or not sys.stderr.isatty()) as bar:
        def on_item(item: dict) -> None:
            bar.update(1)
            bar.set_postfix_str(f"{item['sku']}: {item['status']}")
            if item["status"] == "failed":
                bar.write(f"{item['sku']}: failed: {item['error']}", file=sys.stderr)

        try:
            summary = batches.run_batch(store, batch_id, parallel=args.parallel, on_item=on_item, stop=stop)
        except KeyboardInterrupt:  # Ctrl-C: pause, so --resume continues where this stopped
            batches.set_status(store, batch_id, "paused")
            print(f"\npaused; continue with: studio batch {args.input} --out {out} --resume", file=sys.stderr)
            return 130
    if args.json:
        _print_json(summary)
    else:
        print(f"batch {batch_id}: {summary['done']} done, {summary['failed']} failed of {summary['items']} "
              f"→ {summary['report']}")
    return 0 if summary["status"] == "done" and not summary["failed"] else 1


def cmd_shoot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.scenes import SceneError
    from studio.shoot import shoot_photos

    try:
        results = shoot_photos([Path(p) for p in args.photos], Path(args.out), scene=args.scene,
                               variants=args.variants, engine=args.engine, preset=args.preset, seed=args.seed,
                               segmenter=args.backend, extra_prompt=args.prompt or "", steps=args.steps,
                               guidance=args.guidance)
    except (SceneError, ValueError) as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    if args.zip:
        from studio.imaging.export import zip_files

        files = {Path(f).name: Path(f).read_bytes() for r in results for f in r.get("files", [])}
        target = Path(args.out) / "shots.zip"
        target.write_bytes(zip_files(files))
        for r in results:
            r["zip"] = str(target)
    if args.json:
        _print_json(results)
    else:
        for r in results:
            if r["status"] != "done":
                print(f"{r.get('photo')}: {r['status'].upper()} {r.get('error', '')}")
                continue
            chosen = r["variants"][r["chosen"]]
            verdict = "passes" if chosen["compliance"]["ok"] else "FAILS"
            print(f"{r['photo']}: {len(r['variants'])} variants in {r['scene']} with {r['engine']} (job {r['job']}); chosen "
                  f"{r['chosen']} (seed {chosen['seed']}, {r['reason']}), {r['preset']} compliance {verdict}")
            for f in r["files"]:
                print(f"  {f}")
    return 0 if all(r["status"] == "done" for r in results) else 2


def cmd_models(args: argparse.Namespace) -> int:
    from studio.models.registry import DownloadError, download, model_table

    if args.action == "download":
        if not args.model:
            print("studio: which model? e.g. studio models download flux-fill-dev", file=sys.stderr)
            return 2
        try:
            print(f"installed in {download(args.model, token=args.token)}")
        except DownloadError as exc:
            print(f"studio: {exc}", file=sys.stderr)
            return 2
        return 0
    from studio.models.devices import PlanMemory, detect_card

    card = detect_card()
    plan = PlanMemory().plan_for(card)
    report = {"card": None if card is None else {"name": card.name, "total_gb": round(card.total_gb, 1),
                                                 "free_gb": round(card.free_gb, 1),
                                                 "capability": ".".join(map(str, card.capability))},
              "plan": plan.as_dict(), "models": model_table()}
    if args.json:
        _print_json(report)
        return 0
    if card is None:
        print("GPU: none found (CUDA) — local generation would run on the CPU; the classic engine is the default")
    else:
        print(f"GPU: {card.name}, {card.total_gb:.1f} GB ({card.free_gb:.1f} GB free), "
              f"compute {'.'.join(map(str, card.capability))}")
    print(f"VRAM plan: {plan.id} — {plan.note}")
    for m in report["models"]:
        state = f"installed at {m['path']}" if m["installed"] else "missing"
        print(f"  {m['repo_id']:<48} {m['kind']:<9} {m['size_gb']:>5.1f} GB  {state}")
    return 0


def cmd_cloud_key(args: argparse.Namespace) -> int:
    import getpass

    from studio.models.generate_cloud import save_key

    # read from a prompt or stdin, never from argv: it would land in the shell's history
    key = getpass.getpass(f"{args.provider} API key: ") if sys.stdin.isatty() else sys.stdin.readline()
    if not key.strip():
        print("studio: no key given; nothing changed", file=sys.stderr)
        return 2
    print(f"saved to {save_key(args.provider, key)} (readable by you only)")
    return 0


def cmd_scenes(args: argparse.Namespace) -> int:
    from studio.scenes import load_scenes

    errors: list[str] = []
    scenes = sorted(load_scenes(errors=errors).values(), key=lambda s: (s.category, s.id))
    if args.json:
        _print_json([s.summary() for s in scenes])
    else:
        for s in scenes:
            print(f"{s.id:<22} {s.category:<12} {s.summary()['canvas']:>10}  {s.title}")
    for e in errors:
        print(f"studio: skipped {e}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Local-first AI product photography.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest-check", help="check that photos can be read; prints size/mode or the reason")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ingest_check)

    p = sub.add_parser("serve", help="start the web app")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--listen", action="store_true", help="bind to all interfaces (requires --auth)")
    p.add_argument("--auth", help="user:password for --listen (or STUDIO_AUTH)")
    p.add_argument("--no-browser", action="store_true")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("cutout", help="cut products out of photos: one RGBA PNG per photo")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--backend", choices=["auto", "classic", "rmbg"], default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cutout)

    p = sub.add_parser("shoot", help="photo(s) → cut-out → scene variants → colour → export")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--scene", help="scene id (studio scenes); default from settings")
    p.add_argument("--variants", type=int, help="how many variants (default from settings)")
    p.add_argument("--engine", choices=["auto", "flux", "sdxl", "cloud", "classic"], default="auto",
                   help="auto: local FLUX when installed with a GPU, else the cloud (if a key is set and the "
                        "policy allows), else classic")
    p.add_argument("--steps", type=int, help="FLUX steps (default 28)")
    p.add_argument("--guidance", type=float, help="FLUX guidance scale (default 30)")
    p.add_argument("--preset", help="export preset: amazon-main, amazon-secondary, shopify, etsy, ebay, instagram")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=["auto", "classic", "rmbg"], default="auto", help="cut-out backend")
    p.add_argument("--prompt", help="extra words for the scene (added, never replacing the preservation rules)")
    p.add_argument("--zip", action="store_true", help="also write every shot into DIR/shots.zip")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_shoot)

    p = sub.add_parser("batch", help="a catalog: a folder of photos or a CSV of SKUs → shots per SKU, report.csv, zip")
    p.add_argument("input", help="a folder (one SKU per photo, or per sub-folder of angles) or a CSV "
                                 "(sku, image, scene, preset, variants, notes)")
    p.add_argument("--out", required=True)
    p.add_argument("--scene", help="for rows that name none (default: your settings)")
    p.add_argument("--preset", help="for rows that name none (default: your settings)")
    p.add_argument("--engine", default="classic", choices=["auto", "classic", "flux", "sdxl", "cloud"])
    p.add_argument("--variants", type=int)
    p.add_argument("--pattern", default="{sku}_{scene}_{n}.{ext}", help="file names (also {angle})")
    p.add_argument("--parallel", type=int, default=3, help="photos in flight at once")
    p.add_argument("--long-side", type=int, help="canvas long side in px (smaller: quicker previews)")
    p.add_argument("--resume", action="store_true", help="continue the batch already in --out")
    p.add_argument("--cancel", action="store_true", help="cancel the batch in --out (its report keeps what is done)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("models", help="the GPU, its VRAM plan, and which models are installed; or download one")
    p.add_argument("action", nargs="?", choices=["list", "download"], default="list")
    p.add_argument("model", nargs="?", help="model id to download (see the list)")
    p.add_argument("--token", help="Hugging Face token for gated models (or HF_TOKEN)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("cloud-key", help="store your cloud API key (asked for, or read from stdin)")
    p.add_argument("--provider", default="bfl", choices=["bfl"])
    p.set_defaults(func=cmd_cloud_key)

    p = sub.add_parser("scenes", help="list scene templates (shipped and your own)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_scenes)

    p = sub.add_parser("history", help="past jobs, newest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--status", choices=["queued", "running", "waiting", "paused", "done", "failed", "cancelled"])
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("show", help="one job: stages, timings, seeds, errors")
    p.add_argument("job")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("retry", help="run a failed, cancelled or interrupted (Ctrl-C, killed) job again from where it stopped")
    p.add_argument("job")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("replay", help="a new job from a stage of an old one, with changed parameters")
    p.add_argument("job")
    p.add_argument("--from", dest="from_stage", required=True, metavar="STAGE")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("review", help="jobs whose variants all failed the fidelity check: list, accept, reject, "
                                      "or send back with changed parameters")
    p.add_argument("action", nargs="?", default="list", choices=["list", "accept", "reject", "retry"])
    p.add_argument("job", nargs="?")
    p.add_argument("--variant", type=int, help="accept: the variant to keep")
    p.add_argument("--note", default="", help="reject: why")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="retry: parameters to change (scene, seed, extra_prompt, fidelity_threshold, ...)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("cancel", help="cancel a queued or running job")
    p.add_argument("job")
    p.set_defaults(func=cmd_cancel)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
