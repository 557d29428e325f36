"""The cloud adapter against a server on 127.0.0.1 that speaks BFL's Fill protocol,
with the failures a real one has; and the ledger through the engine in each case."""

from __future__ import annotations

import io
import json
import stat
import time

import numpy as np
import pytest
from PIL import Image

from studio import secrets
from studio.app.context import open_store, run_jobs
from studio.models import generate_cloud as cloud
from studio.models.generate_cloud import BFLFillClient, CloudError, Limits
from studio.pipeline import jobs
from studio.pipeline.ledger import Ledger
from tests.fake_bfl import KEY, cloud_shoot
from tests.synth import make_case


def client(fake, sleeps=None, **limits):
    return BFLFillClient(KEY, fake.url, Limits(**{"retries": 3, "total_s": 20, **limits}),
                         sleep=(sleeps.append if sleeps is not None else lambda s: None))


def inputs():
    return Image.new("RGB", (64, 48), (128, 128, 128)), Image.new("L", (64, 48), 255)


def test_submit_poll_download(fake_bfl):
    img = client(fake_bfl).generate(*inputs(), "a mug on marble", seed=5)
    assert img.size == (64, 48) and img.getpixel((0, 0)) == (90, 140, 200)
    assert fake_bfl.calls == ["submit", "poll", "poll", "download"]
    assert fake_bfl.submitted[0]["seed"] == 5 and fake_bfl.submitted[0]["prompt"] == "a mug on marble"


def test_429_waits_for_retry_after(fake_bfl):
    fake_bfl.rate_limited = 2
    sleeps: list[float] = []
    client(fake_bfl, sleeps).generate(*inputs(), "p", 1)
    assert sleeps[:2] == [2.0, 2.0]


def test_5xx_is_retried_then_given_up(fake_bfl):
    fake_bfl.errors = 2
    client(fake_bfl).generate(*inputs(), "p", 1)
    fake_bfl.errors = 10
    with pytest.raises(CloudError, match="HTTP 502"):
        client(fake_bfl).generate(*inputs(), "p", 1)


def test_hung_connection_times_out(fake_bfl):
    fake_bfl.hang_s = 3.0
    t0 = time.monotonic()
    with pytest.raises(CloudError, match="did not answer in time"):
        client(fake_bfl, read_s=0.3, retries=1).generate(*inputs(), "p", 1)
    assert time.monotonic() - t0 < 3.0


def test_malformed_json(fake_bfl):
    fake_bfl.bad_json = True
    with pytest.raises(CloudError, match="not JSON"):
        client(fake_bfl).generate(*inputs(), "p", 1)


def test_result_url_that_fails_and_key_never_in_messages(fake_bfl):
    fake_bfl.broken_result = True
    with pytest.raises(CloudError) as info:
        client(fake_bfl).generate(*inputs(), "p", 1)
    assert "could not be downloaded: HTTP 403" in str(info.value) and KEY not in str(info.value)
    bad = BFLFillClient("wrong-key", fake_bfl.url, Limits(retries=0))
    with pytest.raises(CloudError, match="refused the API key") as info:
        bad.generate(*inputs(), "p", 1)
    assert "wrong-key" not in str(info.value)


def test_key_is_stored_owner_only(studio_home, monkeypatch, capsys):
    from studio import cli

    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    assert cli.main(["cloud-key"]) == 0
    assert KEY not in capsys.readouterr().out
    path = studio_home / "secrets" / "bfl.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.load_key("bfl") == KEY


def shoot_via_cloud(tmp_path, variants=2):
    return cloud_shoot(tmp_path, variants, timeout=120)


def test_cloud_shoot_charges_per_image_and_the_ledger_balances(fake_bfl, tmp_path):
    secrets.save_key("bfl", KEY)
    store, job = shoot_via_cloud(tmp_path)
    ledger = Ledger(store, budget=10.0)
    assert jobs.get_job(store, job)["status"] == "done"
    assert ledger.spent(job) == pytest.approx(2 * cloud.price()) and ledger.hold(job) == 0
    assert jobs.get_job(store, job)["cost"] == pytest.approx(0.10)
    out = np.asarray(__import__("studio.pipeline.queries", fromlist=["x"]).stage_output(store, job, "preserve[0]")["image"])
    assert tuple(out[2, 2]) != (0, 0, 0)
    assert ledger.problems() == []
    history = json.dumps(__import__("studio.app.history", fromlist=["x"]).job_detail(store, job), default=str)
    assert KEY not in history


def test_an_image_the_provider_billed_stays_charged_when_the_job_fails(fake_bfl, tmp_path):
    secrets.save_key("bfl", KEY)
    fake_bfl.broken_result = True  # Ready (billed), then the download fails; the variant is tried twice
    store, job = shoot_via_cloud(tmp_path, variants=1)
    ledger = Ledger(store, budget=10.0)
    j = jobs.get_job(store, job)
    assert j["status"] == "failed" and "could not be downloaded" in j["error"]
    assert ledger.spent(job) == pytest.approx(2 * cloud.price()) and ledger.hold(job) == 0
    assert ledger.problems() == [] and j["cost"] == pytest.approx(2 * cloud.price())
    assert [e["kind"] for e in ledger.entries(job)].count("refund") == 0


