from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from PIL import Image

from studio import store as store_mod
from studio.store import MIGRATIONS, Store


def test_schema_is_migrated_once_and_versioned(tmp_path):
    s = Store(tmp_path)
    assert s.schema_version() == len(MIGRATIONS)
    tables = {r[0] for r in s.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "stage_runs", "variants", "artifacts", "job_inputs", "ledger"} <= tables
    assert s.one("PRAGMA journal_mode")[0] == "wal"
    s.close()
    assert Store(tmp_path).schema_version() == len(MIGRATIONS)


def test_newer_schema_is_refused(tmp_path):
    s = Store(tmp_path)
    s.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    s.close()
    with pytest.raises(RuntimeError, match="newer Studio"):
        Store(tmp_path)


def test_artifacts_are_content_addressed_and_deduplicated(tmp_path):
    s = Store(tmp_path)
    a = s.put_artifact(b"hello", "bin")
    b = s.put_artifact(b"hello", "bin")
    assert a == b
    assert s.one("SELECT COUNT(*) FROM artifacts")[0] == 1
    assert s.artifacts.read_bytes(a) == b"hello"
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(s.artifacts.read_array(s.put_array(arr)), arr)
    im = Image.new("RGBA", (5, 4), (1, 2, 3, 4))
    back = s.artifacts.read_image(s.put_image(im))
    assert back.mode == "RGBA" and back.getpixel((0, 0)) == (1, 2, 3, 4)


def test_arrays_read_back_in_parallel_threads_unchanged(tmp_path):
    """Stages decode their inputs in threads; every kind of array the engine keeps (masks,
    a Fortran-ordered one, a scalar) reads back equal from 8 threads at once."""
    s = Store(tmp_path)
    arrays = [np.random.default_rng(i).random((64, 48), dtype=np.float32) for i in range(6)]
    arrays += [np.asfortranarray(np.arange(30, dtype=np.int16).reshape(5, 6)), np.zeros((0, 3))]
    digests = [s.put_array(a) for a in arrays]
    problems: list[BaseException] = []

    def read_all() -> None:
        try:
            for _ in range(200):
                for d, a in zip(digests, arrays, strict=True):
                    back = s.artifacts.read_array(d)
                    assert back.shape == a.shape and back.dtype == a.dtype and np.array_equal(back, a)
        except BaseException as e:  # noqa: BLE001 - reported below
            problems.append(e)

    threads = [threading.Thread(target=read_all) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems, problems[0]


def test_an_array_artifact_cut_short_is_refused(tmp_path):
    s = Store(tmp_path)
    d = s.put_array(np.ones((100, 100), np.float32))
    p = s.artifacts.path(d, "npy")
    os.chmod(p, 0o644)
    p.write_bytes(p.read_bytes()[:-400])
    with pytest.raises(ValueError, match="cut short"):
        s.artifacts.read_array(d)



@pytest.mark.parametrize("mode, ext", [("RGB", "qoi"), ("RGBA", "qoi"), ("L", "png")])
def test_images_are_stored_losslessly(tmp_path, mode, ext):
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, (37, 53, channels), dtype=np.uint8).squeeze()
    s = Store(tmp_path)
    digest = s.put_image(Image.fromarray(pixels, mode))
    assert s.artifacts.find(digest).suffix == f".{ext}"
    back = s.artifacts.read_image(digest)
    assert back.mode == mode and np.array_equal(np.asarray(back), pixels)


def test_image_references_from_older_data_dirs_still_decode(tmp_path):
    """Data dirs from before QOI call an image {"$png": hash} and hold a .png file."""
    import io

    from studio.pipeline.codec import decode

    s = Store(tmp_path)
    buf = io.BytesIO()
    Image.new("RGB", (6, 4), (9, 8, 7)).save(buf, format="PNG")
    digest = s.put_artifact(buf.getvalue(), "png")
    out = decode(s, {"image": {"$png": digest}, "n": 3})
    assert out["n"] == 3 and out["image"].size == (6, 4) and out["image"].getpixel((0, 0)) == (9, 8, 7)

def test_concurrent_writers_from_threads(tmp_path):
    s = Store(tmp_path)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(100):
                with s.tx() as conn:
                    conn.execute("INSERT INTO ledger(job_id, kind, amount, created_at) VALUES (?, 'reserve', 1, ?)",
                                 (f"t{n}", time.time()))
                    # read-modify-write inside the transaction: must never lose an update
                    total = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
                    conn.execute("INSERT INTO ledger(job_id, kind, amount, created_at) VALUES (?, 'count', ?, ?)",
                                 (f"t{n}", total, time.time()))
                s.put_artifact(f"{n}-{i % 10}".encode(), "bin")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert s.one("SELECT COUNT(*) FROM ledger WHERE kind='reserve'")[0] == 800
    counts = sorted(r[0] for r in s.query("SELECT amount FROM ledger WHERE kind='count'"))
    # each counter saw a distinct, odd total: transactions were serialised
    assert len(set(counts)) == 800 and all(int(c) % 2 == 1 for c in counts)
    assert s.one("SELECT COUNT(*) FROM artifacts")[0] == 80


def _run_child(code: str, root) -> int:
    script = textwrap.dedent(code).format(root=str(root))
    return subprocess.run([sys.executable, "-c", script], timeout=60).returncode


def test_crash_mid_artifact_write_leaves_nothing_visible(tmp_path):
    # The child dies after writing the temp file, before the rename.
    rc = _run_child(
        """
        import os
        from studio.store import Store
        s = Store({root!r})
        os.replace = lambda *a, **k: os._exit(9)
        s.put_artifact(b"x" * 1_000_000, "bin")
        """,
        tmp_path,
    )
    assert rc == 9
    temps = list((tmp_path / "artifacts").glob("*/.*.tmp"))
    assert len(temps) == 1  # the half-done write is only a hidden temp file
    s = Store(tmp_path)
    import hashlib

    digest = hashlib.sha256(b"x" * 1_000_000).hexdigest()
    assert s.artifacts.find(digest) is None
    assert s.one("SELECT COUNT(*) FROM artifacts")[0] == 0
    # once old enough to be a leftover, reopening sweeps it
    old = time.time() - store_mod.STALE_TEMP_S - 5
    os.utime(temps[0], (old, old))
    Store(tmp_path)
    assert not temps[0].exists()
    # and writing the same content again works
    assert s.put_artifact(b"x" * 1_000_000, "bin") == digest


def test_crash_mid_transaction_keeps_database_consistent(tmp_path):
    Store(tmp_path).close()
    rc = _run_child(
        """
        import os, time
        from studio.store import Store
        s = Store({root!r})
        conn = s.conn
        conn.execute("BEGIN IMMEDIATE")
        for i in range(1000):
            conn.execute("INSERT INTO ledger(job_id, kind, amount, created_at) VALUES ('crash', 'reserve', 1, 0)")
        os.kill(os.getpid(), 9)
        """,
        tmp_path,
    )
    assert rc == -9
    s = Store(tmp_path)
    assert s.one("PRAGMA integrity_check")[0] == "ok"
    assert s.one("SELECT COUNT(*) FROM ledger WHERE job_id='crash'")[0] == 0
