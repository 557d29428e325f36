"""`studio batch`: a catalog (a folder or a CSV of SKUs) → shots per SKU, report.csv
and batch.zip, with a progress bar; resumable after a crash or Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from studio.cli.output import print_json


def cmd_batch(args: argparse.Namespace) -> int:
    import threading
    from pathlib import Path

    from tqdm import tqdm

    from studio.app import batch as batches
    from studio.app.context import open_store
    from studio.cli.photos import check_out
    from studio.store import loads

    for name, value, most in (("--workers", args.workers, 4096), ("--parallel", args.parallel, 64)):
        if value is not None and not 1 <= value <= most:
            print(f"studio: {name} must be from 1 to {most}, not {value}", file=sys.stderr)
            return 2
    store = open_store()
    try:
        out = check_out(args.out) if not args.cancel else Path(args.out)
    except ValueError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    existing = batches.find_batch(store, out)
    cluster = args.cluster or (existing and args.resume and loads(existing["options"]).get("cluster")) or None
    if args.workers is not None and not cluster:  # said, not silently ignored
        print("studio: --workers is for a batch on a Ray cluster (with --cluster ADDRESS); on this machine "
              "--parallel sets how many photos are in flight", file=sys.stderr)
        return 2
    address = None
    if cluster and not args.cancel:
        from studio.app.batch_cluster import ClusterError, cluster_address, connect

        try:  # before anything is recorded: an unreachable cluster starts nothing
            address = cluster_address(cluster)
            connect(address)
        except ClusterError as exc:
            print(f"studio: {exc}", file=sys.stderr)
            return 2
    if args.cancel:
        if existing is None or existing["status"] in ("done", "cancelled"):
            print(f"studio: no unfinished batch in {out}", file=sys.stderr)
            return 2
        # a process running this batch notices within a moment and stops after its photos in flight
        batches.set_status(store, existing["id"], "cancelled")
        batches.write_report(store, existing["id"])
        summary = batches.batch_summary(store, existing["id"])
        if args.json:
            print_json(summary)
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
                                            long_side=args.long_side, cluster=cluster, clip=args.clip,
                                            backdrop=Path(args.backdrop) if args.backdrop else None,
                                            light_match=args.light_match, hold_doubtful=args.hold_doubtful)
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
            if item["status"] in ("failed", "held"):
                bar.write(f"{item['sku']}: {item['status']}: {item['error']}", file=sys.stderr)

        try:
            if cluster:
                from studio.app.batch_cluster import ClusterError, run_batch_on_cluster

                try:
                    summary = run_batch_on_cluster(store, batch_id, address=address, workers=args.workers,
                                                   on_item=on_item, stop=stop)
                except ClusterError as exc:
                    batches.set_status(store, batch_id, "paused")  # nothing ran: --resume starts it
                    print(f"studio: {exc}", file=sys.stderr)
                    return 2
            else:
                summary = batches.run_batch(store, batch_id, parallel=args.parallel, on_item=on_item, stop=stop)
        except KeyboardInterrupt:  # Ctrl-C: pause, so --resume continues where this stopped
            batches.set_status(store, batch_id, "paused")
            print(f"\npaused; continue with: studio batch {args.input} --out {out} --resume", file=sys.stderr)
            return 130
    if args.json:
        print_json(summary)
    else:
        held = f", {summary['held']} held for review (studio review)" if summary["held"] else ""
        print(f"batch {batch_id}: {summary['done']} done, {summary['failed']} failed{held} of {summary['items']} "
              f"→ {summary['report']}")
    return 0 if summary["status"] == "done" and not summary["failed"] else 1
