"""Product clips: a classic clip from a real shoot checked with PyAV, the product's
pixels in every frame against the shot's, a cancel mid-render, a batch with --clip, and
the tiny Wan 2.2 TI2V model loaded offline through our loader."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from studio import cli
from studio.app.clip import clip_result, submit_clip, write_clip
from studio.app.context import open_store
from studio.app.shoot import run_to_end, submit_shoot
from studio.clips import classic
from studio.clips.encode import probe
from studio.clips.make import make_clip
from studio.imaging.compose import placed_alpha
from studio.pipeline import keys, queries
from studio.pipeline.stage import Cancelled
from tests.synth import CASES, make_case


@pytest.fixture
def shot(tmp_path, studio_home) -> str:
    rgb, _ = make_case("red-bottle-on-gradient", h=600, w=800, seed=3)
    Image.fromarray(rgb).save(tmp_path / "bottle.jpg", quality=92)
    store = open_store()
    job = submit_shoot(store, tmp_path / "bottle.jpg", scene="marble", variants=2, long_side=512)
    run_to_end(store, job)
    return job


def _shot_layers(job: str) -> tuple[np.ndarray, np.ndarray]:
    """The chosen shot and its product alpha, as the clip stage reads them."""
    store = open_store()
    chosen = queries.stage_output(store, job, keys.SELECT)["chosen"]
    image = np.asarray(queries.stage_output(store, job, keys.color(chosen))["image"].convert("RGB"))
    box = queries.stage_output(store, job, keys.generate(chosen), only=("box",))["box"]
    cutout = queries.stage_output(store, job, keys.ENLARGE)["cutout"]  # the product as placed
    return image, placed_alpha(cutout, box, image.shape[:2])


def test_a_classic_clip_of_a_shoot_is_a_valid_h264_file(shot, tmp_path):
    av = pytest.importorskip("av")
    store = open_store()
    clip_job = submit_clip(store, shot, preset="square", seconds=4, fps=24, motion="orbit")
    run_to_end(store, clip_job)
    path = write_clip(store, clip_job, tmp_path / "clips")
    with av.open(str(path)) as c:  # what a player reads, straight from the file
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        assert s.codec_context.name == "h264" and s.codec_context.format.name == "yuv420p"
        assert (s.codec_context.width, s.codec_context.height) == (1080, 1080)
        assert float(s.average_rate) == 24 and len(frames) == 96
        assert abs(float(c.duration / 1_000_000) - 4.0) < 1 / 24
    out = clip_result(store, clip_job)
    assert out["report"]["ok"] and out["report"]["file"]["faststart"]
    assert out["settings"] | {"variant": None} == out["settings"] | {"variant": None}  # recorded
    assert out["settings"]["seed"] == 0 and out["settings"]["motion"] == "orbit" and out["settings"]["variant"] in (0, 1)
    # frame first: the classic variant was laid out again for the clip's square, not cropped from the shot's
    assert out["settings"]["layout"] == "the variant laid out again for the clip's frame"
    preview = Image.open(__import__("io").BytesIO(out["preview"]))
    assert preview.format == "WEBP" and preview.n_frames > 10
    # the clip moves: its first and last frames differ, most of all away from the product
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0
    # a replay of the shoot in History, with the clip stage run and everything else reused
    runs = store.query("SELECT key, status, reused_from FROM stage_runs WHERE job_id = ?", (clip_job,))
    assert {r["key"] for r in runs if r["reused_from"] is None} == {"clip"}
    assert all(r["status"] == "done" for r in runs)


def test_the_product_is_the_shots_own_pixels_in_every_frame(shot, tmp_path):
    av = pytest.importorskip("av")
    image, alpha = _shot_layers(shot)
    layers = classic.build_layers(image, alpha, (1080, 1920), direction=135)
    a8 = layers.product[..., 3]
    inner = cv2.erode((a8 == 255).astype(np.uint8), np.ones((3, 3), np.uint8))
    n = 90
    rendered, scales = [], []
    for i in range(n):
        frame, m = classic.render_frame(layers, i / (n - 1), "push-in", light=False)
        # the shot's product under this frame's motion (one resample from the shot itself)…
        expected = cv2.warpAffine(layers.product, m, (1080, 1920), flags=cv2.INTER_LINEAR)
        where = cv2.warpAffine(inner * 255, m, (1080, 1920), flags=cv2.INTER_NEAREST) == 255
        where &= expected[..., 3] == 255
        assert where.sum() > 5000
        # …is what the frame shows there: no backdrop bleeding in, no drift, no re-resampling
        # (OpenCV's fixed-point warp of the product's window rounds a sub-pixel 1/32 px apart
        # from a warp of the whole frame: one level, here and there)
        err = np.abs(frame[where].astype(int) - expected[..., :3][where].astype(int))
        assert err.max() <= 1 and err.mean() < 0.05, (i, err.max(), err.mean())
        scales.append(m[0, 0])
        rendered.append(frame)
    # a push-in: the product grows steadily from the shot's scale, about its own centre
    assert all(b >= a for a, b in zip(scales, scales[1:], strict=False)) and scales[-1] / scales[0] == pytest.approx(1.10)
    # and after H.264, each frame's product is still the shot's (the encoder's loss only)
    path = tmp_path / "c.mp4"
    from studio.clips.encode import write_mp4

    write_mp4(iter(rendered), path, 30, (1080, 1920))
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == n
    for i in (0, n // 2, n - 1):
        m = classic.render_frame(layers, i / (n - 1), "push-in", light=False)[1]
        where = cv2.warpAffine(inner * 255, m, (1080, 1920), flags=cv2.INTER_NEAREST) == 255
        err = decoded[i][where].astype(float) - rendered[i][where].astype(float)
        psnr = 10 * np.log10(255**2 / max(1e-9, (err**2).mean()))
        assert psnr > 34, (i, psnr)


def test_the_light_sweep_only_brightens_the_product(shot):
    image, alpha = _shot_layers(shot)
    layers = classic.build_layers(image, alpha, (1080, 1080), direction=180)
    lit, m = classic.render_frame(layers, 0.5, "push-in", light=True)
    plain, _ = classic.render_frame(layers, 0.5, "push-in", light=False)
    diff = lit.astype(int) - plain.astype(int)
    product = cv2.warpAffine(layers.product[..., 3], m, (1080, 1080)) > 0
    assert diff.min() >= 0 and diff[product].max() > 20 and not diff[~product].any()


def test_a_cancel_mid_render_leaves_no_file(shot, tmp_path):
    image, alpha = _shot_layers(shot)
    from studio.clips.presets import clip_settings

    settings = clip_settings("reels", 30, 6.0)
    seen = []

    def cancel_after_a_few() -> None:
        seen.append(1)
        if len(seen) > 20:
            raise Cancelled("clip cancelled")

    work = tmp_path / "work"
    with pytest.raises(Cancelled):
        make_clip(image, alpha, settings, direction=135, workdir=work, check_cancelled=cancel_after_a_few)
    assert len(seen) == 21 and work.is_dir() and not any(work.rglob("*"))  # no clip, no part file, no folder


def test_a_clip_job_cancelled_in_the_engine_ends_cancelled_and_keeps_nothing(shot):
    import threading

    from studio.app.context import run_jobs
    from studio.pipeline import jobs

    store = open_store()
    clip_job = submit_clip(store, shot, preset="reels", seconds=8)
    started = threading.Event()

    def on_event(e) -> None:
        if e.kind == "progress" and e.key == "clip":
            started.set()

    t = threading.Thread(target=run_jobs, args=([clip_job], on_event), kwargs={"store": store})
    t.start()
    assert started.wait(120)
    jobs.cancel(store, clip_job)
    t.join(120)
    assert jobs.get_job(store, clip_job)["status"] == "cancelled"
    assert not any((store.root / "tmp").rglob("*.mp4*")) and not any((store.root / "tmp").rglob("*.part"))
    with pytest.raises(KeyError):
        clip_result(store, clip_job)


def test_studio_clip_cli_and_a_batch_with_clips(shot, tmp_path, capsys):
    assert cli.main(["clip", shot, "--preset", "listing", "--seconds", "4", "--fps", "24", "--out",
                     str(tmp_path / "o"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert Path(summary["file"]).name == "bottle_marble_listing.mp4" and summary["report"]["ok"]
    assert probe(summary["file"])["width"] == 1920
    # `studio export` of the clip's job writes its shots and its clip again
    assert cli.main(["export", summary["job"], "--out", str(tmp_path / "again"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["files"]
    assert [Path(f).suffix for f in again] == [".jpg", ".jpg", ".mp4"]
    assert cli.main(["clip", shot, "--preset", "square", "--seconds", "12"]) == 2  # refused before anything runs
    assert "4 to 8 s" in capsys.readouterr().err

    folder = tmp_path / "cat"
    folder.mkdir()
    for i in range(2):
        rgb, _ = make_case(list(CASES)[i], h=300, w=400, seed=i)
        Image.fromarray(rgb).save(folder / f"sku{i}.jpg", quality=90)
    out = tmp_path / "shots"
    assert cli.main(["batch", str(folder), "--out", str(out), "--variants", "1", "--long-side", "256",
                     "--clip", "square", "--json"]) == 0
    for i in range(2):
        info = probe(out / f"sku{i}" / f"sku{i}_white-marketplace_square.mp4")
        assert info["codec"] == "h264" and (info["width"], info["height"]) == (1080, 1080)
    import csv

    with (out / "report.csv").open() as fh:
        report = list(csv.DictReader(fh))
    assert all(r["clip"] == "ok" and "square.mp4" in r["files"] for r in report)


def test_tiny_wan_ti2v_loads_offline_and_makes_a_checked_clip(tmp_path, studio_home, monkeypatch):
    pytest.importorskip("diffusers")
    from studio.clips.generated import generated_frames
    from studio.clips.presets import clip_settings
    from studio.models.video_wan import WanClipModel
    from tests.tiny_wan import build_tiny_wan_ti2v

    folder = build_tiny_wan_ti2v(tmp_path / "Wan-AI--Wan2.2-TI2V-5B-Diffusers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = WanClipModel(path=folder, device="cpu")
    steps: list[int] = []
    first = np.full((64, 64, 3), 128, np.uint8)
    video = model.frames(first, "a red bottle on marble", num_frames=5, seed=0, steps=2,
                         on_step=lambda i, n: steps.append(i))
    assert video.shape == (5, 64, 64, 3) and video.dtype == np.uint8 and steps == [1, 2]
    # the whole generated path at a tiny size: first frame from the shot's layers, the model,
    # the product checked frame by frame, pasted back where the camera stayed still
    model.sizes = {"portrait": (64, 128), "landscape": (128, 64), "square": (64, 64)}
    model.native_fps, model.steps = 1, 2
    rgb, mask = make_case("red-bottle-on-gradient", h=240, w=240, seed=1)
    settings = clip_settings("square", 24, 4.0) | {"seed": 0}
    frames, report = generated_frames(rgb, mask.astype(np.float32), settings, prompt="a red bottle", model=model)
    frames = list(frames)
    assert len(frames) == 96 and frames[0].shape[:2] == (1080, 1080)  # RGB(A): what the encoder takes
    assert report["engine"] == "wan" and report["model_frames"] == 5 and "fidelity_min" in report
    if report["camera_still"]:  # a random tiny model may or may not move the backdrop
        layers = classic.build_layers(rgb, mask.astype(np.float32), (1080, 1080))
        m = classic.render_frame(layers, 0.0, "push-in", light=False)[1]
        where = cv2.warpAffine(layers.product[..., 3], m, (1080, 1080)) == 255
        err = np.abs(frames[-1][..., :3][where].astype(int)
                     - classic.render_frame(layers, 0.0, "push-in", light=False)[0][where].astype(int))
        assert err.max() <= 1  # the shot's product, pasted back
    else:
        assert report["drift_frames"] is not None


@pytest.mark.cuda
@pytest.mark.parametrize("plan", ["wan-bf16-resident", "wan-bf16-model-offload", "wan-bf16-sequential"])
def test_tiny_wan_runs_in_each_vram_plan_on_the_gpu(tmp_path, studio_home, plan):
    from studio.models.video_wan import WanClipModel
    from tests.tiny_wan import build_tiny_wan_ti2v

    folder = build_tiny_wan_ti2v(tmp_path / "wan")
    model = WanClipModel(path=folder, device="cuda", plan=plan)
    first = np.zeros((64, 64, 3), np.uint8)
    first[16:48, 24:40] = (200, 30, 30)
    video = model.frames(first, "a red bottle", num_frames=9, seed=0, steps=2)
    assert video.shape == (9, 64, 64, 3) and video.dtype == np.uint8
    assert video.std() > 0  # bf16 transformer, fp32 VAE: a picture, not NaN turned black
    from studio.models.holder import HOLDER

    HOLDER.release_all()


def test_history_shows_the_clip(shot):
    from studio.ui import tab_history

    store = open_store()
    clip_job = submit_clip(store, shot, preset="square", seconds=4, fps=24)
    run_to_end(store, clip_job)
    detail, *_ = tab_history.on_open(clip_job)
    assert "**Clip:** square 1080×1080, 4 s at 24 fps, push-in, classic, seed 0" in detail
    assert "all checks pass" in detail


@pytest.mark.cuda
def test_studio_clip_with_the_wan_engine_on_the_gpu(shot, tmp_path, studio_home, capsys):
    """`studio clip --engine wan` end to end with the tiny model installed where Studio
    looks for the real one: its real sizes and frame counts, the product checked frame
    by frame; a random model drifts, so the clip is made again with the next seed and
    then flagged (exit 1), the file still written and valid."""
    from studio.config import load_settings
    from studio.models.holder import HOLDER
    from tests.tiny_wan import build_tiny_wan_ti2v

    build_tiny_wan_ti2v(load_settings().models_path() / "Wan-AI--Wan2.2-TI2V-5B-Diffusers")
    code = cli.main(["clip", shot, "--engine", "wan", "--preset", "square", "--seconds", "4", "--fps", "24",
                     "--out", str(tmp_path / "o"), "--json"])
    summary = json.loads(capsys.readouterr().out)
    HOLDER.release_all()
    info = probe(summary["file"])
    assert (info["codec"], info["width"], info["height"], info["frames"]) == ("h264", 1080, 1080, 96)
    product = summary["product"]
    assert product["engine"] == "wan" and product["model_frames"] == 97
    runs = open_store().query("SELECT attempt, status FROM stage_runs WHERE job_id = ? AND key = 'clip'",
                              (summary["job"],))
    if product["ok"]:  # the backdrop stayed still: the product was pasted back in every frame
        assert code == 0 and product["pasted_back"] and runs[0]["attempt"] == 1
    else:  # drifted twice: made again with the next seed, then flagged
        assert code == 1 and product["drift_frames"] and runs[0]["attempt"] == 2
        assert summary["settings"]["seed"] == 1
