"""MkDocs hook: the pictures in the top-level `assets/` (the README's too) join the site as
`assets/…`, so the manual links them without a second copy inside docs/."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def on_files(files: Files, config) -> Files:
    for picture in sorted(ASSETS.glob("*.jpg")) + sorted(ASSETS.glob("*.png")):
        files.append(File(f"assets/{picture.name}", src_dir=str(ASSETS.parent), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files
