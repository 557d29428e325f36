"""`studio ingest-check`, `studio cutout` and `studio shoot`: photos in, files out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from studio.cli.output import print_json

if TYPE_CHECKING:
    from studio.app.backdrops import KeptBackdrop


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


def check_out(out: str) -> Path:
    """The --out folder checked before anything runs: not a file, and writable by this
    user (it, or the folder it will be made in); ValueError saying why not. Nothing is
    created here: a run refused later leaves no empty folder behind."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    there = path
    while not there.exists() and there != there.parent:
        there = there.parent
    if not there.is_dir():
        raise ValueError(f"--out {out} cannot be made: {there} is a file, not a folder")
    if not os.access(there, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out} cannot be written (permission denied in {there}); choose a folder you can "
                         "write to (nothing was run)")
    return path


def cutout_photos(photos: list[Path], out_dir: Path, backend: str = "auto") -> list[dict]:
    """Cut each photo out through the engine (with a progress bar); one RGBA PNG each,
    named after the photo (two photos of the same name get -2, -3, …)."""
    from studio.app.context import open_store
    from studio.app.cutout import cutout_result, submit_cutout
    from studio.cli.progress import run_with_bar
    from studio.imaging.export import cutout_png
    from studio.imaging.io import IngestError
    from studio.paths import safe_name, unique_path, write_atomic

    store = open_store()  # out_dir is made by the first file written into it
    results: list[dict] = []
    queued: list[tuple[Path, str]] = []
    for photo in photos:
        try:
            queued.append((photo, submit_cutout(store, photo, backend)))
        except IngestError as exc:
            results.append({"photo": str(photo), "ok": False, "error": exc.message})
    if queued:  # one photo: a chain of stages, each with every core
        run_with_bar([j for _, j in queued], cpu_slots=1 if len(queued) == 1 else None)
    taken: set[Path] = set()
    for photo, job_id in queued:
        r = cutout_result(store, job_id)
        r["photo"] = str(photo)
        if r["ok"]:
            target = unique_path(out_dir / f"{safe_name(photo.stem) or 'photo'}.png", taken)
            write_atomic(target, cutout_png(r.pop("cutout")))
            r["output"] = str(target)
        results.append(r)
    return results


def cmd_cutout(args: argparse.Namespace) -> int:
    try:
        out = check_out(args.out)
    except ValueError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    results = cutout_photos([Path(p) for p in args.photos], out, backend=args.backend)
    if args.json:
        print_json(results)
    else:
        for r in results:
            if r["ok"]:
                extra = f"; {'; '.join(r['notes'])}" if r["notes"] else ""
                print(f"{r['photo']} -> {r['output']}  ({r['backend']}, confidence {r['confidence']:.2f}{extra})")
                if r.get("advice"):
                    print(f"  {r['advice']['line']}")
            else:
                print(f"{r['photo']}: FAILED {r['error']}")
    return 0 if all(r["ok"] for r in results) else 2


def shoot_photos(photos: list[Path], out_dir: Path, backdrop: KeptBackdrop | None = None,
                 **options) -> list[dict]:
    """Shoot each photo through the engine (with a progress bar) and write its shots.
    `backdrop` (checked, not yet saved) becomes the shoot's scene; it stays the seller's
    scene only when a job takes it: a shoot refused whole (an option, every photo) adds
    none (submit_shoot's own checks read the scene, so it is saved first and taken back)."""
    from studio.app.backdrops import remove_scene_files, save_backdrop, seller_keeps
    from studio.app.context import open_store
    from studio.app.shoot import shoot_summary, submit_shoot, write_outputs
    from studio.cli.progress import run_with_bar
    from studio.imaging.io import IngestError

    store = open_store()  # out_dir is made by the first file written into it
    results, queued = [], []
    made = None
    try:
        if backdrop is not None:
            scene, made_now = save_backdrop(backdrop)
            options["scene"], made = scene.id, (scene if made_now else None)
        for photo in photos:
            try:
                queued.append(submit_shoot(store, photo, **options))
            except IngestError as exc:
                results.append({"photo": str(photo), "status": "rejected", "error": exc.message})
    finally:
        if made is not None and not queued:
            remove_scene_files(made)
    if backdrop is not None and queued:
        seller_keeps(store, options["scene"])  # the seller's own now, even if a shop's key sent it first
    if queued:
        run_with_bar(queued)
    taken: set[Path] = set()
    for job_id in queued:
        summary = shoot_summary(store, job_id)
        if summary["status"] == "done":
            summary["files"] = write_outputs(store, job_id, out_dir, taken)
        results.append(summary)
    return results


