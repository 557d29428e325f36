"""The product categories CLIP chooses from in the describe stage: shipped with the
app, and replaced by the user's own list when `<data dir>/product-categories.txt` exists."""

from __future__ import annotations

from pathlib import Path

from studio.config import data_dir

SHIPPED = Path(__file__).resolve().parent / "data" / "product-categories.txt"
FILENAME = "product-categories.txt"


def labels_path() -> Path:
    user = data_dir() / FILENAME
    return user if user.exists() else SHIPPED


def load_labels(path: Path | None = None) -> list[str]:
    """One label per line; blank lines and `#` comments are skipped, repeats dropped."""
    path = path or labels_path()
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        label = line.split("#", 1)[0].strip()
        if label and label not in out:
            out.append(label)
    if not out:
        raise ValueError(f"{path} lists no product categories")
    return out
