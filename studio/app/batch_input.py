"""Batch inputs: a folder of photos (one SKU per file, or per sub-folder holding
several angles) or a CSV with columns `sku, image, scene, preset, variants, notes`
and, optionally, `backdrop` and `reference` (photos, as `image`) and `size_cm` (the
product's real height, so SKUs on one backdrop keep their size relations); extra
columns are kept for the report. Everything is checked before anything runs.

A SKU names a folder of the output, so it becomes a safe file name (`item.name`);
two SKUs that would share one are refused with their rows. A CSV is read as UTF-8,
or, when it is not, as Windows-1252 (what spreadsheets on Windows save).
"""

from __future__ import annotations

import csv
import io
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from studio.config import Limits, load_settings
from studio.imaging.export import PRESETS
from studio.paths import inside, safe_name
from studio.scenes import load_scenes

MAX_CSV_BYTES = 50 * 1024 * 1024

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".bmp"}
COLUMNS = ("sku", "image", "scene", "preset", "variants", "notes", "backdrop", "reference", "size_cm")


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
    backdrop: Path | None = None  # the SKU's own backdrop photo (its scene is made from it)
    reference: Path | None = None  # a photo whose look the SKU's scene should have
    size_cm: float | None = None  # the product's real height

    @property
    def name(self) -> str:
        """The SKU as a file name: its folder in the output."""
        return safe_name(self.sku)


@dataclass
class BatchInput:
    items: list[Item]
    errors: list[str]  # problems that stop the batch (a wrong scene, a bad column...)

    def problems(self) -> list[str]:
        """Everything found, in row order: the stopping errors and the unusable photos."""
        return self.errors + [f"row {i.row} ({i.sku}): {i.problem}" for i in self.items if i.problem]


def _photo_problem(path: Path, limits: Limits, roots: list[Path] | None = None) -> str | None:
    """Why this photo can't be used (read from its header only), or None."""
    if roots is not None and not any(inside(path, r) for r in roots):
        return f"{path} is outside the folders the app may read (Settings → batch folders)"
    try:
        st = path.stat()
    except OSError:
        return f"file not found: {path}"
    if not stat.S_ISREG(st.st_mode):
        return f"not a photo file: {path.name} ({'a folder' if stat.S_ISDIR(st.st_mode) else 'not a regular file'})"
    if st.st_size > limits.max_upload_bytes:
        return f"{path.name}: {st.st_size / 1e6:.1f} MB is over the {limits.max_upload_bytes / 1e6:.0f} MB limit"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > limits.max_pixels:
                    return (f"{path.name}: {w}×{h} is {w * h / 1e6:.0f} MP, over the "
                            f"{limits.max_pixels / 1e6:.0f} MP limit")
                im.verify()  # header and structure; a full decode happens in the job
    except Image.DecompressionBombError:
        return f"{path.name}: too many pixels to decode safely"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"not a readable image: {path.name} ({exc.__class__.__name__})"
    return None


def _check_names(items: list[Item], errors: list[str]) -> None:
    """SKUs that leave no usable file name, or whose file names collide, stop the batch."""
    owner: dict[str, Item] = {}
    for it in items:
        name = it.name
        if not name:
            errors.append(f"row {it.row}: SKU {it.sku!r} has nothing usable as a file name")
            continue
        other = owner.setdefault(name.lower(), it)  # case-insensitive file systems (Windows, macOS)
        if other.sku != it.sku:
            errors.append(f"row {it.row} ({it.sku}): writes to the same folder {name!r} as row {other.row} "
                          f"({other.sku}); rename one of them")


def _read_text(path: Path) -> str:
    if not stat.S_ISREG(path.stat().st_mode):
        raise ValueError("it is not a regular file")
    with path.open("rb") as fh:
        data = fh.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise ValueError(f"{path.name} is over {MAX_CSV_BYTES // 2**20} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")  # never fails: every byte is a character


def _photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS
                  and not p.name.startswith("."))


