"""A model put into a Hugging Face cache the way huggingface_hub leaves a download:
content-addressed blobs, a snapshot of relative symlinks to them, refs/main, and under
huggingface_hub 2.x the repository's whole file list (`trees/<commit>.json`), files that
were never fetched (patterns left them out) included."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

COMMIT = "5e67da9c0ffee0ddba11ab1e5afe1eafbeefcafe"  # a commit hash: 40 hex digits


def as_hub_leaves_it(hub: Path, repo_id: str, build: Callable[[Path], Path], *,
                     listed_not_fetched: dict[str, int] | None = None, commit: str = COMMIT) -> Path:
    """Build the model with `build(folder)` and plant it in `hub`; with
    `listed_not_fetched` (path → bytes) write the 2.x tree listing naming those too.
    Returns the snapshot folder."""
    storage = hub / f"models--{repo_id.replace('/', '--')}"
    snap = storage / "snapshots" / commit
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as scratch:
        built = build(Path(scratch) / "model")
        for f in sorted(p for p in built.rglob("*") if p.is_file()):
            rel = f.relative_to(built).as_posix()
            data = f.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            blob = storage / "blobs" / digest
            blob.parent.mkdir(parents=True, exist_ok=True)
            if not blob.exists():
                shutil.move(str(f), blob)
            link = snap / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(blob, link.parent), link)
            sizes[rel] = len(data)
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / "main").write_text(commit)
    if listed_not_fetched is not None:
        from huggingface_hub._tree_cache import TreeCacheEntry, write_tree_cache

        entries = {p: TreeCacheEntry(size=n, blob_id=hashlib.sha1(p.encode()).hexdigest())
                   for p, n in {**sizes, **listed_not_fetched}.items()}
        write_tree_cache(str(storage), commit, entries)
        assert (storage / "trees" / f"{commit}.json").exists()
    return snap


def drop(snapshot: Path, rel: str) -> None:
    """A file the download never finished: its link is gone (huggingface_hub links a
    file only once its blob is whole; the part lies in blobs/*.incomplete)."""
    link = snapshot / rel
    blob = link.resolve()
    link.unlink()
    blob.rename(blob.with_name(blob.name + ".incomplete"))
