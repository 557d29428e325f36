"""The interactive flow the Studio tab drives: cut out, touch up, shoot, choose,
colour, export, through the real engine and the classic compositor."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studio.app import touchup
from studio.app.context import open_store
from studio.app.history import job_detail, list_jobs
from studio.app.shoot import WORK_SIDE, finish_variant
from studio.ui import workbench
from tests.synth import make_case


@pytest.fixture
def photo(tmp_path):
    img, _ = make_case("red-bottle-on-gradient", h=480, w=640, seed=3)
    path = tmp_path / "bottle.jpg"
    Image.fromarray(img).save(path, quality=92)
    return path


def test_touch_up_edits_reach_the_shoot(photo):
    store = open_store()
    cut = workbench.cut_out(photo, "classic")
    assert cut["backend"] == "classic" and 0 <= cut["confidence"] <= 1
    before = cut["alpha"].copy()
    # paint a block into the matte far from the product: the shoot must carry it
    add = np.zeros(before.shape, np.float32)
    add[10:60, 10:60] = 1.0
    touched = touchup.touch_up(store, cut["job"], add=add)
    assert touched["edits"] == 1 and touched["alpha"][10:60, 10:60].min() > 0.99
    assert before[10:60, 10:60].max() < 0.5
    grown = touchup.touch_up(store, cut["job"], grow_px=4)
    assert grown["edits"] == 2 and grown["alpha"].sum() > touched["alpha"].sum()
    assert workbench.undo(store, cut["job"])["edits"] == 1

    res = workbench.make_variants(store, cut["job"], scene="light-grey-seamless", variants=2)
    detail = job_detail(store, res["job"])
    stages = {s["key"]: s for s in detail["stages"]}
    # the shoot took the cut-out job's segmentation instead of running it again
    assert stages["segment"]["reused_from"] is not None and stages["ingest"]["reused_from"] is not None
    assert stages["touchup"]["outputs"] and res["summary"]["status"] == "done"
    matte = np.asarray(res["original"])[..., 3]
    # the painted block is part of the product now: the shoot's cut-out (cropped to the
    # product) begins with it, at the photo's (10, 10)
    assert matte[0:50, 0:50].min() > 200
    assert matte.shape[0] > (before > 0.5).any(axis=1).nonzero()[0][-1] - 10
    assert len(res["shots"]) == 2 and res["shots"][0]["rank"] == 1
    assert {s["index"] for s in res["shots"]} == {0, 1}
    assert all("fidelity" in s["scores"] for s in res["shots"])


def test_choose_colour_and_export(photo):
    store = open_store()
    cut = workbench.cut_out(photo, "classic")
    res = workbench.make_variants(store, cut["job"], scene="white-marketplace", variants=2)
    other = 1 - res["chosen"]
    brighter = workbench.preview_color(res["shots"][0]["image"], {"exposure": 1.0})
    plain = workbench.preview_color(res["shots"][0]["image"], {})
    # a stop brighter wherever the white scene is not already at its brightest
    b, p = np.asarray(brighter, np.float32), np.asarray(plain, np.float32)
    unsaturated = p.max(axis=2) < 230
    assert unsaturated.mean() > 0.05 and b[unsaturated].mean() > p[unsaturated].mean() + 25

    out = finish_variant(store, res["job"], other, adjustments={"exposure": 0.3}, preset="amazon-main")
    data = open(out["path"], "rb").read()
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG" and max(img.size) >= 1600
    assert out["compliance"]["checks"] and "ok" in out["compliance"]
    detail = job_detail(store, out["job"])
    assert detail["parent_id"] == res["job"]
    assert detail["params"]["adjustments"]["exposure"] == pytest.approx(0.3)
    sel = next(s for s in detail["stages"] if s["key"] == "select")
    assert sel["outputs"]["chosen"] == other
    # frame first: amazon-main's 2000² is another frame than the shot's, so the variant was laid out
    # again for it (its generate ran again); the shot's own preset reuses the generation
    gen = next(s for s in detail["stages"] if s["key"] == f"generate[{other}]")
    assert gen["reused_from"] is None
    same = finish_variant(store, res["job"], other, adjustments={"exposure": 0.3},
                          preset=job_detail(store, res["job"])["params"]["preset"])
    gen = next(s for s in job_detail(store, same["job"])["stages"] if s["key"] == f"generate[{other}]")
    assert gen["reused_from"] is not None
    assert {j["id"] for j in list_jobs(store)} >= {cut["job"], res["job"], out["job"]}


def test_a_big_photo_is_cut_out_at_the_shoots_working_size(tmp_path):
    img, _ = make_case("green-mug-on-sheet", h=1800, w=3200, seed=1)
    path = tmp_path / "big.jpg"
    Image.fromarray(img).save(path, quality=90)
    cut = workbench.cut_out(path, "classic")
    assert cut["image"].size == (WORK_SIDE, 1440) and cut["alpha"].shape == (1440, WORK_SIDE)
    assert any("worked at" in n for n in stage_notes(cut["job"]))


def stage_notes(job_id: str) -> list[str]:
    from studio.pipeline.queries import stage_output

    return stage_output(open_store(), job_id, "ingest")["notes"]


def test_a_failed_step_reads_as_a_message(photo):
    store = open_store()
    cut = workbench.cut_out(photo, "classic")
    with pytest.raises(ValueError, match="unknown scene|no scene"):
        workbench.make_variants(store, cut["job"], scene="no-such-scene", variants=1)
