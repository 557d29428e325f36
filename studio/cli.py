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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
