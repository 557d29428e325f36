"""`studio doctor`: check the data dir (the database's integrity and schema, the
artifacts it refers to, the ledger, jobs a killed process left behind) and, with
`--repair`, set a damaged database aside and restore the newest backup. Nothing is
deleted: a damaged file is renamed, never removed."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

from studio.config import data_dir
from studio.store import BACKUPS, DB_NAME, MIGRATIONS, Store, StoreError

SIDE_FILES = ("", "-wal", "-shm")


def _integrity(db: Path) -> str | None:
    """None when SQLite finds the file sound, else what it says is wrong. In a folder it
    cannot write (a read-only data dir), SQLite cannot open a WAL database even to read it
    (it needs the shared-memory file beside it): the file is then read as it stands, so a
    sound database is not called damaged."""
    problem = _integrity_of(f"file:{db}?mode=ro")
    if problem and not os.access(db.parent, os.W_OK):
        return _integrity_of(f"file:{db}?mode=ro&immutable=1")
    return problem


def _integrity_of(uri: str) -> str | None:
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return str(exc)
    return None if result == ["ok"] else "; ".join(result[:5])


def check(root: Path | None = None) -> dict:
    """{"ok": bool, "findings": [sentences], "damaged": bool}."""
    root = root or data_dir()
    db = root / DB_NAME
    findings: list[str] = []
    if not db.exists():
        return {"ok": True, "damaged": False, "findings": [f"no database yet in {root} (it is made on first use)"]}
    problem = _integrity(db)
    if problem:
        backups = sorted((root / BACKUPS).glob("studio-*.db"))
        return {"ok": False, "damaged": True, "findings": [
            f"{db} is damaged: {problem}",
            "`studio doctor --repair` sets it aside and restores " + (
                f"the newest backup ({backups[-1].name})" if backups else "an empty database (no backup exists)")]}
    try:
        store = Store(root)
    except StoreError as exc:
        return {"ok": False, "damaged": False, "findings": [str(exc)]}
    from studio.app.context import ledger
    from studio.pipeline import queries

    version = store.schema_version()
    if version != len(MIGRATIONS):
        findings.append(f"schema version {version}, expected {len(MIGRATIONS)}")
    missing = [h for h in queries.referenced_artifacts(store) if store.artifacts.find(h) is None]
    if missing:
        findings.append(f"{len(missing)} artifact(s) the jobs refer to are missing from {root / 'artifacts'} "
                        "(jobs using them fail until replayed)")
    findings += [f"ledger: {p}" for p in ledger(store).problems()]
    stuck = queries.interrupted_jobs(store, time.time())
    if stuck:
        findings.append(f"{len(stuck)} job(s) were interrupted (a closed app or a killed process): "
                        + ", ".join(stuck[:10]) + " — `studio retry JOB` carries one on")
    store.close()
    return {"ok": not findings, "damaged": False, "findings": findings or ["everything checks out"]}


def repair(root: Path | None = None) -> list[str]:
    """Set a damaged database aside (renamed, not deleted) and restore the newest backup
    (or start an empty one). Returns what was done."""
    root = root or data_dir()
    db = root / DB_NAME
    if not db.exists() or _integrity(db) is None:
        return ["the database is sound: nothing to repair"]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    done = []
    for suffix in SIDE_FILES:
        f = root / (DB_NAME + suffix)
        if f.exists():
            aside = root / f"{DB_NAME}{suffix}.damaged-{stamp}"
            f.rename(aside)
            done.append(f"set {f.name} aside as {aside.name}")
    backups = sorted((root / BACKUPS).glob("studio-*.db"))
    if backups:
        shutil.copyfile(backups[-1], db)
        done.append(f"restored {backups[-1].name}: jobs after it are not in the history; their files are kept")
    else:
        done.append("no backup exists: started an empty database (the artifacts folder is kept)")
    Store(root).close()  # brings the schema up to date
    return done
