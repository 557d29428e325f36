"""Catalog batches on a real local Ray cluster: the same files as a local batch, a
worker killed mid-batch, the head killed and resumed, an unreachable cluster; and the
transfer bundle a worker sends back."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from studio import cli
from studio.app.cluster_worker import ShootWorker
from studio.app.context import open_store
from studio.app.history import job_detail
from studio.app.shoot import shoot_summary
from studio.pipeline.transfer import BundleError, import_job
from studio.store import Store, loads
from studio.ui import tab_batch
from tests.test_batch import _done_count, _photos

ARGS = ["--variants", "1", "--long-side", "256", "--json"]


@pytest.fixture
def ray_cluster(studio_home):
    ray = pytest.importorskip("ray")
    # a one-node cluster of this machine's 2 cores, of the test's own ("local": never one that
    # `ray start` runs on this machine); its workers inherit STUDIO_HOME
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    yield ray
    ray.shutdown()


def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.jpg"))}


def _worker_pids() -> list[int]:
    """The processes of the batch's Ray actors (Ray names them ray::ShootWorker…)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"ShootWorker" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_twenty_skus_on_a_cluster_match_a_local_batch(tmp_path, ray_cluster, capsys):
    _photos(tmp_path / "in", 20)
    assert cli.main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "ray"), "--cluster", "ray", *ARGS]) == 0
    assert cli.main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "local"), *ARGS]) == 0
    on_cluster, local = _files(tmp_path / "ray"), _files(tmp_path / "local")
    assert len(on_cluster) == 20 and on_cluster == local  # same seeds, same stage code: the same bytes
    store = open_store()
    batch = store.one("SELECT id FROM batches WHERE out_dir = ?", (str((tmp_path / "ray").resolve()),))["id"]
    items = store.query("SELECT * FROM batch_items WHERE batch_id = ?", (batch,))
    assert all(i["status"] == "done" and i["node"] and i["attempt"] == 1 for i in items)
    jobs = store.query("SELECT * FROM jobs WHERE batch_id = ?", (batch,))
    assert len(jobs) == 20 and all(j["status"] == "done" and j["node"] for j in jobs)
    # the whole job is in this machine's history: every stage with its timing, and its scores
    runs = store.query("SELECT status, duration_s FROM stage_runs WHERE job_id = ?", (jobs[0]["id"],))
    assert runs and all(r["status"] == "done" and r["duration_s"] is not None for r in runs)
    assert shoot_summary(store, jobs[0]["id"])["variants"][0]["scores"]["fidelity"] >= 0.75
    assert job_detail(store, jobs[0]["id"])["node"] == jobs[0]["node"]
    from studio.ui import tab_history

    assert f"ran on **{jobs[0]['node']}**" in tab_history.on_open(jobs[0]["id"])[0]
    # the Batch tab says which machine shot each SKU
    _, grid, _, _ = tab_batch.on_status(batch)
    assert "node" in grid["headers"] and all(r[grid["headers"].index("node")] for r in grid["data"])


def test_without_cluster_ray_is_never_imported(tmp_path, studio_home):
    _photos(tmp_path / "in", 1)
    code = ("import sys; from studio import cli; "
            f"code = cli.main(['batch', {str(tmp_path / 'in')!r}, '--out', {str(tmp_path / 'out')!r}, "
            "'--variants', '1', '--long-side', '256']); print(code, 'ray' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "STUDIO_HOME": str(studio_home)})
    assert run.stdout.split()[-2:] == ["0", "False"], run.stderr


def test_unreachable_cluster_starts_nothing(tmp_path, studio_home, capsys):
    _photos(tmp_path / "in", 2)
    code = cli.main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--cluster", "127.0.0.1:9",
                     *ARGS])
    assert code == 2
    assert "cannot reach the Ray cluster at 127.0.0.1:9" in capsys.readouterr().err
    assert open_store().one("SELECT COUNT(*) FROM batches")[0] == 0 and not (tmp_path / "out").exists()
    assert cli.main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--cluster", "nonsense",
                     *ARGS]) == 2


