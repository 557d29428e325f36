"""Persistence: one SQLite database (sqlite-utils, WAL) and a folder of artifacts.

Rows hold jobs, stage runs, variants, human inputs and the credits ledger.
Artifacts (images, arrays, raw uploads) are files named by the SHA-256 of their
bytes, written to a temp file and renamed into place, so a reader never sees a
partial file and writing the same content twice keeps one copy.

Each thread gets its own connection; `tx()` opens an IMMEDIATE transaction so
read-modify-write sequences (claiming work, moving money) are atomic across
threads and processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def _import_sqlite_utils():
    """sqlite-utils imports pandas whenever it is installed (gradio brings it along):
    0.6 s of every CLI start, to map pandas types we never insert. Hidden while
    sqlite-utils loads; anything that imports pandas later still gets it."""
    hide = "pandas" not in sys.modules
    if hide:
        sys.modules["pandas"] = None  # type: ignore[assignment]  # import → ImportError
    try:
        import sqlite_utils
    finally:
        if hide:
            del sys.modules["pandas"]
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()

# Each migration takes the database from version i to i + 1. Never edit one that
# has shipped; append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        recipe TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'queued',
        title TEXT NOT NULL DEFAULT '',
        parent_id TEXT REFERENCES jobs(id),
        batch_id TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        error TEXT,
        failed_stage TEXT,
        failed_attempts INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        cost REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_status ON jobs(status, created_at);
    CREATE INDEX jobs_batch ON jobs(batch_id);
    CREATE TABLE stage_runs (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        stage TEXT NOT NULL,
        deps TEXT NOT NULL DEFAULT '{}',
        params TEXT NOT NULL DEFAULT '{}',
        device TEXT NOT NULL DEFAULT 'cpu',
        status TEXT NOT NULL DEFAULT 'pending',
        attempt INTEGER NOT NULL DEFAULT 0,
        not_before REAL NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_token TEXT,
        lease_expires REAL,
        started_at REAL,
        finished_at REAL,
        duration_s REAL,
        progress REAL NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        waiting_for TEXT,
        prompt TEXT,
        crashes INTEGER NOT NULL DEFAULT 0,
        outputs TEXT,
        error TEXT,
        history TEXT NOT NULL DEFAULT '[]',
        reused_from INTEGER,
        UNIQUE (job_id, key)
    );
    CREATE INDEX stage_runs_ready ON stage_runs(status, not_before);
    CREATE TABLE variants (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        seed INTEGER,
        artifact TEXT,
        data TEXT NOT NULL DEFAULT '{}',
        UNIQUE (job_id, idx)
    );
    CREATE TABLE artifacts (
        hash TEXT PRIMARY KEY,
        ext TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE job_inputs (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (job_id, key)
    );
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY,
        job_id TEXT,
        kind TEXT NOT NULL,
        amount REAL NOT NULL,
        provider TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        ref TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX ledger_job ON ledger(job_id);
    CREATE UNIQUE INDEX ledger_ref ON ledger(job_id, kind, ref) WHERE ref IS NOT NULL;
    """,
    # 2: catalog batches (the parent) and their items (one child job each)
    """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        out_dir TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'running',
        created_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX batches_out ON batches(out_dir);
    CREATE TABLE batch_items (
        batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        row INTEGER NOT NULL,
        sku TEXT NOT NULL,
        photo TEXT NOT NULL,
        spec TEXT NOT NULL DEFAULT '{}',
        job_id TEXT,
        status TEXT NOT NULL DEFAULT 'pending',
        error TEXT,
        result TEXT,
        PRIMARY KEY (batch_id, idx)
    );
    """,
    # issue 21: the job API's keys (only hashes), idempotency keys, jobs' callbacks, and
    # every webhook delivery attempt
    """
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        webhook_secret TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL,
        revoked_at REAL
    );
    CREATE TABLE api_jobs (
        job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
        key_id TEXT NOT NULL REFERENCES api_keys(id),
        callback_url TEXT,
        notified_status TEXT
    );
    CREATE INDEX api_jobs_key ON api_jobs(key_id);
    CREATE TABLE api_idempotency (
        key_id TEXT NOT NULL,
        idem_key TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        job_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (key_id, idem_key)
    );
    CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at REAL NOT NULL,
        http_status INTEGER,
        error TEXT
    );
    """,
    # issue 22: which machine ran a job (a cluster worker; NULL: this one), and a batch
    # item's node and dispatch attempt (a result from an attempt given up on is dropped)
    """
    ALTER TABLE jobs ADD COLUMN node TEXT;
    ALTER TABLE batch_items ADD COLUMN node TEXT;
    ALTER TABLE batch_items ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
    """,
    # issue 37: which API keys a backdrop scene made from their uploads belongs to (a
    # scene with no row is the seller's own: the page's, the CLI's, a hand-written one)
    """
    CREATE TABLE scene_owners (
        scene_id TEXT NOT NULL,
        key_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (scene_id, key_id)
    );
    CREATE INDEX scene_owners_key ON scene_owners(key_id);
    """,
]