def cmd_shoot(args: argparse.Namespace) -> int:
    from studio.app.engines import engine_note
    from studio.scenes import SceneError

    note = engine_note(args.engine)
    if note:  # named explicitly: it runs, and the person is told what its licence requires
        print(f"note: {note}", file=sys.stderr)

    if args.scene and args.backdrop:
        print("studio: give --scene or --backdrop, not both: --backdrop makes your photo the scene", file=sys.stderr)
        return 2
    try:
        out = check_out(args.out)
        backdrop = None
        if args.backdrop:  # the seller's photo becomes (or already is) one of their scenes, once a job takes it
            from studio.app.backdrops import backdrop_for_photo

            backdrop = backdrop_for_photo(Path(args.backdrop), Path(args.backdrop).name)  # checked, not saved
        results = shoot_photos([Path(p) for p in args.photos], out, backdrop=backdrop, scene=args.scene,
                               variants=args.variants, engine=args.engine, preset=args.preset, seed=args.seed,
                               segmenter=args.backend, extra_prompt=args.prompt or "", steps=args.steps,
                               guidance=args.guidance, long_side=args.long_side, view=args.view,
                               upscale=args.upscale, light_match=args.light_match,
                               reference=Path(args.reference) if args.reference else None)
    except (SceneError, ValueError) as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    files = {Path(f).name: Path(f).read_bytes() for r in results for f in r.get("files", [])}
    if args.zip and files:  # a shoot that made nothing leaves no folder and no empty zip
        from studio.imaging.export import zip_files
        from studio.paths import write_atomic

        target = Path(args.out) / "shots.zip"
        write_atomic(target, zip_files(files))
        for r in results:
            r["zip"] = str(target)
    if args.json:
        print_json(results)
    else:
        for r in results:
            if r["status"] != "done":
                print(f"{r.get('photo')}: {r['status'].upper()} {r.get('error', '')}")
                continue
            chosen = r["variants"][r["chosen"]]
            verdict = "passes" if chosen["compliance"]["ok"] else "FAILS"
            caveat = f" ({r['cutout']['caveat']})" if r["cutout"].get("caveat") else ""
            print(f"{r['photo']}: {len(r['variants'])} variants in {r['scene']} with {r['engine']} (job {r['job']}); chosen "
                  f"{r['chosen']} (seed {chosen['seed']}, {r['reason']}), {r['preset']} compliance {verdict}{caveat}")
            if r["cutout"].get("enlarged"):
                print(f"  {r['cutout']['enlarged']['note']}")
            if r["cutout"].get("advice"):  # every verdict above was measured against it
                print(f"  {r['cutout']['advice']['line']}")
                print("  The fidelity checks and the compliance report were measured against it.")
            for f in r["files"]:
                print(f"  {f}")
    return 0 if all(r["status"] == "done" for r in results) else 2


def cmd_export(args: argparse.Namespace) -> int:
    """A finished shoot's files, written again (after a crash, or to another folder)."""
    from studio.app.context import JobError, open_store
    from studio.app.shoot import FlowError, write_outputs

    try:
        out = check_out(args.out)
        store = open_store()
        from studio.app.history import get_job

        job = get_job(store, args.job)
        files = write_outputs(store, job["id"], out, variant=args.variant)
    except (JobError, FlowError, ValueError) as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json({"job": job["id"], "files": files})
    else:
        for f in files:
            print(f)
    return 0
