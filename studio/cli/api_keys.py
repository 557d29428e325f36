"""`studio api-key create NAME | list | revoke ID`: the job API's keys."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime


def _when(t: float | None) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "-"


def cmd_api_key(args: argparse.Namespace) -> int:
    from studio.api import keys
    from studio.app.context import open_store
    from studio.cli.output import print_json

    store = open_store()
    if args.action == "create":
        if not args.name:
            print("studio: api-key create needs a NAME", file=sys.stderr)
            return 2
        try:
            key_id, key, secret = keys.create(store, args.name)
        except ValueError as exc:
            print(f"studio: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print_json({"id": key_id, "name": args.name, "key": key, "webhook_secret": secret})
        else:
            print(f"key {key_id} ({args.name}); shown this once, Studio keeps only its hash:\n  {key}\n"
                  f"webhook secret (checks the X-Studio-Signature of its jobs' callbacks):\n  {secret}")
        return 0
    if args.action == "list":
        rows = [r for r in keys.list_keys(store) if r["id"] != "loopback"]
        if args.json:
            print_json(rows)
        else:
            for r in rows:
                state = f"revoked {_when(r['revoked_at'])}" if r["revoked_at"] else "active"
                print(f"{r['id']}  {r['name']:<24} created {_when(r['created_at'])}  last used "
                      f"{_when(r['last_used_at'])}  {state}")
        return 0
    if not args.name:
        print("studio: api-key revoke needs the key's ID (studio api-key list)", file=sys.stderr)
        return 2
    if not keys.revoke(store, args.name):
        print(f"studio: no active key {args.name}", file=sys.stderr)
        return 2
    print(f"revoked {args.name}")
    return 0
