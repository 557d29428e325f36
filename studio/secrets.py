"""API keys the user gives Studio (the cloud provider's): stored in `<data dir>/secrets/`
readable by the owner only, never logged, never in history or exports, never served."""

from __future__ import annotations

import os
from pathlib import Path


def secrets_dir() -> Path:
    from studio.config import data_dir

    d = data_dir() / "secrets"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def save_key(provider: str, key: str) -> Path:
    """Stored readable by the owner only."""
    path = secrets_dir() / f"{provider}.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.strip())
    os.chmod(path, 0o600)
    return path


def load_key(provider: str) -> str | None:
    """`STUDIO_<PROVIDER>_KEY` from the environment, else the stored key, else None."""
    env = os.environ.get(f"STUDIO_{provider.upper()}_KEY")
    if env:
        return env.strip()
    path = secrets_dir() / f"{provider}.key"
    return path.read_text().strip() if path.exists() else None


def masked(key: str | None) -> str:
    """Enough to recognise a key, never enough to use it."""
    if not key:
        return "no key stored"
    return "•" * 8 + key[-4:] if len(key) > 8 else "•" * len(key)
