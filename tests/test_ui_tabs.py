"""The tabs' actions as the browser triggers them (the handler functions), with real
jobs underneath: history, batch, models, settings, cancel, the sample photo."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from studio.app.context import open_store
from studio.app.cutout import submit_cutout
from studio.config import load_settings
from studio.pipeline import jobs
from studio.ui import tab_batch, tab_history, tab_models, tab_settings, tab_studio, workbench
from studio.ui.uploads import receive
from studio.ui.views import set_active
from tests.synth import CASES, make_case


def _photo(folder: Path, name: str, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    img, _ = make_case(list(CASES)[seed % len(CASES)], h=300, w=400, seed=seed)
    path = folder / name
    Image.fromarray(img).save(path, quality=90)
    return path


def test_history_open_replay_delete(tmp_path):
    store = open_store()
    cut = workbench.cut_out(_photo(tmp_path, "mug.jpg"), "classic")
    shot = workbench.make_variants(store, cut["job"], scene="marble", variants=1)
    rows, thumbs, queue, picker = tab_history.on_list("all")
    ids = [r[0] for r in rows]
    assert shot["job"] in ids and cut["job"] in ids and len(thumbs) >= 2
    assert queue == "Nothing waits for review."
    detail, images, stages, params = tab_history.on_open(shot["job"])
    assert "| generate[0] | done |" in detail and "| 1 | " in detail  # the stage table and the variant row
    assert "color" in stages["choices"] and json.loads(params)["scene"] == "marble"
    assert {caption for _, caption in images} >= {"matte", "preserve[0]", "color[0]"}

    msg = tab_history.on_replay(shot["job"], "color", '{"adjustments": {"exposure": 0.5}, "scene": "marble"}')
    new = msg.split("`")[3]
    assert "done" in msg and jobs.job_params(store, new)["adjustments"] == {"exposure": 0.5}
    with pytest.raises(gr.Error, match="must be JSON"):
        tab_history.on_replay(shot["job"], "color", "{exposure: 1}")
    with pytest.raises(gr.Error, match="has no stage"):
        tab_history.on_replay(shot["job"], "nonsense", "")
    assert "Deleted" in tab_history.on_delete(new)
    assert new not in [r[0] for r in tab_history.on_list("all")[0]]


def _wait_for_batch(bid: str) -> tuple:
    deadline = time.time() + 240
    while time.time() < deadline:
        status, rows, shots, zip_btn = tab_batch.on_status(bid)
        if status.split("**")[1].endswith(("done", "cancelled")):
            return status, rows, shots, zip_btn
        time.sleep(0.5)
    raise AssertionError(f"batch {bid} did not finish: {status}")


def test_batch_tab_runs_to_a_zip(tmp_path, studio_home):
    from studio.config import save_settings

    settings = load_settings()
    settings.batch_folders = [str(tmp_path)]  # the page may read catalogs and write shots here
    save_settings(settings)
    for i in range(3):
        _photo(tmp_path / "catalog", f"sku{i}.jpg", seed=i)
    bid, *_ = tab_batch.on_start(str(tmp_path / "catalog"), None, "", "marble", "", "classic", 1)
    status, rows, shots, zip_btn = _wait_for_batch(bid)
    assert f"Batch `{bid}`: done" in status and "3/3 finished" in status
    assert rows["headers"] == ["sku", "status", "photo", "files", "error"]  # no node column: not a cluster batch
    rows = rows["data"]
    assert sorted(r[0] for r in rows) == ["sku0", "sku1", "sku2"] and all(r[1] == "done" for r in rows)
    # the default output folder is in the data dir, so the app may serve the zip and the shots
    assert zip_btn["visible"] and Path(zip_btn["value"]).is_file()
    assert len(shots) == 3 and all(Path(p).resolve().is_relative_to(studio_home.resolve()) for p, _ in shots)

    # an output folder elsewhere: shots come back as thumbnails in the data dir's cache, the zip stays on disk
    _photo(tmp_path / "one", "solo.jpg")
    bid, *_ = tab_batch.on_start(str(tmp_path / "one"), None, str(tmp_path / "elsewhere"), "", "", "classic", 1,
                                 "square")
    status, rows, shots, zip_btn = _wait_for_batch(bid)
    assert not zip_btn["visible"] and str(tmp_path / "elsewhere" / "batch.zip") in status
    # with a clip of each SKU
    files = rows["data"][0][rows["headers"].index("files")]
    assert files.endswith("solo_white-marketplace_square.mp4") and (tmp_path / "elsewhere" / files.split(", ")[-1]).is_file()
    assert Path(shots[0][0]).resolve().is_relative_to(studio_home.resolve())
    assert max(Image.open(shots[0][0]).size) <= 384

    with pytest.raises(gr.Error, match="does not exist"):
        tab_batch.on_start(str(tmp_path / "nowhere"), None, "", "", "", "classic", 1)
    with pytest.raises(gr.Error, match="problems"):  # an unknown scene is refused before anything runs
        tab_batch.on_start(str(tmp_path / "catalog"), None, str(tmp_path / "out2"), "no-such-scene", "", "classic", 1)


def test_models_tab_lists_and_removes(tmp_path):
    from studio.models.registry import specs

    spec = specs()["clip-vit-b-32"]
    folder = load_settings().models_path() / spec.repo_id.replace("/", "--")
    folder.mkdir(parents=True)
    for f in spec.files:
        (folder / f.split("|")[0]).write_text("{}")  # a|b: either name will do
    table = tab_models.on_models()
    row = next(r for r in table if r[0] == "clip-vit-b-32")
    assert row[2] is True
    msg, table = tab_models.on_remove("clip-vit-b-32")
    assert "Removed" in msg and not folder.exists()
    assert next(r for r in table if r[0] == "clip-vit-b-32")[2] is False
    with pytest.raises(gr.Error, match="not installed"):
        tab_models.on_remove("clip-vit-b-32")
    with pytest.raises(gr.Error, match="offline"):  # tests never download: HF_HUB_OFFLINE is set
        tab_models.on_download("clip-vit-b-32", "", progress=None)
    assert "nf4-model-offload" in tab_models.on_plan("nf4-model-offload")
    assert load_settings().vram_plan == "nf4-model-offload"


def test_settings_store_the_key_owner_only_and_show_it_masked():
    msg, cleared, shown, spent, ledger_rows = tab_settings.on_save(
        "bfl", "sk-live-0123456789abcd", 5.0, "cloud-fallback", 3, 20, "etsy", "marble", "dark")
    assert cleared == "" and shown == "••••••••abcd" and "0123456789" not in msg + shown
    from studio.config import data_dir

    key_file = data_dir() / "secrets" / "bfl.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    s = load_settings()
    assert (s.cloud_policy, s.budget, s.default_variants, s.default_preset, s.theme) == (
        "cloud-fallback", 5.0, 3, "etsy", "dark")
    assert "left of the budget:** 5.00" in spent
    # saving again with the key field empty keeps the stored key
    tab_settings.on_save("bfl", "", 5.0, "cloud-fallback", 3, 20, "etsy", "marble", "light", None, 0.4)
    assert key_file.read_text() == "sk-live-0123456789abcd"
    assert load_settings().light_match == 0.4  # the default every shoot starts from


def test_cancel_stops_the_running_job(tmp_path):
    store = open_store()
    job = submit_cutout(store, _photo(tmp_path, "a.jpg"))
    set_active("local", job)
    assert job in tab_studio.on_cancel(None)
    assert jobs.get_job(store, job)["status"] == "cancelled"
    assert tab_studio.on_cancel(None) == "Nothing is running."  # a job that has ended is not cancelled again
    set_active("local", None)
    assert tab_studio.on_cancel(None) == "Nothing is running."


def test_sample_photo_and_a_broken_upload(tmp_path):
    pick, state, cut_img, info, editor, _ = tab_studio.on_sample({}, None, progress=None)
    assert state["cutout"] and "confidence" in info and cut_img.mode == "RGB"
    assert editor["background"].size[0] <= 1024
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    receive([broken])  # as the page's upload route records a file it stored
    with pytest.raises(gr.Error) as err:
        tab_studio.on_photos([str(broken)], {}, None, progress=None)
    assert "Traceback" not in str(err.value) and len(str(err.value)) > 10


def test_the_batch_tab_takes_one_backdrop_for_the_catalog_and_only_an_uploaded_one(tmp_path, studio_home):
    from studio.app import batch as batches
    from studio.config import save_settings
    from tests.backdrops import table_photo

    settings = load_settings()
    settings.batch_folders = [str(tmp_path)]
    save_settings(settings)
    for i in range(2):
        _photo(tmp_path / "catalog", f"sku{i}.jpg", seed=i)
    Image.fromarray(table_photo(800, 600, 0.55, 180.0)).save(tmp_path / "shelf.jpg")
    with pytest.raises(gr.Error, match="Upload the backdrop"):
        tab_batch.on_start(str(tmp_path / "catalog"), None, "", "", "", "classic", 1, "", "/etc/hostname")
    with pytest.raises(gr.Error, match="Upload the backdrop"):  # in a batch folder, but not uploaded
        tab_batch.on_start(str(tmp_path / "catalog"), None, "", "", "", "classic", 1, "", str(tmp_path / "shelf.jpg"))
    receive([tmp_path / "shelf.jpg"])  # as the page's upload route records a file it stored
    bid, *_ = tab_batch.on_start(str(tmp_path / "catalog"), None, "", "", "", "classic", 1, "",
                                 str(tmp_path / "shelf.jpg"), 0.5)
    status, _, _, _ = _wait_for_batch(bid)
    assert "done" in status
    scene = batches.batch_summary(open_store(), bid)
    import json

    opts = json.loads(open_store().one("SELECT options FROM batches WHERE id = ?", (bid,))["options"])
    assert opts["scene"].startswith("backdrop-") and opts["light_match"] == 0.5 and scene["items"] == 2
