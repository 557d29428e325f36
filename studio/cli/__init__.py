"""The `studio` command. Each command lives in the module for its part of the product
(photos, jobs, batch, setup); heavy modules are imported inside the commands so that
`studio --help` answers at once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import studio
from studio.app.engines import engine_choices, segmenter_choices
from studio.cli.api_keys import cmd_api_key
from studio.cli.batch import cmd_batch
from studio.cli.clips import cmd_clip
from studio.cli.jobs import cmd_cancel, cmd_history, cmd_replay, cmd_retry, cmd_review, cmd_show
from studio.cli.photos import cmd_cutout, cmd_export, cmd_ingest_check, cmd_shoot
from studio.cli.setup import cmd_cloud_key, cmd_doctor, cmd_models, cmd_scenes, cmd_serve
from studio.config import UPSCALES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Local-first AI product photography.")
    parser.add_argument("--version", action="version", version=f"Studio {studio.__version__}")
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
    p.add_argument("--backend", choices=segmenter_choices(), default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cutout)

    p = sub.add_parser("shoot", help="photo(s) → cut-out → scene variants → colour → export")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for the shots (made when the first is written; a file of the same name already "
                        "there is kept, the new one gets -2, -3, …)")
    p.add_argument("--scene", help="scene id (studio scenes); default from settings; not with --backdrop")
    p.add_argument("--variants", type=int, help="how many variants (default from settings)")
    p.add_argument("--engine", choices=engine_choices(), default="auto",
                   help="auto: the first installed local model your declared use allows (klein 4B, SDXL "
                        "inpainting, FLUX.1 Fill) when a CUDA GPU is here, else the cloud (if a key is set and the "
                        "policy allows), else classic")
    p.add_argument("--steps", type=int, help="denoising steps (default: klein 4, SDXL 30; FLUX.1 Fill: the "
                                             "Settings' default steps, 28 unless changed there)")
    p.add_argument("--guidance", type=float, help="guidance scale (default: the model's own; klein ignores it)")
    p.add_argument("--preset", help="export preset: amazon-main, amazon-secondary, shopify, etsy, ebay, instagram")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the first variant (the others take the next ones); the same seed, photo and "
                        "settings give the same shots (default 0)")
    p.add_argument("--backend", choices=segmenter_choices(), default="auto", help="cut-out backend")
    p.add_argument("--prompt", help="extra words for the scene (added, never replacing the preservation rules)")
    p.add_argument("--long-side", type=int, help="canvas long side in px, 64-4096 (default: the scene's; smaller: "
                                                 "quicker previews)")
    p.add_argument("--view", choices=("auto", "side", "top"), default="auto",
                   help="how the product was photographed: side (stood on the scene's floor) or top (from above: "
                        "laid flat, camera overhead); auto judges it from the cut-out")
    p.add_argument("--upscale", choices=UPSCALES,
                   help="how a plate a model painted below the canvas size, and a product photographed smaller than "
                        "it is shown, are enlarged (default: the settings', auto); off keeps the photo's pixels")
    p.add_argument("--backdrop", metavar="PHOTO",
                   help="your own backdrop photo as the scene: the product stands on its surface, lit and shadowed "
                        "by its light (saved as one of your scenes; --scene NAME uses it again); not with --scene")
    p.add_argument("--reference", metavar="PHOTO",
                   help="a photo whose look the scene should have (klein 4B takes it as its reference image; "
                        "other engines use its colours in the prompt)")
    p.add_argument("--light-match", type=float, metavar="0..1",
                   help="how far the product's shading follows the scene's light (lightness only: its colour stays "
                        "within ΔE 2); 0 keeps its pixels exactly (default: the settings')")
    p.add_argument("--zip", action="store_true", help="also write every shot into DIR/shots.zip")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_shoot)

    p = sub.add_parser("batch", help="a catalog: a folder of photos or a CSV of SKUs → shots per SKU, report.csv, zip")
    p.add_argument("input", help="a folder (one SKU per photo, or per sub-folder of angles) or a CSV "
                                 "(sku, image, scene, preset, variants, notes)")
    p.add_argument("--out", required=True)
    p.add_argument("--scene", help="for rows that name none (default: your settings)")
    p.add_argument("--preset", help="for rows that name none (default: your settings)")
    p.add_argument("--engine", default="classic", choices=engine_choices())
    p.add_argument("--variants", type=int)
    p.add_argument("--pattern", default="{sku}_{scene}_{n}.{ext}", help="file names (also {angle})")
    p.add_argument("--parallel", type=int, default=3, help="photos in flight at once")
    p.add_argument("--long-side", type=int, help="canvas long side in px (smaller: quicker previews)")
    p.add_argument("--resume", action="store_true", help="continue the batch already in --out")
    p.add_argument("--cancel", action="store_true", help="cancel the batch in --out (its report keeps what is done)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run the SKUs on a Ray cluster: ray ($RAY_ADDRESS, a cluster on this machine, or a new "
                        "local one), ray://HOST:10001 or HOST:6379 (needs studio[cluster])")
    p.add_argument("--clip", choices=["reels", "square", "listing"],
                   help="also a classic clip of each SKU's chosen shot, at this preset")
    p.add_argument("--workers", type=int, help="with --cluster: how many workers (default: one per GPU, or per "
                                               "CPU for the classic engine)")
    p.add_argument("--backdrop", metavar="PHOTO", help="one backdrop photo for the whole catalog (every SKU on the "
                                                       "same spot; a CSV's size_cm keeps their size relations)")
    p.add_argument("--light-match", type=float, metavar="0..1", help="the products' shading follows the scene's "
                                                                     "light (0: their own pixels)")
    p.add_argument("--hold-doubtful", action="store_true",
                   help="hold SKUs whose cut-out is doubtful in the review queue instead of exporting them")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("models", help="the GPU, its VRAM plan, and which models are installed; or download one")
    p.add_argument("action", nargs="?", choices=["list", "download"], default="list")
    p.add_argument("model", nargs="?", help="model id to download (see the list)")
    p.add_argument("--token", help="Hugging Face token for gated models (or HF_TOKEN)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("api-key", help="keys for the job API (/api/v1): create NAME, list, revoke ID")
    p.add_argument("action", choices=("create", "list", "revoke"))
    p.add_argument("name", nargs="?", metavar="NAME|ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_api_key)
    p = sub.add_parser("cloud-key", help="store your cloud API key (asked for, or read from stdin)")
    p.add_argument("--provider", default="bfl", choices=["bfl"])
    p.set_defaults(func=cmd_cloud_key)

    p = sub.add_parser("scenes", help="list scene templates (shipped and your own); add NAME --backdrop PHOTO; "
                                      "depth NAME: read your backdrop scene's depth again; "
                                      "forget: remove the job API's unused backdrop scenes")
    p.add_argument("action", nargs="?", choices=("list", "add", "depth", "forget"), default="list")
    p.add_argument("name", nargs="?", metavar="NAME", help="with add: the new scene's name (lowercase, dashes); "
                                                           "with depth: your backdrop scene")
    p.add_argument("--backdrop", metavar="PHOTO", help="with add: your backdrop photo")
    p.add_argument("--title", help="with add: the name shown in the gallery")
    p.add_argument("--spot", metavar="X,Y", help="with add: where the product stands, as shares of the frame "
                                                 "(0.5,0.8); default: found on the photo's surface")
    p.add_argument("--light", type=float, metavar="DEGREES",
                   help="with add: where the light comes from (0 right, 90 above, 180 left); default: read from "
                        "the photo")
    p.add_argument("--fill", type=float, help="with add: the product's height as a share of the frame's")
    p.add_argument("--surface-cm", type=float, metavar="CM",
                   help="with add: the main surface's real width across the photo; a shoot's size_cm then sets the "
                        "product's real size on it")
    p.add_argument("--reference-box", metavar="X0,Y0,X1,Y1",
                   help="with add: an object in the photo whose real height you know, as shares of the photo "
                        "(0.1,0.5,0.2,0.7); with --reference-cm a shoot's size_cm sets the product's real size")
    p.add_argument("--reference-cm", type=float, metavar="CM", help="with add: that object's real height")
    p.add_argument("--force", action="store_true", help="with add: replace your scene of that name (its photo and "
                                                         "spot too)")
    p.add_argument("--depth-of-field", type=float, default=0.0, help="with add: 0 sharp … 1 the backdrop behind "
                                                                     "the product softened")
    p.add_argument("--days", type=float, default=None,
                   help="with forget: backdrop scenes made from API uploads that no job used for this many days "
                        "(default 30); your own scenes and those of jobs in progress are kept")
    p.add_argument("--dry-run", action="store_true", help="with forget: list them, remove nothing")
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

    p = sub.add_parser("export", help="write a finished shoot's files (again), e.g. after a crash")
    p.add_argument("job")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--variant", type=int, help="only this variant (0-based, as in studio show)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("clip", help="a short product video (MP4) of a finished shoot")
    p.add_argument("job")
    p.add_argument("--preset", default="reels", choices=["reels", "square", "listing"],
                   help="reels 1080×1920, square 1080×1080, listing 1920×1080")
    p.add_argument("--engine", default="classic", choices=["auto", "classic", "wan"],
                   help="classic: moves the shot's layers (no weights); wan: Wan 2.2 image-to-video on a GPU")
    p.add_argument("--seconds", type=float, help="4 to 8 (default 6)")
    p.add_argument("--fps", type=int, choices=[24, 30], help="default 30")
    p.add_argument("--motion", default="push-in", choices=["push-in", "orbit"])
    p.add_argument("--variant", type=int, help="this variant (0-based) instead of the chosen one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", help="where the MP4 goes (default: the data dir's exports folder)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_clip)

    p = sub.add_parser("doctor", help="check the data dir (database, artifacts, ledger, interrupted jobs)")
    p.add_argument("--repair", action="store_true", help="set a damaged database aside and restore the newest backup")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import sqlite3

    from studio.store import StoreError, explain

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except StoreError as exc:  # a damaged or read-only data dir: one sentence, not a traceback
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # damage found past opening (a truncated file reads until it doesn't)
        from studio.config import data_dir

        print(f"studio: {explain(exc, data_dir())}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be written, a full disk: the file and why, not a traceback
        from studio.config import data_dir
        from studio.paths import inside

        if isinstance(exc, PermissionError) and exc.filename and inside(exc.filename, data_dir()):
            print(f"studio: {explain(exc, data_dir())}", file=sys.stderr)
            return 2
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"studio: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
