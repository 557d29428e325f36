"""File names and paths that come from people (a CSV's SKU, an API's name, a page's
path): made safe, kept inside their folder, never clobbering each other."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

MAX_NAME = 100
# Windows cannot create files with these names (in any case, with any extension)
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)  # letters, digits, _ . - and spaces stay


class UnsafePath(ValueError):
    """A path that would leave the folder it belongs in."""


def safe_name(text: str) -> str:
    """`text` as one file name on every OS: separators, control and shell characters
    become `_`, leading and trailing dots, dashes and spaces go, reserved device names get
    a `_`, and it is at most 100 characters. Empty when nothing usable is left."""
    name = unicodedata.normalize("NFC", str(text))
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"_+", "_", name).strip(" .-_")[:MAX_NAME].strip(" .-_")
    if name.split(".")[0].lower() in _RESERVED:
        name = "_" + name
    return name


def photo_stem(photo_name: str) -> str:
    """The part of an output's file name that comes from its photo's name (an upload's,
    a CSV's, a replay's): one safe name, never a path (`../../x` is `x`), `photo` when
    nothing usable is left."""
    # a Windows path's folders (`..\\..\\x.jpg` from a browser or a CSV) go too, on every OS
    return safe_name(Path(str(photo_name).replace("\\", "/")).stem) or "photo"


def inside(path: str | Path, root: str | Path) -> bool:
    """Whether `path` (symlinks followed) is `root` or lies under it."""
    try:
        return Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(root)))
    except (OSError, ValueError):
        return False


def safe_join(base: str | Path, *parts: str) -> Path:
    """`base / parts…`, refusing anything that ends up outside `base` (`..`, an absolute
    part, a symlink out of it)."""
    target = Path(base).joinpath(*parts)
    if any(Path(p).is_absolute() or ".." in Path(p).parts for p in parts) or not inside(target, base):
        raise UnsafePath(f"{'/'.join(parts)!r} would be written outside {base}")
    return target


def unique_path(path: Path, taken: set[Path]) -> Path:
    """`path`, or `name-2.ext`, `name-3.ext`, … when an earlier output of the same run
    already took it; the chosen one is added to `taken`."""
    candidate, n = path, 1
    while candidate in taken:
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    taken.add(candidate)
    return candidate


def free_path(wanted: Path, data: bytes, taken: set[Path]) -> Path:
    """Where `data` may be written as `wanted`: the name itself, or -2, -3 … when an earlier
    output of this run took it or a file of that name with other content is there (another
    job's file of the same name is never replaced; the same bytes again are)."""
    path = unique_path(wanted, taken)
    while path.exists() and not _same_file(path, data):
        path = unique_path(wanted, taken)  # the next free number
    return path


def _same_file(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def write_atomic(path: Path, data: bytes) -> None:
    """All or nothing: a process killed mid-write leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