def read_folder(folder: Path, roots: list[Path] | None = None) -> BatchInput:
    limits = load_settings().limits
    items: list[Item] = []
    for n, entry in enumerate(sorted(p for p in folder.iterdir() if not p.name.startswith(".")), 1):
        if entry.is_dir():
            for photo in _photos_in(entry):
                items.append(Item(n, entry.name, photo))
        elif entry.suffix.lower() in IMAGE_EXTS:
            items.append(Item(n, entry.stem, entry))
    for it in items:
        it.problem = _photo_problem(it.photo, limits, roots)
    errors = [] if items else [f"{folder} holds no photos"]
    _check_names(items, errors)
    return BatchInput(items, errors)


def read_csv(path: Path, roots: list[Path] | None = None) -> BatchInput:
    limits = load_settings().limits
    scenes, errors, items = load_scenes(errors=[]), [], []
    try:
        text = _read_text(path)
    except (OSError, ValueError) as exc:
        return BatchInput([], [f"{path.name}: cannot be read ({exc})"])
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        return BatchInput([], [f"{path.name}: not a CSV file ({exc})"])
    header = [h.strip().lower() for h in (rows[0] if rows else [])]
    for col in ("sku", "image"):
        if col not in header:
            return BatchInput([], [f"{path.name}: missing column {col!r} (have: {', '.join(header) or 'none'})"])
    seen: dict[tuple[str, str], int] = {}
    for line, cells in enumerate(rows[1:], 2):
        if not any(c.strip() for c in cells):
            continue  # blank lines, as spreadsheets leave at the end
        if len(cells) > len(header):
            errors.append(f"row {line}: {len(cells)} cells, but the header names {len(header)} columns")
            continue
        row: dict[str, str] = {}
        for k, v in zip(header, cells, strict=False):
            row.setdefault(k, v.strip())
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
                n = int(variants)
                if not 1 <= n <= 16:
                    raise ValueError
                n_var = n  # only a valid count is kept: the row's error says what was wrong
            except ValueError:
                errors.append(f"{where} ({sku}): variants must be a whole number 1..16, not {variants!r}")
        if (sku, image) in seen:
            errors.append(f"{where} ({sku}): repeats row {seen[(sku, image)]}")
        seen[(sku, image)] = line
        photo = Path(image) if Path(image).is_absolute() else path.parent / image
        extra = {k: v for k, v in row.items() if k not in COLUMNS and k}
        item = Item(line, sku, photo, scene, preset, n_var, row.get("notes", ""), extra,
                    _photo_problem(photo, limits, roots))
        for col in ("backdrop", "reference"):  # photos too: the same checks, and they stop the batch
            if row.get(col):
                other = Path(row[col]) if Path(row[col]).is_absolute() else path.parent / row[col]
                problem = _photo_problem(other, limits, roots)
                if problem:
                    errors.append(f"{where} ({sku}): {col}: {problem}")
                setattr(item, col, other)
        if row.get("size_cm"):
            try:
                item.size_cm = float(row["size_cm"].replace(",", "."))
                if not 0 < item.size_cm <= 10000 or item.size_cm != item.size_cm:
                    raise ValueError
            except ValueError:
                item.size_cm = None
                errors.append(f"{where} ({sku}): size_cm must be the product's height in centimetres, not "
                              f"{row['size_cm']!r}")
        items.append(item)
    if not items and not errors:
        errors.append(f"{path.name} has no rows")
    _check_names(items, errors)
    return BatchInput(items, errors)


def read_input(path: Path, scene: str | None = None, preset: str | None = None,
               roots: list[Path] | None = None) -> BatchInput:
    """The items of a folder or CSV, with batch-wide scene/preset checked too. With
    `roots`, the input and every photo it names must lie inside one of those folders
    (what the app's Batch tab may read)."""
    path = Path(path)
    # the folders first: outside them, whether a path exists is not the page's to tell
    if roots is not None and not any(inside(path, r) for r in roots):
        return BatchInput([], [f"{path} is outside the folders the app may read; add its folder to the "
                               "batch folders in Settings, or upload the photos"])
    if not path.exists():
        return BatchInput([], [f"{path} does not exist"])
    batch = read_folder(path, roots) if path.is_dir() else read_csv(path, roots)
    if scene and scene not in load_scenes(errors=[]):
        batch.errors.insert(0, f"--scene: unknown scene {scene!r}")
    if preset and preset not in PRESETS:
        batch.errors.insert(0, f"--preset: unknown preset {preset!r}")
    return batch
