"""`studio history`, `show`, `retry`, `replay`, `review` and `cancel`: past jobs and
what to do with them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from studio.cli.output import print_json, when


def cmd_history(args: argparse.Namespace) -> int:
    from studio.app.context import open_store
    from studio.app.history import list_jobs

    rows = list_jobs(open_store(), limit=args.limit, status=args.status)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no jobs yet")
    for r in rows:
        wall = f"{r['wall_s']:.1f}s" if r["wall_s"] is not None else "-"
        extra = f"  {r['failed_stage']}: {r['error']}" if r["status"] == "failed" else ""
        print(f"{r['id']}  {when(r['created_at'])}  {r['status']:<9} {r['recipe']:<8} {r['scene'] or '-':<18} "
              f"{wall:>7}  {r['cost']:.2f}{extra}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from studio.app.context import JobError, open_store
    from studio.app.history import job_detail, made_line

    try:
        detail = job_detail(open_store(), args.job)
    except JobError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(detail)
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
        print(f"  variant {v['index']}: seed {v['seed']}" + (f"; {made_line(v['made'])}" if v.get("made") else ""))
    return 0


def job_action(action: Callable) -> int:
    """Run `action(store)`; a refusal (unknown job, wrong state) is one line and exit 2."""
    from studio.app.context import JobError, open_store

    try:
        return action(open_store())
    except (JobError, KeyError, ValueError) as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2


def run_with_progress(job_ids: list[str]) -> int:
    from studio.app.context import open_store
    from studio.app.history import get_job
    from studio.cli.progress import run_with_bar

    run_with_bar(job_ids)
    statuses = [get_job(open_store(), j)["status"] for j in job_ids]
    for j, s in zip(job_ids, statuses, strict=True):
        print(f"{j}: {s}")
    return 0 if all(s == "done" for s in statuses) else 1


def cmd_retry(args: argparse.Namespace) -> int:
    from studio.app import history
    from studio.app.context import ledger

    return job_action(lambda store: run_with_progress([history.retry(store, args.job, ledger(store))]))


def parse_sets(pairs: list[str]) -> dict:
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
    from studio.app import history
    from studio.app.context import ledger

    def go(store):
        new = history.replay(store, args.job, args.from_stage, parse_sets(args.set), ledger(store))
        print(f"replay job {new} (from {args.from_stage} of {args.job})")
        return run_with_progress([new])

    return job_action(go)


def cmd_review(args: argparse.Namespace) -> int:
    from studio.app import review
    from studio.app.context import ledger

    def go(store):
        if args.action == "list":
            queue = review.review_queue(store)
            if args.json:
                print_json(queue)
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
            return run_with_progress([review.accept(store, args.job, args.variant)])
        if args.action == "reject":
            return run_with_progress([review.reject(store, args.job, args.note)])
        new = review.send_back(store, args.job, parse_sets(args.set), ledger(store))
        print(f"sent back as job {new}")
        return run_with_progress([new])

    return job_action(go)


def cmd_cancel(args: argparse.Namespace) -> int:
    from studio.app import history
    from studio.app.context import ledger

    def go(store):
        print(f"{args.job}: {history.cancel(store, args.job, ledger(store))}")
        return 0

    return job_action(go)
