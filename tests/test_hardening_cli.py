"""Issue 28, the crashes and losses on ordinary input that reached the terminal: each is
now one sentence and an exit code, and nothing is lost or left half-done."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from studio import cli, secrets
from studio.app.context import open_store, run_jobs
from studio.app.shoot import submit_shoot
from studio.config import data_dir
from studio.pipeline import jobs
from tests.test_hardening import photo

ROOT = Path(__file__).resolve().parent.parent


def _one_job(tmp_path, **kw) -> str:
    store = open_store()
    job = submit_shoot(store, photo(tmp_path, "mug.jpg"), scene="marble", variants=1, long_side=256, **kw)
    run_jobs([job])
    return job


def test_replay_and_clip_parameters_are_checked_like_a_new_shoots(tmp_path, capsys):
    job = _one_job(tmp_path)
    before = open_store().one("SELECT COUNT(*) FROM jobs")[0]
    for sets, says in [(["long_side=100000"], "long side must be from 64 to 4096"), (["long_side=-5"], "long side"),
                       (["seed=-1"], "seed must be"), (["preset=nope"], "unknown preset 'nope'"),
                       (["variants=0"], "variants must be"), (["view=sideways"], "view must be"),
                       (["engine=warp"], "engine 'warp' is not available"), (["scene=moon"], "no scene 'moon'"),
                       (["fidelity_threshold=7"], "fidelity_threshold must be")]:
        assert cli.main(["replay", job, "--from", "generate", *[a for s in sets for a in ("--set", s)]]) == 2, sets
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, (sets, err)
    for seed in ("-1", str(10**29)):
        assert cli.main(["clip", job, "--seed", seed, "--preset", "square"]) == 2
        assert "seed must be a whole number" in capsys.readouterr().err
    assert open_store().one("SELECT COUNT(*) FROM jobs")[0] == before  # nothing was queued


def test_named_engine_that_is_not_installed_is_one_sentence_and_no_job(tmp_path, capsys):
    mug = photo(tmp_path, "mug.jpg")
    assert cli.main(["shoot", str(mug), "--out", str(tmp_path / "o"), "--engine", "klein"]) == 2
    err = capsys.readouterr().err
    assert "not installed" in err and "studio models download flux2-klein-4b" in err and "Traceback" not in err
    assert cli.main(["shoot", str(mug), "--out", str(tmp_path / "o"), "--engine", "cloud"]) == 2
    assert "no cloud API key" in capsys.readouterr().err
    assert open_store().one("SELECT COUNT(*) FROM jobs")[0] == 0


def test_a_job_whose_engine_went_away_fails_once_without_a_traceback(tmp_path, caplog):
    """A queued klein job whose weights are gone by the time it runs: the stage fails at
    once (no retries: nothing can change), the log line is the sentence."""
    from studio.app import shoot as shoot_flow
    from studio.models.registry import generator

    store = open_store()
    job = submit_shoot(store, photo(tmp_path, "mug.jpg"), scene="marble", variants=1, long_side=256)
    # what `--engine klein` submitted while klein was installed: its params name klein
    store.conn.execute("UPDATE jobs SET params = json_set(params, '$.engine', 'klein') WHERE id = ?", (job,))
    store.conn.execute("UPDATE stage_runs SET params = json_set(params, '$.engine', 'klein') WHERE job_id = ?", (job,))
    assert generator("klein").unavailable()
    run_jobs([job], timeout=60)
    j = jobs.get_job(store, job)
    assert j["status"] == "failed" and "not installed" in j["error"] and j["failed_attempts"] == 1
    assert not any(r.exc_info for r in caplog.records)
    assert shoot_flow  # the flow module is what the CLI calls


def test_shoot_help_says_what_auto_and_steps_mean(capsys):
    with pytest.raises(SystemExit):
        cli.main(["shoot", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "klein 4B" in text and "local FLUX when" not in text and "FLUX steps (default 28)" not in text


def test_workers_out_of_range_are_refused_before_anything_is_recorded(tmp_path, capsys):
    photo(tmp_path / "cat", "a.jpg")
    for n in ("0", "-1", "100000"):
        assert cli.main(["batch", str(tmp_path / "cat"), "--out", str(tmp_path / "o"), "--cluster", "ray",
                         "--workers", n]) == 2
        assert "--workers must be from 1 to" in capsys.readouterr().err
    assert open_store().one("SELECT COUNT(*) FROM batches")[0] == 0


def test_more_workers_than_the_cluster_has_room_for_is_a_sentence():
    from studio.app.batch_cluster import ClusterError, WorkerPool

    class TwoNodes:  # what ray reports of a 2-node, 4-CPU cluster (the pool asks nothing else first)
        @staticmethod
        def cluster_resources():
            return {"CPU": 4.0}

        @staticmethod
        def nodes():
            return [{"Alive": True, "Resources": {"CPU": 2.0}}, {"Alive": True, "Resources": {"CPU": 2.0}}]

    with pytest.raises(ClusterError, match="room for 1 to 2"):
        WorkerPool(TwoNodes, "classic", 100_000)


def _as_another_user(args: list[str], home: Path) -> subprocess.CompletedProcess:
    """`studio ARGS` as a user who may not write where root's files are (root itself may
    write anywhere, so a read-only folder is only read-only to someone else)."""
    env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT), "HOME": str(home)}
    cmd = [sys.executable, "-m", "studio", *args]
    if os.getuid() == 0:
        cmd = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.skipif(os.getuid() == 0 and not shutil.which("setpriv"), reason="needs setpriv to drop root")
def test_a_read_only_out_folder_is_one_sentence_before_anything_runs():
    if os.getuid() == 0:  # the other user must be able to run Studio from this checkout at all
        probe = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable,
                                "-c", "import studio"], capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if probe.returncode != 0:
            pytest.skip(f"user nobody cannot read this checkout ({ROOT}): the test needs a readable one")
    work = Path(tempfile.mkdtemp(prefix="studio-ro-", dir="/tmp"))
    try:
        os.chmod(work, 0o755)
        home = work / "home"
        home.mkdir()
        os.chmod(home, 0o777)
        mug = photo(work / "in", "mug.jpg")
        os.chmod(work / "in", 0o755)
        locked = work / "locked"
        locked.mkdir()
        os.chmod(locked, 0o555)
        for args in (["shoot", str(mug), "--variants", "1", "--long-side", "256"], ["cutout", str(mug)],
                     ["batch", str(work / "in")]):
            out = _as_another_user([*args, "--out", str(locked / "o")], home)
            assert out.returncode == 2, (args, out.stdout, out.stderr)
            assert "cannot be written" in out.stderr and "Traceback" not in out.stderr, out.stderr
        # a finished job exported into it: the sentence, and the job is still there to export elsewhere
        done = _as_another_user(["shoot", str(mug), "--variants", "1", "--long-side", "256", "--out",
                                 str(home / "shots"), "--json"], home)
        assert done.returncode == 0, done.stderr
        job = json.loads(done.stdout)[0]["job"]
        for args in (["export", job], ["clip", job, "--preset", "square", "--seconds", "4"]):
            out = _as_another_user([*args, "--out", str(locked / "o")], home)
            assert out.returncode == 2 and "cannot be written" in out.stderr, (args, out.stderr)
        assert _as_another_user(["export", job, "--out", str(home / "again")], home).returncode == 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_device_or_a_pipe_in_the_scenes_folder_is_skipped_at_once(capsys):
    from studio.scenes import load_scenes, user_dir

    user_dir().mkdir(parents=True, exist_ok=True)
    os.symlink("/dev/zero", user_dir() / "zero.toml")
    os.mkfifo(user_dir() / "pipe.toml")
    t0 = time.monotonic()
    errors: list[str] = []
    scenes = load_scenes(errors=errors)
    assert time.monotonic() - t0 < 5 and "marble" in scenes
    assert sorted(e.split(": ", 1)[1] for e in errors) == ["not a regular file", "not a regular file"]
    assert cli.main(["scenes"]) == 0


def test_clips_of_two_photos_with_the_same_name_both_stay(tmp_path, capsys):
    store = open_store()
    a = submit_shoot(store, photo(tmp_path / "a", "mug.jpg"), scene="marble", variants=1, long_side=256)
    b = submit_shoot(store, photo(tmp_path / "b", "mug.jpg", "green-mug-on-sheet"), scene="marble", variants=1,
                     long_side=256)
    run_jobs([a, b])
    made = []
    for job in (a, b, a):
        assert cli.main(["clip", job, "--preset", "square", "--seconds", "4", "--json"]) == 0
        made.append(json.loads(capsys.readouterr().out)["file"])
    assert made[0] != made[1] and Path(made[0]).exists() and Path(made[1]).exists()
    assert Path(made[0]).parent == data_dir() / "exports"
    assert made[2] == made[0]  # the same clip again: the same file, not a third


def test_retrying_a_cloud_job_long_after_its_first_try_gets_its_time_again(tmp_path, fake_bfl):
    from studio.app.context import ledger
    from studio.app.history import retry
    from tests.fake_bfl import KEY, cloud_shoot

    secrets.save_key("bfl", KEY)
    fake_bfl.errors = 100  # the provider is down: the job fails
    store, job = cloud_shoot(tmp_path, variants=1)
    assert jobs.get_job(store, job)["status"] == "failed"
    # ten minutes later the provider is back, and the person retries
    store.conn.execute("UPDATE stage_runs SET params = json_set(params, '$.variant_started_at', ?) WHERE job_id = ?",
                       (time.time() - 600, job))
    fake_bfl.errors = 0
    retry(store, job, ledger(store))
    run_jobs([job], timeout=120)
    j = jobs.get_job(store, job)
    assert j["status"] == "done", j["error"]


def test_serve_on_a_damaged_database_is_one_sentence(capsys):
    from studio.app import context

    store = open_store()
    store.backup("test")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    context._store_for.cache_clear()
    db = data_dir() / "studio.db"
    db.write_bytes(db.read_bytes()[:1000])
    assert cli.main(["serve", "--no-browser", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "is damaged" in err and "studio doctor --repair" in err and "Traceback" not in err
