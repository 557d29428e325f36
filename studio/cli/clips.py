"""`studio clip JOB`: a short video of a finished shoot, written to --out."""

from __future__ import annotations

import argparse
import sys

from studio.cli.output import print_json


def cmd_clip(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.app.clip import CLIP_FACTS, clip_result, submit_clip, write_clip
    from studio.app.context import JobError, open_store
    from studio.app.shoot import FlowError, run_to_end
    from studio.cli.photos import check_out

    store = open_store()
    try:
        out = check_out(args.out) if args.out else None  # made by the clip written into it, not before
        job = submit_clip(store, args.job, preset=args.preset, engine=args.engine, seconds=args.seconds,
                          fps=args.fps, motion=args.motion, variant=args.variant, seed=args.seed)
    except (JobError, ValueError, RuntimeError) as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    try:
        from studio.cli.progress import run_with_bar

        run_with_bar([job])
        run_to_end(store, job)
    except FlowError as exc:
        print(f"studio: the clip failed: {exc}", file=sys.stderr)
        return 1
    from studio.config import data_dir

    try:
        path = write_clip(store, job, out or data_dir() / "exports")
    except OSError as exc:
        print(f"studio: the clip (job {job}) could not be written: {exc.strerror or exc}", file=sys.stderr)
        return 2
    result = clip_result(store, job, only=CLIP_FACTS)
    summary = {"job": job, "file": str(Path(path)), "settings": result["settings"], "report": result["report"]}
    drifted = result["product"].get("ok") is False  # a generated clip whose product changed, even on a new seed
    summary["product"] = result["product"]
    if args.json:
        print_json(summary)
    else:
        failed = [c["check"] for c in result["report"]["checks"] if not c["ok"]] + (
            ["the product drifted (frames " + ", ".join(map(str, result["product"]["drift_frames"][:8])) + ")"]
            if drifted else [])
        print(f"{path} ({result['settings']['preset']}, {result['report']['file']['duration']:.1f} s, "
              f"{result['settings']['fps']} fps){'' if not failed else ' — fails: ' + ', '.join(failed)}")
    return 0 if result["report"]["ok"] and not drifted else 1