def test_budget_that_runs_out_stops_before_calling(fake_bfl, tmp_path):
    from studio.config import Settings, save_settings
    from studio.pipeline.ledger import BudgetExceeded

    save_settings(Settings(budget=0.07))  # one image's price (0.05) fits, two don't
    secrets.save_key("bfl", KEY)
    with pytest.raises(BudgetExceeded, match=r"needs at least 0.10 .* only 0.07 of the 0.07 budget is left"):
        shoot_via_cloud(tmp_path, variants=2)  # refused before the job exists: nothing runs, nothing is reserved
    store = open_store()
    assert store.one("SELECT COUNT(*) FROM jobs")[0] == 0 and store.one("SELECT COUNT(*) FROM ledger")[0] == 0
    assert fake_bfl.calls.count("submit") == 0


def _policy(policy: str) -> None:
    from studio.config import Settings, save_settings

    save_settings(Settings(cloud_policy=policy))


def _shoot(tmp_path, engine, **kw):
    from studio.app.shoot import submit_shoot

    photo, _ = make_case("red-bottle-on-gradient")
    Image.fromarray(photo).save(tmp_path / "b.png")
    store = open_store()
    job = submit_shoot(store, tmp_path / "b.png", scene="marble", variants=1, engine=engine, preset="shopify",
                       long_side=64, steps=2, max_sequence_length=16, **kw)
    run_jobs([job], timeout=300)
    return store, job


def test_local_failure_falls_back_to_the_cloud(fake_bfl, tmp_path):
    _policy("cloud-fallback")
    secrets.save_key("bfl", KEY)
    store, job = _shoot(tmp_path, "flux")  # FLUX is not installed: the local attempt fails
    j = jobs.get_job(store, job)
    assert j["status"] == "done", j["error"]
    run = store.one("SELECT history FROM stage_runs WHERE job_id = ? AND key = 'generate[0]'", (job,))
    assert "FLUX.1 Fill [dev] is not installed" in run["history"]
    assert '"engine": "cloud"' in store.one("SELECT data FROM variants WHERE job_id = ?", (job,))["data"]
    ledger = Ledger(store)
    assert ledger.spent(job) == pytest.approx(cloud.price()) and ledger.problems() == []


def test_cloud_failure_falls_back_to_local_and_only_the_billed_image_is_charged(fake_bfl, tmp_path, studio_home):
    from studio.config import Settings, save_settings
    from studio.models.holder import HOLDER
    from tests.tiny_flux import build_tiny_flux_fill

    build_tiny_flux_fill(studio_home / "models" / "black-forest-labs--FLUX.1-Fill-dev")
    # FLUX.1 Fill [dev] is non-commercial: a fallback may go to it only with BFL's licence held
    save_settings(Settings(cloud_policy="cloud-fallback", licences_held=["flux-fill-dev"]))
    secrets.save_key("bfl", KEY)
    fake_bfl.broken_result = True
    try:
        store, job = _shoot(tmp_path, "cloud", allow_cpu_fallback=True)
    finally:
        HOLDER.release()
    j = jobs.get_job(store, job)
    assert j["status"] == "done", j["error"]
    assert '"engine": "flux"' in store.one("SELECT data FROM variants WHERE job_id = ?", (job,))["data"]
    ledger = Ledger(store)
    # the cloud made (and billed) an image whose download failed; the local model then ran for free
    assert ledger.spent(job) == pytest.approx(cloud.price()) and ledger.hold(job) == 0 and ledger.problems() == []


def test_local_only_policy_never_falls_back(fake_bfl, tmp_path):
    from studio.app.shoot import FlowError

    _policy("local-only")
    secrets.save_key("bfl", KEY)
    # nothing to fall back on: refused before a job is made, saying what to install
    with pytest.raises(FlowError, match="studio models download flux-fill-dev"):
        _shoot(tmp_path, "flux")
    assert "submit" not in fake_bfl.calls and open_store().one("SELECT COUNT(*) FROM jobs")[0] == 0


def test_a_cloud_plate_smaller_than_the_canvas_goes_up_to_it_and_says_so(fake_bfl, tmp_path):
    """The provider paints at a size of its own (here half the canvas): the variant
    records what it painted and how it was taken up to the canvas, as local plates do."""
    from studio.app.history import job_detail
    from studio.pipeline.queries import stage_output

    secrets.save_key("bfl", KEY)
    fake_bfl.answer_scale = 0.5
    store, job = cloud_shoot(tmp_path, variants=1, timeout=120)
    assert jobs.get_job(store, job)["status"] == "done"
    [v] = job_detail(store, job)["variants"]
    canvas = stage_output(store, job, "generate[0]")["image"].size
    assert v["painted_size"] == [canvas[0] // 2, canvas[1] // 2]
    assert v["upscaler"] == "classic" and v["upscale_factor"] == pytest.approx(2.0, abs=0.02)
