"""Batch inputs: a folder of photos (one SKU per file, or per sub-folder holding
several angles) or a CSV with columns `sku, image, scene, preset, variants, notes`
(extra columns are kept for the report). Everything is checked before anything runs."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from studio.imaging.export import PRESETS
from studio.scenes import load_scenes

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".bmp"}
COLUMNS = ("sku", "image", "scene", "preset", "variants", "notes")


@dataclass
class Item:
    row: int  # CSV line number (header is line 1), or position in the folder listing
    sku: str
    photo: Path
    scene: str | None = None
    preset: str | None = None
    variants: int | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)
    problem: str | None = None  # an unusable photo: the item fails with this, the others run


@dataclass
class BatchInput:
    items: list[Item]
    errors: list[str]  # problems that stop the batch (a wrong scene, a bad column...)

    def problems(self) -> list[str]:
        """Everything found, in row order: the stopping errors and the unusable photos."""
        return self.errors + [f"row {i.row} ({i.sku}): {i.problem}" for i in self.items if i.problem]


def _photo_problem(path: Path) -> str | None:
    if not path.exists():
        return f"file not found: {path}"
    try:
        with Image.open(path) as im:
            im.verify()  # header and structure; a full decode happens in the job
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"not a readable image: {path.name} ({exc.__class__.__name__})"
    return None


def _photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS
                  and not p.name.startswith("."))


def read_folder(folder: Path) -> BatchInput:
    items: list[Item] = []
    for n, entry in enumerate(sorted(p for p in folder.iterdir() if not p.name.startswith(".")), 1):
        if entry.is_dir():
            for photo in _photos_in(entry):
                items.append(Item(n, entry.name, photo))
        elif entry.suffix.lower() in IMAGE_EXTS:
            items.append(Item(n, entry.stem, entry))
    for it in items:
        it.problem = _photo_problem(it.photo)
    return BatchInput(items, [] if items else [f"{folder} holds no photos"])


def read_csv(path: Path) -> BatchInput:
    scenes, errors, items = load_scenes(), [], []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        for col in ("sku", "image"):
            if col not in header:
                return BatchInput([], [f"{path.name}: missing column {col!r} (have: {', '.join(header) or 'none'})"])
        seen: dict[str, int] = {}
        for line, raw in enumerate(reader, 2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            sku, image = row.get("sku", ""), row.get("image", "")
            where = f"row {line}"
            if not sku or not image:
                errors.append(f"{where}: sku and image are required")
                continue
            scene, preset, variants = row.get("scene") or None, row.get("preset") or None, row.get("variants") or None
            if scene and scene not in scenes:
                errors.append(f"{where} ({sku}): unknown scene {scene!r}")
            if preset and preset not in PRESETS:
                errors.append(f"{where} ({sku}): unknown preset {preset!r}")
            n_var = None
            if variants:
                try:
                    n_var = int(variants)
                    if not 1 <= n_var <= 16:
                        raise ValueError
                except ValueError:
                    errors.append(f"{where} ({sku}): variants must be a whole number 1..16, not {variants!r}")
            if (sku, image) in seen:
                errors.append(f"{where} ({sku}): repeats row {seen[(sku, image)]}")
            seen[(sku, image)] = line
            photo = Path(image) if Path(image).is_absolute() else path.parent / image
            extra = {k: v for k, v in row.items() if k not in COLUMNS}
            items.append(Item(line, sku, photo, scene, preset, n_var, row.get("notes", ""), extra,
                              _photo_problem(photo)))
    if not items and not errors:
        errors.append(f"{path.name} has no rows")
    return BatchInput(items, errors)


def read_input(path: Path, scene: str | None = None, preset: str | None = None) -> BatchInput:
    """The items of a folder or CSV, with batch-wide scene/preset checked too."""
    path = Path(path)
    if not path.exists():
        return BatchInput([], [f"{path} does not exist"])
    batch = read_folder(path) if path.is_dir() else read_csv(path)
    if scene and scene not in load_scenes():
        batch.errors.insert(0, f"--scene: unknown scene {scene!r}")
    if preset and preset not in PRESETS:
        batch.errors.insert(0, f"--preset: unknown preset {preset!r}")
    return batch
