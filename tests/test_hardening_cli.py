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


def _skip_unless_nobody_can_run_studio() -> None:
    """As root the tests drop to user nobody, who must be able to run Studio from this checkout at all
    (a fresh clone in a 0700 mktemp folder is not readable to it)."""
    if os.getuid() != 0:
        return
    probe = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable,
                            "-c", "import studio"], capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot read this checkout ({ROOT}): the test needs a readable one")


@pytest.mark.skipif(os.getuid() == 0 and not shutil.which("setpriv"), reason="needs setpriv to drop root")
def test_a_read_only_out_folder_is_one_sentence_before_anything_runs():
    _skip_unless_nobody_can_run_studio()
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


# -- issue 37: nothing of the seller's replaced without a word; refusals up front ------------

def _backdrop(path: Path, seed: int) -> Path:
    from PIL import Image

    from tests.backdrops import table_photo

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(table_photo(640, 480, 0.55, 180.0, seed=seed)).save(path)
    return path


def test_scenes_add_over_a_scene_of_yours_refuses_unless_forced(tmp_path, capsys):
    from studio.scenes import load_scenes, user_dir

    first, second = _backdrop(tmp_path / "bench.jpg", 0), _backdrop(tmp_path / "shelf.jpg", 1)
    assert cli.main(["scenes", "add", "workbench", "--backdrop", str(first), "--spot", "0.4,0.8"]) == 0
    capsys.readouterr()
    kept = {p.name: p.read_bytes() for p in user_dir().iterdir()}
    assert cli.main(["scenes", "add", "workbench", "--backdrop", str(second)]) == 2
    err = capsys.readouterr().err
    assert "already have a scene called 'workbench'" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in user_dir().iterdir()} == kept  # photo and spot as they were
    # a scene the seller wrote by hand is theirs too
    (user_dir() / "handmade.toml").write_text((ROOT / "scenes" / "marble.toml").read_text().replace(
        'id = "marble"', 'id = "handmade"'))
    assert "handmade" in load_scenes()
    assert cli.main(["scenes", "add", "handmade", "--backdrop", str(second)]) == 2
    assert "already have a scene called 'handmade'" in capsys.readouterr().err
    assert cli.main(["scenes", "add", "workbench", "--backdrop", str(second), "--force"]) == 0
    assert (user_dir() / "workbench.jpg").read_bytes() != kept["workbench.jpg"]
    assert load_scenes()["workbench"].backdrop.spot is None  # replaced on purpose: the new photo's own


def test_exports_of_two_jobs_into_one_folder_keep_both_shots(tmp_path, capsys):
    store = open_store()
    one = submit_shoot(store, photo(tmp_path / "a", "mug.jpg"), scene="marble", variants=1, long_side=256)
    two = submit_shoot(store, photo(tmp_path / "b", "mug.jpg", "green-mug-on-sheet"), scene="marble", variants=1,
                       long_side=256)
    run_jobs([one, two])
    out = tmp_path / "shots"
    assert cli.main(["export", one, "--out", str(out), "--json"]) == 0
    [first] = json.loads(capsys.readouterr().out)["files"]
    kept = Path(first).read_bytes()
    assert cli.main(["export", two, "--out", str(out), "--json"]) == 0
    [second] = json.loads(capsys.readouterr().out)["files"]
    assert second != first and Path(first).read_bytes() == kept and Path(second).read_bytes() != kept
    # the same job exported again writes its own file again, not a third one
    assert cli.main(["export", one, "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == [first]
    assert len(list(out.iterdir())) == 2


def test_replay_values_of_the_wrong_kind_and_engines_not_installed_are_refused_up_front(tmp_path, capsys):
    job = _one_job(tmp_path)
    before = open_store().one("SELECT COUNT(*) FROM jobs")[0]
    for value, says in (("reference=123", "reference must be the path of a photo"),
                        ("reference=[1]", "reference must be the path of a photo"),
                        ("engine=klein", "not installed")):
        assert cli.main(["replay", job, "--from", "generate", "--set", value]) == 2, value
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, (value, err)
    assert open_store().one("SELECT COUNT(*) FROM jobs")[0] == before


@pytest.mark.skipif(os.getuid() == 0 and not shutil.which("setpriv"), reason="needs setpriv to drop root")
def test_doctor_on_a_data_dir_it_cannot_write_does_not_call_a_sound_database_damaged(tmp_path):
    _skip_unless_nobody_can_run_studio()
    work = Path(tempfile.mkdtemp(prefix="studio-ro-", dir="/tmp"))
    try:
        os.chmod(work, 0o755)
        home = work / "home"
        env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-m", "studio", "history"], env=env, check=True, capture_output=True)
        for f in [home, *home.rglob("*")]:  # readable by everyone, writable by its owner only
            os.chmod(f, 0o755 if f.is_dir() else 0o644)
        out = _as_another_user(["doctor"], home)
        assert "damaged" not in out.stdout and "--repair" not in out.stdout, out.stdout
        assert "read-only or not yours" in out.stdout and out.returncode == 1, (out.stdout, out.stderr)
        out = _as_another_user(["doctor", "--repair"], home)
        assert "nothing to repair" in out.stdout and "Traceback" not in out.stderr, (out.stdout, out.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_workers_without_a_cluster_are_refused_not_ignored(tmp_path, capsys):
    photo(tmp_path / "cat", "a.jpg")
    assert cli.main(["batch", str(tmp_path / "cat"), "--out", str(tmp_path / "o"), "--workers", "4"]) == 2
    assert "--workers is for a batch on a Ray cluster" in capsys.readouterr().err
    assert open_store().one("SELECT COUNT(*) FROM batches")[0] == 0 and not (tmp_path / "o").exists()


def test_a_refused_shoot_leaves_no_out_folder_and_scene_with_backdrop_is_refused(tmp_path, capsys):
    mug = photo(tmp_path, "mug.jpg")
    for extra, says in ((["--variants", "0"], "variants must be"), (["--engine", "klein"], "not installed"),
                        (["--scene", "marble", "--backdrop", str(_backdrop(tmp_path / "b.jpg", 0))],
                         "give --scene or --backdrop, not both")):
        assert cli.main(["shoot", str(mug), "--out", str(tmp_path / "new" / "shots"), *extra]) == 2, extra
        assert says in capsys.readouterr().err
        assert not (tmp_path / "new").exists(), extra
    assert cli.main(["cutout", str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "cut")]) == 2
    assert not (tmp_path / "cut").exists()


def test_shoot_help_says_where_defaults_come_from(capsys):
    with pytest.raises(SystemExit):
        cli.main(["shoot", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Settings' default steps" in text and "seed of the first variant" in text
    assert "folder for the shots" in text and "not with --backdrop" in text and "not with --scene" in text
