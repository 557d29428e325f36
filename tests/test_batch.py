"""Catalog batches: input validation, a 50-SKU batch with broken files, kill and resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from studio import cli
from studio.app import batch as batches
from studio.app.batch_input import read_input
from studio.app.context import open_store
from tests.synth import CASES, make_case


def _photos(folder: Path, n: int, prefix: str = "sku") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    names, out = list(CASES), []
    for i in range(n):
        photo, _ = make_case(names[i % len(names)], h=300, w=400, seed=i)
        p = folder / f"{prefix}{i:03d}.jpg"
        Image.fromarray(photo).save(p, quality=90)
        out.append(p)
    return out


def _csv(path: Path, rows: list[dict]) -> Path:
    cols = ["sku", "image", "scene", "preset", "variants", "notes", "colour"]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return path


def test_csv_validation_lists_every_problem_with_row_numbers(tmp_path):
    [good] = _photos(tmp_path, 1)
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    src = _csv(tmp_path / "c.csv", [
        {"sku": "A", "image": good.name, "scene": "marble"},
        {"sku": "B", "image": good.name, "scene": "moon"},
        {"sku": "C", "image": good.name, "preset": "tiktok"},
        {"sku": "D", "image": good.name, "variants": "lots"},
        {"sku": "E", "image": "missing.jpg"},
        {"sku": "F", "image": "junk.jpg"},
        {"sku": "", "image": good.name},
    ])
    checked = read_input(src)
    problems = "\n".join(checked.problems())
    assert "row 3 (B): unknown scene 'moon'" in problems
    assert "row 4 (C): unknown preset 'tiktok'" in problems
    assert "row 5 (D): variants must be" in problems
    assert "row 6 (E): file not found" in problems
    assert "row 7 (F): not a readable image" in problems
    assert "row 8: sku and image are required" in problems
    with pytest.raises(batches.BatchInvalid):
        batches.create_batch(open_store(), src, tmp_path / "out")
    assert cli.main(["batch", str(src), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()  # nothing ran


def test_missing_column_and_unknown_batch_scene(tmp_path):
    (tmp_path / "c.csv").write_text("product,photo\nA,a.jpg\n")
    assert "missing column 'sku'" in read_input(tmp_path / "c.csv").errors[0]
    _photos(tmp_path / "f", 1)
    assert "unknown scene 'moon'" in read_input(tmp_path / "f", scene="moon").errors[0]


def test_fifty_skus_with_broken_files_the_rest_finish(tmp_path, capsys):
    photos = _photos(tmp_path / "p", 47)
    (tmp_path / "p" / "garbage.jpg").write_bytes(b"\xff\xd8\xff garbage")
    data = photos[0].read_bytes()
    (tmp_path / "p" / "truncated.jpg").write_bytes(data[: len(data) // 3])
    rows = [{"sku": p.stem, "image": f"p/{p.name}", "notes": f"n{i}", "colour": "red"} for i, p in enumerate(photos)]
    rows[5]["scene"], rows[6]["preset"], rows[7]["variants"] = "linen", "etsy", "2"
    rows += [{"sku": "G1", "image": "p/garbage.jpg"}, {"sku": "T1", "image": "p/truncated.jpg"},
             {"sku": "M1", "image": "p/gone.jpg"}]
    src = _csv(tmp_path / "catalog.csv", rows)
    out = tmp_path / "out"
    code = cli.main(["batch", str(src), "--out", str(out), "--variants", "1", "--long-side", "256", "--json"])
    assert code == 1  # some failed
    import json

    summary = json.loads(capsys.readouterr().out)
    assert summary["items"] == 50 and summary["done"] == 47 and summary["failed"] == 3
    with (out / "report.csv").open() as fh:
        report = {r["sku"]: r for r in csv.DictReader(fh)}
    assert len(report) == 50 and list(report["sku000"])[-1] == "colour"  # extra column kept
    assert report["G1"]["status"] == "failed" and "not a readable image" in report["G1"]["error"]
    assert report["M1"]["status"] == "failed" and "file not found" in report["M1"]["error"]
    assert report["T1"]["status"] == "failed" and report["T1"]["error"]
    done = [r for r in report.values() if r["status"] == "done"]
    assert len(done) == 47 and all(float(r["fidelity"]) >= 0.75 and r["compliance"] for r in done)
    assert report["sku005"]["files"] == "sku005/sku005_linen_1.jpg"
    assert (out / "sku007" / "sku007_white-marketplace_2.jpg").exists()
    assert (out / "sku006" / "sku006_white-marketplace_1.jpg").exists()
    assert report["sku003"]["notes"] == "n3" and report["sku003"]["colour"] == "red"
    import zipfile

    names = zipfile.ZipFile(out / "batch.zip").namelist()
    assert len(names) == 48 and "sku000/sku000_white-marketplace_1.jpg" in names


def test_folder_of_angles_and_pause_resume(tmp_path):
    _photos(tmp_path / "in" / "mug", 2, "angle")
    _photos(tmp_path / "in", 2)
    store = open_store()
    bid = batches.create_batch(store, tmp_path / "in", tmp_path / "out", variants=1, long_side=256)
    s = batches.run_batch(store, bid, parallel=1, on_item=lambda item: batches.set_status(store, bid, "paused"))
    assert s["status"] == "paused" and 1 <= s["done"] < 4  # paused after the first photo finished
    s = batches.run_batch(store, bid)  # running it again resumes
    assert s["status"] == "done" and s["done"] == 4
    files = sorted(p.name for p in (tmp_path / "out" / "mug").iterdir())
    assert files == ["mug_white-marketplace_1.jpg", "mug_white-marketplace_2.jpg"]  # angles continue the count


def test_cancel_keeps_what_is_done(tmp_path, capsys):
    _photos(tmp_path / "in", 4)
    store = open_store()
    out = tmp_path / "out"
    bid = batches.create_batch(store, tmp_path / "in", out, variants=1, long_side=256)
    s = batches.run_batch(store, bid, parallel=1, on_item=lambda item: batches.set_status(store, bid, "paused"))
    assert s["status"] == "paused" and s["done"] == 1
    assert cli.main(["batch", str(tmp_path / "in"), "--out", str(out), "--cancel"]) == 0
    assert "cancelled: 1 done" in capsys.readouterr().out
    s = batches.batch_summary(store, bid)
    assert s["status"] == "cancelled" and s["done"] == 1 and s["pending"] == 3
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert [r["status"] for r in rows].count("done") == 1
    # a cancelled batch does not resume, and cancelling twice says there is nothing to cancel
    assert cli.main(["batch", str(tmp_path / "in"), "--out", str(out), "--resume"]) == 1
    assert batches.batch_summary(store, bid)["done"] == 1
    assert cli.main(["batch", str(tmp_path / "in"), "--out", str(out), "--cancel"]) == 2


def _done_count(home: Path) -> int:
    import sqlite3

    db = next(home.rglob("studio.db"), None)
    if db is None:
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM batch_items WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_killed_batch_resumes_without_duplicates_or_gaps(tmp_path, studio_home):
    _photos(tmp_path / "in", 10)
    out = tmp_path / "out"
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "STUDIO_LEASE_S": "2"}
    cmd = [sys.executable, "-m", "studio", "batch", str(tmp_path / "in"), "--out", str(out), "--variants", "1",
           "--long-side", "256"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while _done_count(studio_home) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the batch finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = open_store()
    [before] = store.query("SELECT id FROM batches")
    finished = {r["sku"]: r["job_id"] for r in store.query(
        "SELECT sku, job_id FROM batch_items WHERE status = 'done'")}
    assert 3 <= len(finished) < 10
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 2  # unfinished: needs --resume
    done = subprocess.run(cmd + ["--resume", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    items = store.query("SELECT sku, job_id, status FROM batch_items WHERE batch_id = ?", (before["id"],))
    assert all(r["status"] == "done" for r in items) and len(items) == 10
    assert all(finished[r["sku"]] == r["job_id"] for r in items if r["sku"] in finished)  # not redone
    assert store.one("SELECT COUNT(*) FROM jobs WHERE batch_id = ?", (before["id"],))[0] == 10  # no duplicates
    shots = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert shots == [f"sku{i:03d}/sku{i:03d}_white-marketplace_1.jpg" for i in range(10)]
    assert not list(out.rglob(".*.tmp"))