@pytest.mark.slow
def test_a_worker_killed_mid_batch_its_skus_run_once_elsewhere(tmp_path, ray_cluster):
    from studio.app import batch as batches
    from studio.app.batch_cluster import run_batch_on_cluster

    _photos(tmp_path / "in", 20)
    store = open_store()
    batch_id = batches.create_batch(store, tmp_path / "in", tmp_path / "out", variants=1, long_side=256)
    killed: list[int] = []
    done = threading.Event()

    def on_item(item: dict) -> None:
        # after a few SKUs, both workers hold work in flight: kill one of them outright
        if not killed and item["status"] == "done" and _done_count(Path(os.environ["STUDIO_HOME"])) >= 3:
            pids = _worker_pids()
            assert pids
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
            done.set()

    summary = run_batch_on_cluster(store, batch_id, on_item=on_item)
    assert killed and summary["status"] == "done" and summary["done"] == 20
    items = store.query("SELECT sku, attempt, job_id FROM batch_items WHERE batch_id = ?", (batch_id,))
    assert any(i["attempt"] > 1 for i in items)  # a SKU of the killed worker was sent again
    assert store.one("SELECT COUNT(*) FROM jobs WHERE batch_id = ?", (batch_id,))[0] == 20  # each once
    assert len({i["job_id"] for i in items}) == 20
    shots = sorted(_files(tmp_path / "out"))
    assert shots == [f"sku{i:03d}/sku{i:03d}_white-marketplace_1.jpg" for i in range(20)]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(proc.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


@pytest.mark.slow
def test_head_killed_then_resumed_on_a_new_local_cluster(tmp_path, studio_home):
    pytest.importorskip("ray")
    _photos(tmp_path / "in", 12)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"STUDIO_HOME": str(studio_home)}
    cmd = [sys.executable, "-m", "studio", "batch", str(tmp_path / "in"), "--out", str(out), "--cluster", "ray",
           *ARGS]
    head = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while _done_count(studio_home) < 3 and time.monotonic() < deadline and head.poll() is None:
        time.sleep(0.2)
    assert head.poll() is None, "the batch finished before its head could be killed"
    cluster = _descendants(head.pid)  # its local Ray cluster goes down with it
    os.killpg(head.pid, signal.SIGKILL)
    head.wait()
    for pid in cluster:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    store = open_store()
    finished = {r["sku"]: r["job_id"] for r in store.query("SELECT sku, job_id FROM batch_items WHERE "
                                                           "status = 'done'")}
    assert 3 <= len(finished) < 12
    # --resume remembers the batch was a cluster one and starts a new local cluster
    resumed = subprocess.run(cmd[:-len(ARGS)] + ["--resume", "--json"], env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    items = store.query("SELECT sku, job_id, status, node FROM batch_items")
    assert len(items) == 12 and all(i["status"] == "done" and i["node"] for i in items)
    assert all(finished[i["sku"]] == i["job_id"] for i in items if i["sku"] in finished)  # not redone
    assert store.one("SELECT COUNT(*) FROM jobs")[0] == 12
    assert sorted(_files(out)) == [f"sku{i:03d}/sku{i:03d}_white-marketplace_1.jpg" for i in range(12)]


def test_a_worker_bundle_imports_once_and_checks_its_artifacts(tmp_path, studio_home):
    photo = _photos(tmp_path / "in", 1)[0]
    worker = ShootWorker()
    broken = worker.shoot(b"\xff\xd8\xff not a photo", "x.jpg", {"variants": 1, "long_side": 256})
    assert "not an image Studio can read" in broken["error"] and broken["node"]
    result = worker.shoot(photo.read_bytes(), photo.name, {"variants": 1, "long_side": 256, "title": "A (x)"})
    assert worker.store.one("SELECT COUNT(*) FROM jobs")[0] == 0  # the worker keeps nothing between SKUs
    head = Store(tmp_path / "head")
    job = import_job(head, result["bundle"], node=result["node"])
    summary = shoot_summary(head, job)
    assert summary["status"] == "done" and summary["photo"] == photo.name
    assert head.one("SELECT node FROM jobs WHERE id = ?", (job,))["node"] == result["node"]
    with pytest.raises(BundleError, match="already here"):
        import_job(head, result["bundle"])
    bundle = result["bundle"]
    digest, (ext, data) = next(iter(bundle["artifacts"].items()))
    damaged = {**bundle, "artifacts": {**bundle["artifacts"], digest: (ext, data[:-1] + b"x")}}
    with pytest.raises(BundleError, match="damaged"):
        import_job(Store(tmp_path / "other"), damaged)


def test_cancelling_a_batch_with_skus_out_on_workers(tmp_path, studio_home, capsys):
    from studio.app import batch as batches

    _photos(tmp_path / "in", 3)
    store = open_store()
    batch_id = batches.create_batch(store, tmp_path / "in", tmp_path / "out", variants=1, long_side=256,
                                    cluster="ray")
    # one SKU sent to a worker (no job here yet), as a head leaves it when it is stopped
    store.conn.execute("UPDATE batch_items SET status = 'running', attempt = 1 WHERE batch_id = ? AND idx = 0",
                       (batch_id,))
    assert cli.main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--cancel"]) == 0
    assert store.one("SELECT status FROM batches WHERE id = ?", (batch_id,))["status"] == "cancelled"
    assert (tmp_path / "out" / "report.csv").is_file()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ray_start_head_and_a_second_node_as_the_readme_says(tmp_path, studio_home, capsys):
    """Two 1-CPU nodes started with `ray start` (token authentication on, as Ray ≥ 2.59 wants
    it), the batch pointed at HOST:PORT: a worker fits on each node, and a machine without
    the token gets a message saying what to do."""
    import secrets
    import shutil

    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray_bin is None:
        pytest.skip("the ray command is not installed (pip install 'studio[cluster]')")
    temp = Path(f"/tmp/rst-{secrets.token_hex(4)}")  # Ray's sockets need a short path
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env = base | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "STUDIO_HOME": str(studio_home)}
    common = ["--num-cpus=1", "--disable-usage-stats", f"--temp-dir={temp}"]
    before = {p.name for p in Path("/proc").glob("[0-9]*")}
    try:
        subprocess.run([ray_bin, "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
                       env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([ray_bin, "start", f"--address=127.0.0.1:{port}", *common], env=env, check=True,
                       capture_output=True, timeout=120)
        _photos(tmp_path / "in", 6)
        cmd = [sys.executable, "-m", "studio", "batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
               "--cluster", f"127.0.0.1:{port}", *ARGS]
        no_token = subprocess.run(cmd, env=base | {"STUDIO_HOME": str(studio_home)}, capture_output=True,
                                  text=True, timeout=180)
        assert no_token.returncode == 2 and "authentication token" in no_token.stderr
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        items = open_store().query("SELECT status, node FROM batch_items")
        assert len(items) == 6 and all(i["status"] == "done" and i["node"] for i in items)
        assert len(_files(tmp_path / "out")) == 6
    finally:
        # this cluster's processes only, not any other Ray: those started since, that name its
        # folder or are Ray's (its agents rename themselves ray::…)
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes()
                if proc.name not in before and (str(temp).encode() in cmdline or cmdline.startswith(b"ray::")):
                    os.kill(int(proc.name), signal.SIGKILL)
            except (OSError, ValueError):
                continue
        shutil.rmtree(temp, ignore_errors=True)


def test_what_a_batch_leaves_to_the_settings_is_the_heads(tmp_path, studio_home):
    """Workers have settings of their own (their machine's data dir): a batch that names no
    scene, preset or variant count still gets this machine's."""
    ray = pytest.importorskip("ray")
    from studio.config import load_settings, save_settings

    s = load_settings()
    s.default_scene, s.default_variants, s.fidelity_threshold = "marble", 1, 0.6
    save_settings(s)
    worker_home = tmp_path / "worker-home"  # defaults: white-marketplace, 4 variants
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False,
             runtime_env={"env_vars": {"STUDIO_HOME": str(worker_home)}})
    try:
        _photos(tmp_path / "in", 2)
        assert cli.main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--long-side", "256",
                         "--cluster", "ray"]) == 0
    finally:
        ray.shutdown()
    assert sorted(_files(tmp_path / "out")) == [f"sku00{i}/sku00{i}_marble_1.jpg" for i in range(2)]
    assert worker_home.is_dir()  # the workers did read their own data dir
    # and the gate they shot with is this machine's (their own says 0.75)
    store = open_store()
    assert {loads(r["params"])["fidelity_threshold"] for r in store.query("SELECT params FROM jobs")} == {0.6}
