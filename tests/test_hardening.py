"""Issue 16, case by case: no secret served, no file written outside its folder, no
crash on ordinary input, money counted right. Each test reproduces what was reported."""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import threading
import time
import zlib
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio import cli, secrets
from studio.app.context import open_store, run_jobs
from studio.app.shoot import submit_shoot
from studio.config import data_dir
from studio.models import generate_cloud as cloud
from studio.pipeline import jobs
from studio.pipeline.ledger import Ledger
from tests.fake_bfl import KEY
from tests.synth import make_case


def photo(folder: Path, name: str, case: str = "red-bottle-on-gradient", h: int = 300, w: int = 400,
          fmt: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rgb, _ = make_case(case, h=h, w=w)
    path = folder / name
    Image.fromarray(rgb).save(path, fmt)
    return path


# -- 2. file names from people never leave their folder --------------------------

def _write_csv(path: Path, rows: list[dict], encoding: str = "utf-8") -> None:
    cols = list(rows[0])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def test_skus_with_paths_write_only_inside_out_and_the_report_survives_resume(tmp_path, capsys):
    photo(tmp_path / "cat", "a.jpg")
    photo(tmp_path / "cat", "b.jpg", "green-mug-on-sheet")
    photo(tmp_path / "cat", "c.jpg", "striped-box-on-pattern")
    evil_abs = str(tmp_path / "elsewhere" / "pwn")
    _write_csv(tmp_path / "cat" / "catalog.csv", [
        {"sku": "../../evil", "image": "a.jpg", "notes": "=HYPERLINK(\"http://x\",\"click\")", "files": "../../x"},
        {"sku": evil_abs, "image": "b.jpg", "notes": "+cmd|' /C calc'!A0", "files": ""},
        {"sku": "@SUM(1+1)", "image": "c.jpg", "notes": "-2+3", "files": "=1+1"},
    ])
    out = tmp_path / "out"
    code = cli.main(["batch", str(tmp_path / "cat" / "catalog.csv"), "--out", str(out), "--variants", "1",
                     "--long-side", "256", "--json"])
    assert code == 0, capsys.readouterr()
    written = [p for p in tmp_path.rglob("*.jpg") if "cat" not in p.parts]
    assert written and all(p.resolve().is_relative_to(out.resolve()) for p in written)
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path.parent / "evil").exists()
    from studio.paths import safe_name

    assert {p.parent.name for p in written} == {"evil", safe_name(evil_abs), "SUM_1_1"}
    report = (out / "report.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(report)))
    # formulas are text now, the user's SKUs are kept as they were given
    assert [r["sku"] for r in rows] == ["../../evil", evil_abs, "'@SUM(1+1)"]
    assert [r["notes"] for r in rows] == ["'=HYPERLINK(\"http://x\",\"click\")", "'+cmd|' /C calc'!A0", "'-2+3"]
    # a catalog column named like a report column does not replace it (nor feed the zip)
    assert rows[0]["files"].startswith("evil/") and rows[0]["files (catalog)"] == "../../x"
    assert rows[2]["files (catalog)"] == "'=1+1"
    import zipfile

    with zipfile.ZipFile(out / "batch.zip") as z:
        assert all(not n.startswith(("/", "..")) for n in z.namelist()) and len(z.namelist()) == 3
    # resuming (and re-reporting) a finished batch works
    assert cli.main(["batch", str(tmp_path / "cat" / "catalog.csv"), "--out", str(out), "--resume"]) == 0


def test_skus_that_would_share_a_folder_or_leave_no_name_are_refused_with_rows(tmp_path, capsys):
    photo(tmp_path / "cat", "a.jpg")
    _write_csv(tmp_path / "cat" / "c.csv", [{"sku": "shoe/red", "image": "a.jpg"}, {"sku": "shoe_red", "image": "a.jpg"},
                                            {"sku": "..", "image": "a.jpg"}])
    assert cli.main(["batch", str(tmp_path / "cat" / "c.csv"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "row 3 (shoe_red): writes to the same folder 'shoe_red' as row 2 (shoe/red)" in err
    assert "row 4: SKU '..' has nothing usable as a file name" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("pattern", ["../{sku}_{n}.{ext}", "/tmp/{sku}.{ext}", "{sku}/{n}.{ext}", "..{sku}.{ext}"])
def test_patterns_that_make_paths_are_refused(tmp_path, capsys, pattern):
    photo(tmp_path / "cat", "a.jpg")
    assert cli.main(["batch", str(tmp_path / "cat"), "--out", str(tmp_path / "o"), "--pattern", pattern]) == 2
    assert "--pattern" in capsys.readouterr().err


def test_a_latin1_csv_from_a_spreadsheet_is_read(tmp_path, capsys):
    photo(tmp_path / "cat", "crème.jpg")
    _write_csv(tmp_path / "cat" / "c.csv", [{"sku": "crème-brûlée", "image": "crème.jpg", "notes": "déjà vu"}],
               encoding="latin-1")
    assert cli.main(["batch", str(tmp_path / "cat" / "c.csv"), "--out", str(tmp_path / "o"), "--long-side", "256",
                     "--variants", "1"]) == 0
    assert (tmp_path / "o" / "crème-brûlée").is_dir()
    assert "déjà vu" in (tmp_path / "o" / "report.csv").read_text(encoding="utf-8")


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG whose header claims w × h pixels (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_one_bomb_in_a_folder_fails_only_its_sku(tmp_path, capsys):
    photo(tmp_path / "cat", "good.jpg")
    _png_header_only(tmp_path / "cat" / "huge.png", 20000, 20000)
    code = cli.main(["batch", str(tmp_path / "cat"), "--out", str(tmp_path / "o"), "--variants", "1",
                     "--long-side", "256", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1 and summary["done"] == 1 and summary["failed"] == 1
    assert "too many pixels" in summary["failures"][0]["error"] or "MP" in summary["failures"][0]["error"]


def test_the_web_batch_reads_and_writes_only_where_it_may(tmp_path):
    import gradio as gr

    from studio.config import load_settings, save_settings
    from studio.ui import tab_batch

    photo(tmp_path / "catalog", "a.jpg")
    with pytest.raises(gr.Error, match="outside the folders the app may read"):
        tab_batch.on_start(str(tmp_path / "catalog"), None, "", "", "", "classic", 1)
    with pytest.raises(gr.Error, match="outside the folders the app may write"):
        tab_batch.on_start(str(tmp_path / "catalog"), None, str(tmp_path / "out"), "", "", "classic", 1)
    # a CSV inside an allowed folder may not point at photos outside it either
    settings = load_settings()
    settings.batch_folders = [str(tmp_path / "catalog")]
    save_settings(settings)
    _write_csv(tmp_path / "catalog" / "c.csv", [{"sku": "x", "image": str(photo(tmp_path / "private", "p.jpg"))}])
    bid, *_ = tab_batch.on_start(str(tmp_path / "catalog" / "c.csv"), None, "", "", "", "classic", 1)
    from studio.app import batch as batches

    [item] = batches.batch_items(open_store(), bid)
    assert item["status"] == "failed" and "outside the folders the app may read" in item["error"]
    # with the folder named in the settings, the folder batch runs and writes under the data dir
    bid, *_ = tab_batch.on_start(str(tmp_path / "catalog"), None, "", "", "", "classic", 1)
    assert batches.batch_summary(open_store(), bid)["out"].startswith(str(data_dir() / "batches"))


def test_the_page_opens_only_photos_uploaded_to_it(tmp_path):
    import gradio as gr

    from studio.ui import tab_studio

    outside = photo(tmp_path, "private.jpg")
    with pytest.raises(gr.Error, match="Pick one of the photos you uploaded"):
        tab_studio.on_pick(str(outside), {}, None, None)


def test_a_scene_thumbnail_outside_its_folder_is_not_used(tmp_path):
    from studio.scenes import load_scenes, user_dir
    from studio.ui.scene_thumbnails import thumbnail

    secrets.save_key("bfl", KEY)
    text = (Path(__file__).resolve().parent.parent / "scenes" / "marble.toml").read_text()
    user_dir().mkdir(parents=True, exist_ok=True)
    (user_dir() / "leaky.toml").write_text(text.replace('id = "marble"', 'id = "leaky"').replace(
        "[prompt]", 'thumbnail = "../secrets/bfl.key"\n\n[prompt]', 1))
    scene = load_scenes()["leaky"]
    assert scene.thumbnail == "../secrets/bfl.key"
    thumb = thumbnail(scene)
    assert thumb.is_relative_to(data_dir() / "cache") and Image.open(thumb).size[0] > 100  # a render, not the key


# -- 1. the web app serves nothing of the data dir but the page's own ---------------

def test_no_file_of_the_data_dir_but_the_pages_own_can_be_fetched(tmp_path):
    import httpx

    from studio.ui.serve import launch

    store = open_store()
    job = submit_shoot(store, photo(tmp_path, "mug.jpg"), scene="marble", variants=1, long_side=256)
    run_jobs([job])
    secrets.save_key("bfl", KEY)
    from studio.config import Settings, save_settings

    save_settings(Settings())
    root = data_dir()
    for rel in ("exports/shot.jpg", "batches/b/x/x_1.jpg", "cache/scene-thumbnails/t.jpg", "uploads/u.jpg",
                "models/m/model.safetensors", "backups/studio-1.db", "cloud-prices.json", "vram-plans.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"data of " + rel.encode())
    port = __import__("tests.test_cli", fromlist=["x"]).free_port()
    app = launch(port=port, block=False)
    try:
        served_prefixes = ("exports/", "batches/", "cache/")
        results = {}
        for f in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = f.relative_to(root).as_posix()
            r = httpx.get(f"http://127.0.0.1:{port}/gradio_api/file={f}", timeout=10)
            results[rel] = r.status_code
            if rel.startswith(served_prefixes):
                assert r.status_code == 200, rel
            else:
                assert r.status_code in (403, 404), (rel, r.status_code)
                assert KEY.encode() not in r.content
        # what matters most was tried
        for rel in ("secrets/bfl.key", "settings.json", "studio.db", "uploads/u.jpg", "backups/studio-1.db"):
            assert rel in results and results[rel] != 200
        # and a path climbing out of a served folder is no way round it
        sneaky = f"{root}/exports/../secrets/bfl.key"
        r = httpx.get(f"http://127.0.0.1:{port}/gradio_api/file={sneaky}", timeout=10)
        assert r.status_code != 200 and KEY.encode() not in r.content
    finally:
        app.close()


# -- 3. the cloud key goes only where it belongs -------------------------------------

def test_the_key_goes_only_to_the_api_origin_and_never_on_the_download(fake_bfl):
    other = ThreadingHTTPServer(("127.0.0.1", 0), fake_bfl.handler())
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        fake_bfl.polling_base = f"http://127.0.0.1:{other.server_address[1]}"  # another origin names the poll URL
        fake_bfl.statuses = ["Reasoning", "Generating"]  # running states the client does not know: still pending
        fake_bfl.cost = 4.5
        client = cloud.BFLFillClient(KEY, fake_bfl.url, cloud.Limits(total_s=20), sleep=lambda s: None)
        img = client.generate(Image.new("RGB", (64, 48), 128), Image.new("L", (64, 48), 255), "p", 1)
        assert img.size == (64, 48) and client.cost == 4.5
    finally:
        other.shutdown()
        other.server_close()
    keys = dict(fake_bfl.keys_seen)
    assert keys["/v1/flux-pro-1.0-fill"] == KEY
    assert all(k is None for path, k in fake_bfl.keys_seen if path.startswith(("/v1/get_result", "/delivery")))
    assert fake_bfl.calls.count("poll") >= 3


def test_who_may_receive_the_key():
    c = cloud.BFLFillClient(KEY, "https://api.bfl.ai")
    assert c.key_allowed("https://api.bfl.ai/v1/get_result?id=1")
    assert c.key_allowed("https://api.eu.bfl.ai/v1/get_result?id=1")
    assert not c.key_allowed("http://api.eu.bfl.ai/v1/get_result")  # plain http: no
    assert not c.key_allowed("https://bfl.ai.evil.com/x") and not c.key_allowed("https://evilbfl.ai/x")
    assert not c.key_allowed("https://delivery-us1.example-cdn.net/sample.png")
    c.close()


@pytest.mark.parametrize("status,says", [("Request Moderated", "moderation refused the request"),
                                         ("Content Moderated", "moderation withheld"),
                                         ("Task not found", "Task not found")])
def test_named_failures_end_at_once(fake_bfl, status, says):
    fake_bfl.statuses = [status]
    client = cloud.BFLFillClient(KEY, fake_bfl.url, cloud.Limits(total_s=20), sleep=lambda s: None)
    with pytest.raises(cloud.CloudError, match=says):
        client.generate(Image.new("RGB", (64, 48), 128), Image.new("L", (64, 48), 255), "p", 1)
    assert fake_bfl.calls.count("poll") == 2  # one Pending, then the failure: no more waiting


def test_the_stated_cost_is_recorded_with_the_variant(fake_bfl, tmp_path):
    from studio.app.history import job_detail
    from tests.fake_bfl import cloud_shoot

    secrets.save_key("bfl", KEY)
    fake_bfl.cost = 4.5
    store, job = cloud_shoot(tmp_path, variants=1)
    [variant] = job_detail(store, job)["variants"]
    assert variant["provider_cost"] == 4.5 and variant["cost"] == pytest.approx(cloud.price())


def test_a_hanging_server_fails_a_variant_within_its_time_limit(fake_bfl, tmp_path, monkeypatch):
    from tests.fake_bfl import cloud_shoot

    secrets.save_key("bfl", KEY)
    monkeypatch.setattr(cloud.BFLCloudGenerator, "time_limit_s", 2.0)  # per variant, every attempt together
    fake_bfl.hang_s = 30.0
    t0 = time.monotonic()
    store, job = cloud_shoot(tmp_path, variants=1, timeout=60)
    took = time.monotonic() - t0
    j = jobs.get_job(store, job)
    assert j["status"] == "failed" and "did not answer in time" in j["error"]
    assert took < 15, took  # two attempts, one limit (was 300 s per attempt)


def test_a_server_error_then_a_retry_reports_the_server_error_not_the_budget(fake_bfl, tmp_path):
    from studio.config import Settings, save_settings
    from tests.fake_bfl import cloud_shoot

    save_settings(Settings(budget=cloud.price()))  # exactly one image
    secrets.save_key("bfl", KEY)
    fake_bfl.errors = 100
    store, job = cloud_shoot(tmp_path, variants=1)
    j = jobs.get_job(store, job)
    # the failed call's hold was given back at once, so the retry could reserve again
    assert j["status"] == "failed" and "HTTP 502" in j["error"] and "budget" not in j["error"]
    assert fake_bfl.calls.count("submit") == 2 * 4  # two attempts, each with its retries
    ledger = Ledger(store)
    assert ledger.spent(job) == 0 and ledger.hold(job) == 0 and ledger.problems() == []


def test_the_first_cause_is_the_one_reported():
    hist = [{"attempt": 1, "error": "the cloud had an error (submit): HTTP 500"},
            {"attempt": 1, "error": "worker lost (lease expired)"},
            {"attempt": 2, "error": "this needs 0.05 but only 0.00 of the 0.05 budget is left"}]
    said = jobs.first_cause(hist, hist[-1]["error"])
    assert said.startswith("the cloud had an error (submit): HTTP 500") and "budget" in said
    assert jobs.first_cause(hist[:1], hist[0]["error"]) == hist[0]["error"]


# -- 5. money: checked before anything runs, never switched off ----------------------

def test_parameters_and_the_budget_are_checked_before_anything_runs(tmp_path, capsys):
    secrets.save_key("bfl", KEY)
    mug = photo(tmp_path, "mug.jpg")
    for args, says in [(["--engine", "cloud", "--preset", "bogus"], "unknown preset 'bogus'"),
                       (["--variants", "0"], "variants must be a whole number from 1 to 16"),
                       (["--variants", "17"], "variants must be"), (["--seed", "-1"], "seed must be"),
                       (["--steps", "0"], "steps must be"), (["--guidance", "nan"], "guidance must be"),
                       (["--scene", "nope"], "no scene 'nope'")]:
        assert cli.main(["shoot", str(mug), "--out", str(tmp_path / "o"), *args]) == 2, args
        assert says in capsys.readouterr().err, args
    store = open_store()
    assert store.one("SELECT COUNT(*) FROM jobs")[0] == 0 and store.one("SELECT COUNT(*) FROM ledger")[0] == 0


@pytest.mark.parametrize("budget", ["NaN", "-1", "1e308", "Infinity", "\"10\""])
def test_a_budget_that_would_switch_the_check_off_is_refused(budget):
    from studio.config import load_settings, save_settings, settings_path

    settings_path().write_text('{"budget": ' + budget + '}')
    assert load_settings().budget == 10.0  # the default, with a warning
    s = load_settings()
    s.budget = float("nan")
    with pytest.raises(ValueError, match="budget must be a number from 0 to"):
        save_settings(s)


def test_settings_with_a_wrong_limits_shape_do_not_break_commands(capsys):
    from studio.config import settings_path

    settings_path().write_text('{"limits": [1, 2], "default_variants": 0}')
    assert cli.main(["history"]) == 0 and cli.main(["scenes"]) == 0


# -- crashes and losses on ordinary input ---------------------------------------------

def test_the_fidelity_distance_takes_any_centre_shape():
    from studio.imaging.clusters import nearest_distance

    px = np.random.default_rng(0).random((5, 4, 3)).astype(np.float32)
    one = nearest_distance(px, np.array([0.5, 0.5, 0.5]))
    assert one.shape == (5, 4) and np.isfinite(one).all()
    assert np.allclose(nearest_distance(px, np.array([[[0.5, 0.5, 0.5]]])), one)
    assert np.isinf(nearest_distance(px, np.zeros((0, 3)))).all()


def test_classic_variants_pass_the_gate_as_exact_pastes(tmp_path):
    """A plain grey bottle on white paper, shot on white marble: the colour terms took the
    backdrop for the product and sent the exact paste to review."""
    import skimage

    from studio.app.shoot import shoot_summary
    from tests.corpus import encode, render, specs

    s = specs()[3]  # bottle on paper, greyscale
    (tmp_path / "p.png").write_bytes(encode(s, render(s)[0]))
    store = open_store()
    a = submit_shoot(store, tmp_path / "p.png", scene="marble", variants=2, long_side=256)
    b = submit_shoot(store, Path(skimage.data.__path__[0]) / "rocket.jpg", scene="white-marketplace", variants=2,
                     long_side=256)
    run_jobs([a, b])
    for job in (a, b):
        summary = shoot_summary(store, job)
        assert summary["status"] == "done", summary
        assert all(v["gate"]["passed"] for v in summary["variants"])


def test_a_replay_with_an_impossible_threshold_waits_for_review_instead_of_crashing(tmp_path):
    from studio.app.history import replay

    store = open_store()
    job = submit_shoot(store, photo(tmp_path, "mug.jpg", "green-mug-on-sheet"), scene="linen", variants=1,
                       long_side=256)
    run_jobs([job])
    with pytest.raises(ValueError, match="fidelity_threshold must be a number from 0 to 1"):
        replay(store, job, "score", {"fidelity_threshold": 2.0})  # refused with a sentence, as a new shoot's is
    new = replay(store, job, "score", {"fidelity_threshold": 1.0})  # the strictest there is
    run_jobs([new])
    assert jobs.get_job(store, new)["status"] == "done"  # classic: an exact paste passes whatever the threshold


def test_scene_files_that_are_not_utf8_are_named_and_the_rest_load(tmp_path, capsys):
    from studio.scenes import user_dir

    user_dir().mkdir(parents=True, exist_ok=True)
    (user_dir() / "latin.toml").write_bytes('id = "latin"\ntitle = "Crème"\n'.encode("latin-1"))
    assert cli.main(["scenes"]) == 0
    out = capsys.readouterr()
    assert "marble" in out.out and "latin.toml: not UTF-8" in out.err
    mug = photo(tmp_path, "mug.jpg")
    assert cli.main(["shoot", str(mug), "--scene", "latin", "--out", str(tmp_path / "o")]) == 2
    assert "latin.toml: not UTF-8" in capsys.readouterr().err
    assert cli.main(["shoot", str(mug), "--scene", "marble", "--variants", "1", "--out", str(tmp_path / "o")]) == 0


def test_a_scene_aspect_that_would_divide_by_zero_is_refused():
    from studio.scenes import SceneError, parse_scene

    base = {"id": "x", "title": "x", "category": "studio", "prompt": {"surface": "s", "background": "b"}}
    for aspect in ("100000:1", "1:100000", "0:1", "5:1"):
        with pytest.raises(SceneError, match="canvas.aspect"):
            parse_scene({**base, "canvas": {"aspect": aspect}}, "x.toml")
    assert parse_scene({**base, "canvas": {"aspect": "4:1"}}, "x.toml").aspect == (4, 1)


def test_photos_with_the_same_name_get_their_own_files(tmp_path, capsys):
    a = photo(tmp_path / "col" / "a", "x.jpg")
    b = photo(tmp_path / "col" / "b", "x.jpg", "green-mug-on-sheet")
    c = photo(tmp_path / "col" / "a", "x.png", "striped-box-on-pattern", fmt="PNG")
    assert cli.main(["shoot", str(a), str(b), str(c), "--variants", "1", "--scene", "marble",
                     "--out", str(tmp_path / "o"), "--json"]) == 0
    files = [f for r in json.loads(capsys.readouterr().out) for f in r["files"]]
    assert len(set(files)) == 3 and all(Path(f).exists() for f in files)
    assert cli.main(["cutout", str(a), str(b), str(c), "--out", str(tmp_path / "cut"), "--json"]) == 0
    outs = [r["output"] for r in json.loads(capsys.readouterr().out)]
    assert sorted(Path(o).name for o in outs) == ["x-2.png", "x-3.png", "x.png"]


def test_bad_paths_and_numbers_are_one_sentence(tmp_path, capsys):
    mug = photo(tmp_path, "mug.jpg")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert cli.main(["shoot", str(mug), "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert cli.main(["cutout", str(mug), "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert cli.main(["cutout", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "is a folder, not a photo" in capsys.readouterr().out
    for side in ("100000", "-5", "0"):
        assert cli.main(["batch", str(tmp_path), "--out", str(tmp_path / "b"), "--long-side", side]) == 2
        assert "--long-side must be from 64 to 4096" in capsys.readouterr().err
    assert cli.main(["batch", str(tmp_path), "--out", str(tmp_path / "b"), "--variants", "0"]) == 2
    assert "--variants must be a whole number" in capsys.readouterr().err
    assert cli.main(["batch", str(tmp_path), "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_ingest_check_of_a_device_reads_nothing(tmp_path, capsys):
    link = tmp_path / "zero.jpg"
    os.symlink("/dev/zero", link)
    t0 = time.monotonic()
    assert cli.main(["ingest-check", str(link)]) == 2
    assert "not a regular file" in capsys.readouterr().out and time.monotonic() - t0 < 5


def test_a_damaged_database_is_one_sentence_and_doctor_repairs_it(tmp_path, capsys):
    store = open_store()
    job = submit_shoot(store, photo(tmp_path, "mug.jpg"), scene="marble", variants=1, long_side=256)
    run_jobs([job])
    store.backup("test")  # what a migration leaves; doctor restores the newest
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    from studio.app import context

    context._store_for.cache_clear()
    db = data_dir() / "studio.db"
    db.write_bytes(db.read_bytes()[:1000])  # truncated
    assert cli.main(["history"]) == 2
    [said] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("studio:")]
    assert "studio.db is damaged" in said and "studio doctor --repair" in said
    assert cli.main(["doctor"]) == 1
    assert "is damaged" in capsys.readouterr().out
    assert cli.main(["doctor", "--repair"]) == 0
    out = capsys.readouterr().out
    assert "set studio.db aside" in out and "restored studio-" in out
    assert list(data_dir().glob("studio.db.damaged-*"))  # kept, not deleted
    context._store_for.cache_clear()
    assert cli.main(["history", "--json"]) == 0
    assert job in capsys.readouterr().out


def test_a_data_dir_it_cannot_write_is_one_sentence(capsys):
    import sqlite3

    from studio.store import explain

    assert "read-only or not yours" in explain(sqlite3.OperationalError("attempt to write a readonly database"),
                                               data_dir())
    (data_dir() / "studio.db").mkdir(parents=True)  # something that is not a database file where it should be
    assert cli.main(["history"]) == 2
    assert capsys.readouterr().err.startswith("studio: ")


def test_migrations_keep_a_backup(tmp_path):
    import sqlite3

    from studio.store import MIGRATIONS, Store

    root = tmp_path / "old"
    root.mkdir()
    conn = sqlite3.connect(root / "studio.db")
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = Store(root)
    assert store.schema_version() == len(MIGRATIONS)
    [backup] = (root / "backups").glob("studio-*.db")
    assert sqlite3.connect(backup).execute("PRAGMA user_version").fetchone()[0] == 1


def test_job_id_prefixes_are_not_wildcards(tmp_path, capsys):
    store = open_store()
    for name in ("a.jpg", "b.jpg"):
        submit_shoot(store, photo(tmp_path, name), scene="marble", variants=1)
    for pattern in ("%", "_", "%%"):
        assert cli.main(["show", pattern]) == 2
        assert f"no job {pattern!r}" in capsys.readouterr().err


def test_export_writes_a_finished_jobs_files_again(tmp_path, capsys):
    store = open_store()
    job = submit_shoot(store, photo(tmp_path, "mug.jpg"), scene="marble", variants=2, long_side=256)
    run_jobs([job])
    assert cli.main(["export", job[:6], "--out", str(tmp_path / "again"), "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert len(files) == 2 and all(Path(f).stat().st_size > 1000 for f in files)
    assert cli.main(["export", job, "--out", str(tmp_path / "one"), "--variant", "1"]) == 0
    [one] = (tmp_path / "one").iterdir()
    assert one.name in ("mug_marble.jpg", "mug_marble_alt1.jpg")
    assert cli.main(["export", job, "--out", str(tmp_path / "one"), "--variant", "5"]) == 2
    assert "has variants 0, 1, not 5" in capsys.readouterr().err
