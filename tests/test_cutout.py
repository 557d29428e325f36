"""The cut-out flow through the engine: CLI, pausing for touch-up, undo, replay."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from studio import cli
from studio.app import touchup
from studio.app.context import open_store, run_jobs, stages
from studio.app.cutout import submit_cutout
from studio.pipeline import jobs
from studio.pipeline.queries import stage_output
from tests.synth import iou, make_case


def write_photo(path, case="red-bottle-on-gradient", fmt="JPEG"):
    photo, truth = make_case(case)
    Image.fromarray(photo).save(path, fmt, quality=95) if fmt == "JPEG" else Image.fromarray(photo).save(path)
    return truth


def test_cutout_command_writes_one_rgba_png_per_photo(tmp_path, capsys):
    truth = write_photo(tmp_path / "mug.jpg")
    write_photo(tmp_path / "box.png", "striped-box-on-pattern", "PNG")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    out = tmp_path / "out"
    code = cli.main(["cutout", str(tmp_path / "mug.jpg"), str(tmp_path / "box.png"), str(tmp_path / "broken.jpg"),
                     "--out", str(out), "--backend", "classic", "--json"])
    results = json.loads(capsys.readouterr().out)
    assert code == 2  # one photo was refused
    assert sorted(p.name for p in out.iterdir()) == ["box.png", "mug.png"]
    mug = Image.open(out / "mug.png")
    assert mug.mode == "RGBA" and mug.size == (640, 480)
    assert iou(np.asarray(mug)[..., 3] > 127, truth) > 0.95
    by_name = {r["photo"].rsplit("/", 1)[-1]: r for r in results}
    assert by_name["mug.jpg"]["backend"] == "classic" and by_name["mug.jpg"]["confidence"] > 0.6
    assert not by_name["broken.jpg"]["ok"] and "damaged" in by_name["broken.jpg"]["error"]


def test_job_waits_for_touch_up_then_applies_it_and_replay_keeps_it(tmp_path):
    write_photo(tmp_path / "bottle.jpg")
    store = open_store()
    job = submit_cutout(store, tmp_path / "bottle.jpg", "classic", pause_for_touchup=True)
    run_jobs([job], timeout=120)
    assert jobs.get_job(store, job)["status"] == "waiting"

    seg_alpha = np.asarray(stage_output(store, job, "segment")["alpha"], np.float32) / 255
    erase = np.zeros_like(seg_alpha)
    erase[: 240, :] = 1  # the person erases the top half (say, a cap they don't want)
    touchup.add_strokes(store, job, None, erase)
    touchup.add_edit(store, job, {"op": "grow", "px": 3})
    assert [e["op"] for e in touchup.undo(store, job)] == ["strokes"]  # the grow is undone
    assert touchup.preview(store, job, seg_alpha)[:240].max() == 0

    run_jobs([job], timeout=120)
    assert jobs.get_job(store, job)["status"] == "done"
    cut = np.asarray(stage_output(store, job, "matte")["cutout"])
    assert cut[:240, :, 3].max() == 0 and cut[240:, :, 3].max() == 255

    new = jobs.replay(store, stages(), job, "segment", {"segmenter": "classic", "pause_for_touchup": False})
    run_jobs([new], timeout=120)
    assert jobs.get_job(store, new)["status"] == "done"
    runs = {r["key"]: r for r in store.query("SELECT key, reused_from FROM stage_runs WHERE job_id = ?", (new,))}
    assert runs["ingest"]["reused_from"] is not None and runs["segment"]["reused_from"] is None
    cut2 = np.asarray(stage_output(store, new, "matte")["cutout"])
    assert cut2[:240, :, 3].max() == 0  # the touch-up survived the re-segmentation