ARTIFACT_EXTS = ("qoi", "png", "npy", "bin", "jpg", "webp", "json")
# QOI: lossless like PNG and about the same size, but ten times faster to write and
# read; stage images are written on every run, so PNG's cost was most of a shoot's.
_QOI_MODES = ("RGB", "RGBA")
# Temp files older than this are leftovers of a crash, not a write in progress.
STALE_TEMP_S = 600.0


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class ArtifactStore:
    """Files addressed by the SHA-256 of their bytes."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._clean_stale_temps()

    def path(self, digest: str, ext: str) -> Path:
        return self.root / digest[:2] / f"{digest}.{ext}"

    def find(self, digest: str) -> Path | None:
        for ext in ARTIFACT_EXTS:
            p = self.path(digest, ext)
            if p.exists():
                return p
        return None

    def put_bytes(self, data: bytes, ext: str = "bin") -> str:
        if ext not in ARTIFACT_EXTS:
            raise ValueError(f"unknown artifact type {ext!r}")
        digest = hashlib.sha256(data).hexdigest()
        final = self.path(digest, ext)
        if final.exists():
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return digest

    def put_image(self, image: Image.Image) -> tuple[str, str]:
        """Store an image losslessly: (digest, ext). RGB and RGBA as QOI, other modes
        (masks, 16-bit) as PNG."""
        if image.mode in _QOI_MODES:
            import qoi

            return self.put_bytes(qoi.encode(np.asarray(image)), "qoi"), "qoi"
        buf = io.BytesIO()
        # Level 1: artifacts are written often and read rarely; speed beats size.
        image.save(buf, format="PNG", compress_level=1)
        return self.put_bytes(buf.getvalue(), "png"), "png"

    def put_array(self, array: np.ndarray) -> str:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        return self.put_bytes(buf.getvalue(), "npy")

    def read_bytes(self, digest: str) -> bytes:
        p = self.find(digest)
        if p is None:
            raise FileNotFoundError(f"artifact {digest} is missing")
        return p.read_bytes()

    def read_image(self, digest: str) -> Image.Image:
        p = self.path(digest, "qoi")
        if p.exists():
            import qoi

            # Pillow reads QOI too, but in pure Python: far too slow for a 12 MP image
            return Image.fromarray(qoi.decode(p.read_bytes()))
        with Image.open(self.path(digest, "png")) as im:
            im.load()
            return im

    def read_array(self, digest: str) -> np.ndarray:
        fmt = np.lib.format
        with open(self.path(digest, "npy"), "rb") as f:
            version = fmt.read_magic(f)
            read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            # numpy parses the header with ast.literal_eval, which CPython 3.11 does not make
            # safe across threads (gh-106905: "AST constructor recursion depth mismatch"),
            # and stages decode their inputs in parallel threads
            with _NPY_HEADER_LOCK:
                shape, fortran, dtype = read_header(f)
            if dtype.hasobject:
                raise ValueError(f"artifact {digest} holds Python objects; refusing to load it")
            count = int(np.prod(shape, dtype=np.int64))
            data = np.fromfile(f, dtype=dtype, count=count)
        if data.size != count:
            raise ValueError(f"artifact {digest} is cut short")
        return data.reshape(shape, order="F" if fortran else "C")

    def _clean_stale_temps(self) -> None:
        now = time.time()
        for tmp in self.root.glob("*/.*.tmp"):
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > STALE_TEMP_S:
                    tmp.unlink()


_NPY_HEADER_LOCK = threading.Lock()


class StoreError(RuntimeError):
    """The data dir's database can't be used; the message says why and what to do."""


DB_NAME = "studio.db"
BACKUPS = "backups"
KEEP_BACKUPS = 5


def owner_only(root: Path, db_path: Path) -> None:
    """The data dir readable by its owner only (keys' webhook secrets, job history and the
    photos live there), the database and its journal files too. Best effort: a folder of
    someone else's is left as it is (the owner decides)."""
    for path, mode in ((root, 0o700), (db_path, 0o600), (Path(f"{db_path}-wal"), 0o600),
                       (Path(f"{db_path}-shm"), 0o600)):
        try:
            st = path.stat()
            if st.st_uid == os.getuid() and st.st_mode & 0o777 != mode:
                os.chmod(path, mode)
        except (OSError, AttributeError):  # missing, not ours, or no getuid (Windows: ACLs do this)
            continue


