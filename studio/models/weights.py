"""Where a model's weights are, and whether they are whole.

A model is found in the models folder (`<models>/<owner>--<name>/` or `<models>/<name>/`)
or in the Hugging Face cache however it got there: fetched by Studio, by diffusers'
`from_pretrained` or by `hf download`, with or without patterns, under huggingface_hub
1.x or 2.x (2.x keeps the repository's whole file list and calls a snapshot that lacks
files we never asked for incomplete: we take its folder and judge it ourselves).

It counts as installed only when every file its loader reads is there, every shard its
weight indexes name included; a download that stopped half-way is "incomplete", with
the files it lacks, and `studio models download ID` finishes it. Nothing here downloads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from studio.models.spec import ModelSpec


@dataclass(frozen=True)
class Found:
    """Where a model was looked for and what is there."""

    path: Path | None  # the folder holding its files (None: not there at all)
    missing: tuple[str, ...] = field(default=())  # files its loader reads that the folder lacks

    @property
    def complete(self) -> bool:
        return self.path is not None and not self.missing

    @property
    def status(self) -> str:
        if self.path is None:
            return "not installed"
        if self.missing:
            return f"incomplete ({len(self.missing)} file{'s' if len(self.missing) != 1 else ''} missing)"
        return "installed"


def _exists(path: Path) -> bool:
    """Whether the path is there; a folder this user may not look into counts as not there."""
    try:
        return path.exists()
    except OSError:
        return False


def missing_files(folder: Path, spec: ModelSpec) -> list[str]:
    """The files of `spec` its loader would read that `folder` lacks: every entry of
    `files` (`a|b`: either), and every shard named by a weight index found among them."""
    missing = []
    for entry in spec.files:
        names = entry.split("|")
        present = next((n for n in names if _exists(folder / n)), None)
        if present is None:
            missing.append(names[0])
        elif present.endswith(".index.json"):
            missing += _missing_shards(folder, present)
    return missing


def _missing_shards(folder: Path, index_name: str) -> list[str]:
    index = folder / index_name
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return [index_name]  # an index that can't be read is as good as missing
    parent = Path(index_name).parent
    return [str(parent / s) for s in shards if not _exists(index.parent / s)]


def candidates(spec: ModelSpec, models_dir: Path) -> list[Path]:
    return [models_dir / spec.repo_id.replace("/", "--"), models_dir / spec.repo_id.split("/")[-1]]


def hub_cache_dir(spec: ModelSpec) -> Path:
    from huggingface_hub import constants  # the module alone: milliseconds

    root = os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE
    return Path(root) / f"models--{spec.repo_id.replace('/', '--')}"


def _hub_snapshot(spec: ModelSpec) -> Path | None:
    """The folder the Hugging Face cache holds for this repository, complete or not."""
    try:
        if not _exists(hub_cache_dir(spec)):
            return None  # not in the cache: no need to load its client to say so
        from huggingface_hub import errors, snapshot_download
    except ImportError:
        return None
    incomplete = getattr(errors, "IncompleteSnapshotError", None)  # huggingface_hub 2.x
    try:
        return Path(snapshot_download(spec.repo_id, local_files_only=True,
                                      allow_patterns=list(spec.allow_patterns) or None,
                                      ignore_patterns=list(spec.ignore_patterns) or None))
    except Exception as exc:  # noqa: BLE001 - sorted below
        if incomplete is not None and isinstance(exc, incomplete):
            # files listed in its tree are absent: perhaps ones we never need, perhaps not
            return Path(exc.snapshot_path)
        if isinstance(exc, (errors.LocalEntryNotFoundError, OSError, ValueError)):
            return None
        raise


def inspect(spec: ModelSpec, models_dir: Path) -> Found:
    """Where the model is and what it lacks: the first complete copy (models folder,
    then the Hugging Face cache), else the first partial one, else nothing."""
    partial: Found | None = None
    places = [p for p in candidates(spec, models_dir) if _exists(p) and p.is_dir()]
    for place in [*places, None]:
        path = place if place is not None else _hub_snapshot(spec)
        if path is None:
            continue
        found = Found(path, tuple(missing_files(path, spec)))
        if found.complete:
            return found
        partial = partial or found
    return partial or Found(None)


# Answers per (model, models folder): a shoot asks for the CLIP model at every stage, and
# the Hugging Face cache lookup costs ~0.1 s. A complete folder is believed while it
# exists; anything else is looked at again while any place it could be exists.
_SEEN: dict[tuple[str, str], Found] = {}


def find(spec: ModelSpec, models_dir: Path | None = None) -> Found:
    if models_dir is None:
        from studio.config import load_settings

        models_dir = load_settings().models_path()
    key = (spec.id, str(models_dir))
    known = _SEEN.get(key)
    if known is not None:
        if known.complete and known.path.is_dir():
            return known
        if known.path is None and not any(_exists(p) for p in [*candidates(spec, models_dir), hub_cache_dir(spec)]):
            return known
    found = inspect(spec, models_dir)
    _SEEN[key] = found
    return found


def locate(spec: ModelSpec, models_dir: Path | None = None) -> Path | None:
    """The folder holding every file the model's loader reads, or None."""
    found = find(spec, models_dir)
    return found.path if found.complete else None


def unavailable_reason(spec: ModelSpec, models_dir: Path | None = None) -> str | None:
    """Why the model can't be used (one sentence with what to do), or None when it can."""
    found = find(spec, models_dir)
    name = spec.title or spec.id
    if found.complete:
        return None
    if found.path is None:
        return f"{name} is not installed: `studio models download {spec.id}`"
    shown = ", ".join(found.missing[:3]) + (f" and {len(found.missing) - 3} more" if len(found.missing) > 3 else "")
    return (f"{name} is incomplete in {found.path} ({len(found.missing)} file{'s' if len(found.missing) != 1 else ''} "
            f"missing: {shown}): `studio models download {spec.id}` finishes the download")
