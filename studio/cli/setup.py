"""`studio models`, `cloud-key`, `scenes` and `serve`: what is installed, keys,
scene templates, and the web app."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.cli.output import print_json


def cmd_serve(args: argparse.Namespace) -> int:
    from studio.ui.serve import serve

    return serve(port=args.port, listen=args.listen, auth=args.auth, open_browser=not args.no_browser)


def cmd_models(args: argparse.Namespace) -> int:
    from studio.app import engines

    if args.action == "download":
        if not args.model:
            print("studio: which model? e.g. studio models download flux-fill-dev", file=sys.stderr)
            return 2
        try:
            if args.model in engines.model_ids():
                # what the licence allows, before the bytes: a seller must know before using it
                print(("note: " if engines.needs_licence(args.model) else "") + engines.licence_line(args.model))
            print(f"installed in {engines.download(args.model, token=args.token)}")
        except engines.DownloadError as exc:
            print(f"studio: {exc}", file=sys.stderr)
            return 2
        return 0
    gpu = engines.gpu_report()
    report = {"card": gpu["card"], "plan": gpu["plan"], "models": engines.model_table()}
    if args.json:
        print_json(report)
        return 0
    card = gpu["card"]
    if card is None:
        print("GPU: none found (CUDA) — local generation would run on the CPU; the classic engine is the default")
    else:
        print(f"GPU: {card['name']}, {card['total_gb']:.1f} GB ({card['free_gb']:.1f} GB free), "
              f"compute {card['capability']}")
    for engine, m in gpu["models"].items():
        p = m["plan"]
        print(f"VRAM plan for {m['title']} ({engine}): " + (f"{p['id']} — {p['note']}" if p else
                                                              "none runs on this card"))
    for m in report["models"]:
        if m["installed"]:
            state = f"installed at {m['path']}"
        elif m["path"]:  # a download that stopped half-way
            state = f"{m['status']} at {m['path']}: `studio models download {m['id']}` finishes it"
        else:
            state = "not installed"
        print(f"  {m['id']:<15} {m['kind']:<9} {m['size_gb']:>5.1f} GB  {m['licence']:<38} "
              f"commercial: {m['commercial_use']:<12} {state}")
    return 0


def cmd_cloud_key(args: argparse.Namespace) -> int:
    import getpass

    from studio.secrets import save_key

    # read from a prompt or stdin, never from argv: it would land in the shell's history
    key = getpass.getpass(f"{args.provider} API key: ") if sys.stdin.isatty() else sys.stdin.readline()
    if not key.strip():
        print("studio: no key given; nothing changed", file=sys.stderr)
        return 2
    print(f"saved to {save_key(args.provider, key)} (readable by you only)")
    return 0


def cmd_scenes(args: argparse.Namespace) -> int:
    from studio.scenes import load_scenes

    if args.action == "add":
        return _add_scene(args)
    if args.action == "forget":
        return _forget_scenes(args)
    if args.action == "depth":
        return _refresh_depth(args)
    errors: list[str] = []
    scenes = sorted(load_scenes(errors=errors).values(), key=lambda s: (s.category, s.id))
    if args.json:
        print_json([s.summary() for s in scenes])
    else:
        for s in scenes:
            print(f"{s.id:<22} {s.category:<12} {s.summary()['canvas']:>10}  {s.title}")
    for e in errors:
        print(f"studio: skipped {e}", file=sys.stderr)
    return 0


def _add_scene(args: argparse.Namespace) -> int:
    from studio.app.backdrops import BackdropError, SceneExists, add_backdrop_scene

    if not args.name or not args.backdrop:
        print("studio: scenes add needs a NAME and --backdrop PHOTO", file=sys.stderr)
        return 2
    try:
        spot = parse_spot(args.spot)
        scene = add_backdrop_scene(args.name, Path(args.backdrop), title=args.title, spot=spot, light=args.light,
                                   fill=args.fill, depth_of_field=args.depth_of_field, name=Path(args.backdrop).name,
                                   surface_cm=args.surface_cm, replace=args.force,
                                   reference_box=parse_box(args.reference_box), reference_cm=args.reference_cm)
    except SceneExists:
        print(f"studio: you already have a scene called {args.name!r}; nothing was changed. Add --force to replace "
              "it (its photo and spot too), or choose another name", file=sys.stderr)
        return 2
    except (BackdropError, ValueError) as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(scene.summary())
    else:
        print(f"{scene.id}: saved ({scene.summary()['canvas']}); shoot on it with --scene {scene.id}")
    return 0


def _refresh_depth(args: argparse.Namespace) -> int:
    from studio.app.backdrops import BackdropError, refresh_depth
    from studio.scenes import SceneError

    if not args.name:
        print("studio: scenes depth needs the NAME of your backdrop scene", file=sys.stderr)
        return 2
    try:
        scene = refresh_depth(args.name, required=True)
    except (BackdropError, SceneError, KeyError) as exc:
        print(f"studio: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(scene.summary())
    else:
        print(f"{scene.id}: depth read again ({scene.backdrop.depth_model}); its surfaces and scale follow it")
    return 0


def _forget_scenes(args: argparse.Namespace) -> int:
    from studio.app.backdrops import RETENTION_DAYS, forget_unused
    from studio.app.context import open_store

    days = RETENTION_DAYS if args.days is None else args.days
    if not days >= 0:
        print("studio: --days must be 0 or more", file=sys.stderr)
        return 2
    gone = forget_unused(open_store(), days, dry_run=args.dry_run)
    if args.json:
        print_json({"forgotten": gone, "dry_run": args.dry_run, "days": days})
    elif not gone:
        print(f"no backdrop scene from the job API has gone unused for {days:g} days")
    else:
        verb = "would forget" if args.dry_run else "forgot"
        print(f"{verb} {len(gone)} backdrop scene(s) from the job API, unused for {days:g} days: {', '.join(gone)}")
    return 0


def parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    """"0.1,0.5,0.2,0.7" → (0.1, 0.5, 0.2, 0.7); None stays None."""
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError("the reference box is four shares of the photo: X0,Y0,X1,Y1 (0.1,0.5,0.2,0.7)")
    return tuple(float(p) for p in parts)


def parse_spot(text: str | None) -> tuple[float, float] | None:
    """"0.5,0.8" → (0.5, 0.8); None stays None."""
    if not text:
        return None
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--spot must be X,Y such as 0.5,0.8, not {text!r}") from None
    return x, y


def cmd_doctor(args: argparse.Namespace) -> int:
    from studio.app import doctor

    if args.repair:
        for line in doctor.repair():
            print(line)
    report = doctor.check()
    if args.json:
        print_json(report)
    else:
        for line in report["findings"]:
            print(("ok: " if report["ok"] else "") + line)
    return 0 if report["ok"] else 1
