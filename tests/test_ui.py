"""The app as users and scripts reach it: served on loopback, driven through
gradio_client and through a real browser (Debian's Chromium via Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import httpx
import pytest
from PIL import Image

from studio.ui.serve import ServeError, launch, resolve_bind, serve
from tests.synth import make_case

CHROMIUM = os.environ.get("STUDIO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app(studio_home):
    """The app on a free loopback port, with a data dir of its own; 2 variants by
    default so a shoot is quick."""
    from studio.config import load_settings, save_settings

    s = load_settings()
    s.default_variants, s.engine = 2, "classic"
    save_settings(s)
    port = free_port()
    running = launch(port=port, block=False)
    running.url = f"http://127.0.0.1:{port}/"
    yield running
    running.close()


@pytest.fixture
def photo(tmp_path) -> Path:
    img, _ = make_case("red-bottle-on-gradient", h=480, w=640, seed=5)
    path = tmp_path / "bottle.jpg"
    Image.fromarray(img).save(path, quality=92)
    return path


def test_lan_bind_needs_credentials(capsys):
    with pytest.raises(ServeError, match="--auth"):
        resolve_bind(True, None)
    with pytest.raises(ServeError, match="--auth"):
        launch(listen=True, block=False)
    assert serve(listen=True, open_browser=False) == 2
    assert "--auth" in capsys.readouterr().err
    assert resolve_bind(True, "ann:secret") == ("0.0.0.0", ("ann", "secret"))
    assert resolve_bind(False, None) == ("127.0.0.1", None)
    with pytest.raises(ServeError, match="user:password"):
        resolve_bind(True, "just-a-name")


def test_client_shoot_and_the_file_route(app, photo, studio_home):
    from gradio_client import Client, handle_file

    client = Client(app.url, verbose=False, download_files=str(studio_home.parent / "downloads"))
    files, summary = client.predict(handle_file(str(photo)), "marble", "classic", 2, "etsy", api_name="/shoot")
    assert summary["status"] == "done" and summary["scene"] == "marble" and len(summary["variants"]) == 2
    assert summary["compliance"]["preset"] == "etsy" and Path(summary["export"]).is_file()
    assert Path(summary["export"]).resolve().is_relative_to(studio_home.resolve())
    got = Image.open(files[0])
    assert got.size == (2000, 1600)  # the Etsy preset

    # the file route serves the data dir and nothing else
    inside = httpx.get(app.url + "gradio_api/file=" + summary["export"])
    assert inside.status_code == 200 and inside.content[:2] == b"\xff\xd8"
    secret = studio_home.parent / "outside.txt"
    secret.write_text("not for the network")
    for path in (str(secret), "/etc/passwd", f"{studio_home}/../outside.txt"):
        r = httpx.get(app.url + "gradio_api/file=" + path)
        assert r.status_code in (403, 404), path
        assert b"not for the network" not in r.content and b"root:" not in r.content

    # the same flow step by step through the named endpoints; the client's session keeps the state
    client.predict([handle_file(str(photo))], api_name="/upload")
    client.predict(8, api_name="/grow_mask")
    client.predict("linen", "", "classic", 2, "amazon-main", True, 0.0, None, api_name="/generate")
    client.predict(2, api_name="/choose_variant")
    exported, report, _ = client.predict("amazon-main", 0.2, 0, 0, 0, 0, 0, api_name="/export")
    assert Image.open(exported).size == (2000, 2000) and "amazon-main" in report
    from studio.app.context import open_store
    from studio.app.history import list_jobs

    last = list_jobs(open_store(), limit=1)[0]
    from studio.pipeline.jobs import job_params

    assert last["scene"] == "linen" and job_params(open_store(), last["id"])["choice"] == 1
    # 6 · a clip of the chosen variant, played by the page (the file is served) with its preview
    video, preview, clip_report = client.predict("square", 4, "orbit", api_name="/make_clip")
    video = video["video"] if isinstance(video, dict) else video
    from studio.clips.encode import probe

    info = probe(video)
    assert (info["width"], info["height"], info["codec"]) == (1080, 1080, "h264") and "Ready" in clip_report
    assert Image.open(preview).n_frames > 10

    # a step that cannot run comes back as a message, not a traceback
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="unknown scene|no scene"):
        client.predict(handle_file(str(photo)), "no-such-scene", "classic", 1, "etsy", api_name="/shoot")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium): browser test skipped")
def test_browser_flow(app, photo, artifacts_dir):
    from playwright.sync_api import expect, sync_playwright

    shots = artifacts_dir / "ui"
    shots.mkdir(exist_ok=True)
    readme_shots = os.environ.get("STUDIO_README_SCREENSHOTS")

    def snap(page, name: str, part: str | None = None) -> None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        if readme_shots:
            target = page.locator(part) if part else page
            target.screenshot(path=str(ROOT / "docs" / "screenshots" / f"{name}.jpg"), type="jpeg", quality=70)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(120_000)
        expect.set_options(timeout=120_000)
        page.goto(app.url)
        expect(page.locator("#scenes img").first).to_be_visible()
        expect(page.locator("#scenes .thumbnail-item")).to_have_count(16)
        snap(page, "0-scenes", "#scenes")

        # 1 upload: the cut-out comes back with its backend and confidence
        page.locator("#upload input[type=file]").set_input_files(str(photo))
        info = page.locator("#cutout-info")
        expect(info).to_contain_text("confidence")
        expect(info).to_contain_text("0 touch-up edit")
        snap(page, "1-cutout")

        # 2 touch-up: paint a green stroke onto the canvas, apply it
        page.locator("#editor button[aria-label=Brush]").click()
        page.wait_for_timeout(500)  # the canvas switches tools on the next frame
        canvas = page.locator("#editor canvas").first
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.35, steps=15)
        page.mouse.up()
        page.wait_for_timeout(1000)  # the editor sends its value a moment after the stroke ends
        page.locator("#apply-strokes").click()
        expect(info).to_contain_text("1 touch-up edit")
        snap(page, "2-touchup")

        # 3 scene: filter by category, pick one
        page.get_by_role("radio", name="marketplace").check()
        search = page.get_by_label("Search")
        search.fill("white")
        search.press("Enter")
        expect(page.locator("#scenes .thumbnail-item")).to_have_count(1)
        page.locator("#scenes .thumbnail-item").first.click()
        expect(page.locator("#scene-chosen")).to_contain_text("white-marketplace")
        snap(page, "3-scene")

        # 4 generate with the classic engine, then choose the second variant
        page.locator("#generate").click()
        expect(page.locator("#variants-table")).to_contain_text("fidelity", timeout=240_000)
        page.locator("#variants-gallery .thumbnail-item").nth(1).click()
        expect(page.locator("#chosen")).to_contain_text("variant #")
        snap(page, "4-variants")

        # 5 colour: move exposure, the preview follows; then export and download
        exposure = page.locator("#color-exposure input[type=number]")
        exposure.fill("0.4")
        exposure.press("Enter")
        page.locator("#export").click()
        expect(page.locator("#compliance")).to_contain_text("ompliant", timeout=240_000)
        snap(page, "5-export")
        with page.expect_download() as dl:
            page.locator("#download").click()
        saved = shots / "downloaded.jpg"
        dl.value.save_as(saved)
        assert Image.open(saved).size == (2048, 2048)  # the Shopify default preset

        # the history shows the jobs just run
        page.get_by_role("tab", name="History").click()
        expect(page.locator("#history-table")).to_contain_text("done")
        expect(page.locator("#history-table")).to_contain_text("white-marketplace")
        snap(page, "6-history")
        browser.close()

    from studio.app.context import open_store
    from studio.app.history import list_jobs

    recipes = [j["recipe"] for j in list_jobs(open_store())]
    assert recipes.count("shoot") == 2 and "cutout" in recipes  # the shoot, and the export's replay


def test_browser_own_backdrop_click_the_spot_and_shoot(app, photo, artifacts_dir, tmp_path):
    """The Scene step's own backdrop: upload it, see the product on it, click where it
    should stand (the scene keeps it), shoot on it with light matching and a reference."""
    from playwright.sync_api import expect, sync_playwright

    from studio.scenes import load_scenes
    from tests.backdrops import table_photo

    shots = artifacts_dir / "ui"
    shots.mkdir(exist_ok=True)
    backdrop = tmp_path / "my-bench.jpg"
    Image.fromarray(table_photo(1200, 900, 0.55, 180.0)).save(backdrop, quality=92)
    reference = tmp_path / "mood.jpg"
    Image.fromarray(table_photo(400, 400, 0.5, 90.0, table=(70, 110, 90))).save(reference, quality=92)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        expect.set_options(timeout=120_000)
        page.goto(app.url)
        page.locator("#upload input[type=file]").set_input_files(str(photo))
        expect(page.locator("#cutout-info")).to_contain_text("confidence")
        page.locator("#own-backdrop").get_by_text("Your own backdrop").click()
        page.locator("#backdrop-upload input[type=file]").set_input_files(str(backdrop))
        expect(page.locator("#scene-chosen")).to_contain_text("backdrop-")
        expect(page.locator("#scenes .thumbnail-item")).to_have_count(17)  # in the gallery with the shipped ones
        preview = page.locator("#backdrop-preview img")
        expect(preview).to_be_visible()
        scene_id = page.locator("#scene-chosen code").inner_text()
        box = preview.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.85)
        expect(page.locator("#scene-chosen")).to_contain_text("stands at")
        spot = load_scenes()[scene_id].backdrop.spot
        assert spot is not None and abs(spot[0] - 0.3) < 0.05 and abs(spot[1] - 0.85) < 0.05
        page.locator("#reference-upload input[type=file]").set_input_files(str(reference))
        page.wait_for_timeout(500)
        light = page.locator("#light-match input[type=number]")
        light.fill("0.5")
        light.press("Enter")
        page.locator("#generate").click()
        expect(page.locator("#variants-table")).to_contain_text("fidelity", timeout=240_000)
        page.screenshot(path=str(shots / "backdrop-shoot.png"), full_page=True)
        browser.close()

    from studio.app.context import open_store
    from studio.app.history import list_jobs
    from studio.pipeline import jobs

    store = open_store()
    shoot = next(j for j in list_jobs(store) if j["recipe"] == "shoot")
    params = jobs.job_params(store, shoot["id"])
    assert params["scene"] == scene_id and params["backdrop"] and params["reference"] and params["light_match"] == 0.5
