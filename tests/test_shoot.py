"""A whole shoot through the engine and the CLI."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from studio import cli
from studio.app.context import open_store, run_jobs, stages
from studio.app.shoot import submit_shoot
from studio.imaging.compose import Box, crop_to_alpha, eroded, paste_layer, resize_product
from studio.pipeline import jobs
from studio.pipeline.queries import stage_output
from tests.synth import make_case


def test_shoot_command_writes_chosen_and_alternatives(tmp_path, capsys):
    photo, _ = make_case("red-bottle-on-gradient")
    Image.fromarray(photo).save(tmp_path / "bottle.jpg", quality=95)
    out = tmp_path / "shots"
    code = cli.main(["shoot", str(tmp_path / "bottle.jpg"), "--scene", "white-marketplace", "--variants", "3",
                     "--preset", "amazon-main", "--out", str(out), "--zip", "--json"])
    assert code == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["status"] == "done" and r["scene"] == "white-marketplace"
    assert [v["seed"] for v in r["variants"]] == [0, 1, 2]
    assert all(v["compliance"]["ok"] for v in r["variants"]), r["variants"]
    shots = ["bottle_white-marketplace.jpg", "bottle_white-marketplace_alt1.jpg", "bottle_white-marketplace_alt2.jpg"]
    assert sorted(p.name for p in out.iterdir()) == shots + ["shots.zip"]
    import zipfile

    assert sorted(zipfile.ZipFile(out / "shots.zip").namelist()) == shots
    im = Image.open(out / "bottle_white-marketplace.jpg")
    assert im.size == (2000, 2000) and tuple(np.asarray(im)[5, 5]) == (255, 255, 255)
    assert r["variants"][0]["delta_e"]["mean"] < 1.0


def test_unknown_scene_is_a_clear_error(tmp_path, capsys):
    photo, _ = make_case("red-bottle-on-gradient")
    Image.fromarray(photo).save(tmp_path / "b.png")
    assert cli.main(["shoot", str(tmp_path / "b.png"), "--scene", "moon", "--out", str(tmp_path / "o")]) == 2
    assert "no scene 'moon'" in capsys.readouterr().err


def test_a_failed_link_leaves_no_job_behind(tmp_path):
    """`then` shares the job's transaction (what keeps a killed batch from leaving an
    orphan job and submitting its SKU twice): if it fails, no job was made."""
    photo, _ = make_case("red-bottle-on-gradient")
    Image.fromarray(photo).save(tmp_path / "b.png")
    store = open_store()
    before = store.one("SELECT COUNT(*) FROM jobs")[0]

    def link(job_id: str) -> None:
        assert store.one("SELECT status FROM jobs WHERE id = ?", (job_id,))[0] == "queued"
        raise OSError("the process dies here")

    with pytest.raises(OSError, match="dies here"):
        submit_shoot(store, tmp_path / "b.png", scene="marble", variants=1, then=link)
    assert store.one("SELECT COUNT(*) FROM jobs")[0] == before
    linked: list[str] = []
    job = submit_shoot(store, tmp_path / "b.png", scene="marble", variants=1, then=linked.append)
    assert linked == [job] and jobs.get_job(store, job)["status"] == "queued"


def test_shoot_job_preserves_product_pixels_and_replays_from_generate(tmp_path):
    photo, _ = make_case("colourful-box-on-wood")
    Image.fromarray(photo).save(tmp_path / "box.png")
    store = open_store()
    job = submit_shoot(store, tmp_path / "box.png", scene="marble", variants=2, preset="shopify", long_side=640,
                       adjustments={"exposure": 0.4, "temperature": 30})
    run_jobs([job], timeout=300)
    assert jobs.get_job(store, job)["status"] == "done"
    cut = stage_output(store, job, "enlarge")["cutout"]  # the product as placed
    for i in range(2):
        box = Box(**stage_output(store, job, f"generate[{i}]")["box"])
        img = np.asarray(stage_output(store, job, f"preserve[{i}]")["image"])
        layer = paste_layer(img.shape[:2], resize_product(crop_to_alpha(cut), box), box)
        inner = eroded(layer[..., 3], 2)
        expected = np.clip(layer[..., :3] * 255 + 0.5, 0, 255).astype(np.uint8)
        assert np.array_equal(img[inner], expected[inner])
        report = stage_output(store, job, f"color[{i}]")["report"]
        # the exposure and warmth moved the product's colours; matching brought them back
        # (not all the way: +0.4 EV clips the brightest label pixels, which no transform recovers)
        before, after = report["delta_e_before"]["mean"], report["delta_e_after"]["mean"]
        assert before > 3 and after < before / 2 and after < 2.5
        exported = Image.open(io.BytesIO(stage_output(store, job, f"export[{i}]")["file"]))
        assert exported.size == (2048, 2048)
    new = jobs.replay(store, stages(), job, "generate", {"seed": 10, "scene": "concrete"})
    run_jobs([new], timeout=300)
    assert jobs.get_job(store, new)["status"] == "done"
    reused = {r["key"] for r in store.query("SELECT key FROM stage_runs WHERE job_id = ? AND reused_from IS NOT NULL",
                                            (new,))}
    assert {"ingest", "segment", "touchup", "matte", "describe"} <= reused
    assert stage_output(store, new, "generate[1]")["seed"] == 11
