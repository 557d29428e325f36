"""The data dir's folders the page may serve (a module of its own so that the tabs can ask
without importing the server, which imports the tabs)."""

from __future__ import annotations

from pathlib import Path

from studio.paths import inside

# What the page needs from the data dir: exported files, batch outputs, and the cache
# (Gradio's upload cache, scene and batch thumbnails). Never `secrets/`, `settings.json`,
# `studio.db`, `artifacts/`, `models/` or `uploads/`.
SERVED = ("exports", "batches", "cache")
NEVER = ("secrets", "settings.json", "studio.db", "studio.db-wal", "studio.db-shm", "artifacts", "models", "uploads",
         "backups")


def served_dirs() -> list[Path]:
    from studio.config import data_dir

    root = data_dir()
    for name in SERVED:
        (root / name).mkdir(parents=True, exist_ok=True)
    return [root / name for name in SERVED]


def blocked_paths() -> list[Path]:
    """Blocked even if a served folder were a link into them (Gradio checks these first)."""
    from studio.config import data_dir

    root = data_dir()
    return [root / name for name in NEVER]


def is_served(path: Path) -> bool:
    return any(inside(path, d) for d in served_dirs())