def explain(exc: BaseException, root: Path) -> str:
    """What a database error means for the person, and what to do about it."""
    text = str(exc).lower()
    if isinstance(exc, PermissionError) or "readonly" in text or "read-only" in text or "unable to open" in text:
        return (f"cannot write to the data dir {root}: it is read-only or not yours. Make it writable, or set "
                "STUDIO_HOME to another folder.")
    if "not a database" in text or "malformed" in text or "corrupt" in text or "disk i/o error" in text:
        return (f"{root / DB_NAME} is damaged ({exc}). Run `studio doctor --repair`: it sets the file aside "
                "and restores the newest backup (your images in artifacts/ are kept).")
    if "disk" in text and "full" in text:
        return f"the disk holding {root} is full; free some space and try again."
    return f"the database {root / DB_NAME} cannot be used: {exc}"


class Store:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        self._local = threading.local()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.artifacts = ArtifactStore(self.root / "artifacts")
            self._migrate()
            owner_only(self.root, self.db_path)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(explain(exc, self.root)) from exc

    # -- connections -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        # WAL + NORMAL is durable across application crashes; only an OS crash
        # can lose the last commits, never corrupt the file.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite_utils.Database(self.conn)
        return db

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.db = None

    # -- schema ------------------------------------------------------------
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version()
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.db_path} was written by a newer Studio (schema {version}); this one knows {len(MIGRATIONS)}."
            )
        if 0 < version < len(MIGRATIONS):
            self.backup(f"before-v{len(MIGRATIONS)}")  # a migration that goes wrong can be undone
        with self.tx() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[i].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {i + 1}")

    def backup(self, why: str) -> Path:
        """A consistent copy of the database in `backups/` (SQLite's online backup API:
        safe while other connections write). The newest few are kept."""
        folder = self.root / BACKUPS
        folder.mkdir(exist_ok=True)
        target = folder / f"studio-{time.strftime('%Y%m%d-%H%M%S')}-{why}.db"
        dest = sqlite3.connect(target)
        try:
            self.conn.backup(dest)
        finally:
            dest.close()
        for old in sorted(folder.glob("studio-*.db"))[:-KEEP_BACKUPS]:
            with contextlib.suppress(OSError):
                old.unlink()
        return target

    # -- small helpers shared by the modules that own each table ------------
    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def put_artifact(self, data: bytes, ext: str) -> str:
        digest = self.artifacts.put_bytes(data, ext)
        self._record_artifact(digest, ext, len(data))
        return digest

    def put_image(self, image: Image.Image) -> str:
        digest, ext = self.artifacts.put_image(image)
        self._record_artifact(digest, ext, self.artifacts.path(digest, ext).stat().st_size)
        return digest

    def put_array(self, array: np.ndarray) -> str:
        digest = self.artifacts.put_array(array)
        self._record_artifact(digest, "npy", self.artifacts.path(digest, "npy").stat().st_size)
        return digest

    def _record_artifact(self, digest: str, ext: str, size: int) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO artifacts(hash, ext, size, created_at) VALUES (?, ?, ?, ?)",
            (digest, ext, size, time.time()),
        )
