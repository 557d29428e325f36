"""Catalog batches on a Ray cluster. The batch stays in this machine's SQLite (its items,
report, ledger and files are written here); each SKU's shoot runs on a Ray actor (a
`ShootWorker`: one per GPU for the model engines, one per two CPUs for the classic one) with
the same stage code as a local job, and comes back as a transfer bundle that is
imported into this store, so History shows every stage, seed, timing and the node.

Faults: an item is `pending`, then `running` with a dispatch `attempt`; only the result
of the item's current attempt is imported, exactly once, and only then are its files
written. A worker or node that dies sends its SKUs back to `pending` (another worker
takes them); a head killed mid-batch loses only its dispatches, which `--resume` sends
again. Ray is imported here only, and only when a batch asks for a cluster."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import studio
from studio.app.batch import batch_summary, ended, fail_item, finish_item, run_batch, shoot_options, write_report
from studio.app.shoot import check_budget
from studio.config import load_settings
from studio.pipeline.ledger import BudgetExceeded
from studio.pipeline.transfer import BundleError, import_job
from studio.store import Store, loads

# SKUs one worker shoots at once: a GPU worker two (one's CPU stages overlap the other's
# generation), a CPU worker three on two cores, as a local batch runs them
GPU_SLOTS, CPU_SLOTS, CPUS_PER_CPU_WORKER = 2, 3, 2
# a SKU whose worker died this many times is failed rather than sent again: it is
# probably what kills them
MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_S = 5.0
# the settings a worker takes from this machine: the declared use and licences (what `auto`
# may pick), the gate, the scorer and the defaults a shot is made with; the rest (where its
# models are, its card's VRAM plan, its keys) stays the worker machine's own
HEAD_SETTINGS = ("usage", "licences_held", "fidelity_threshold", "gate_attempts", "clip_model", "default_scene",
                 "default_preset", "default_variants", "default_steps", "default_guidance", "engine", "cloud_policy",
                 "cloud_provider")


class ClusterError(RuntimeError):
    """The cluster cannot be used (unreachable, no GPU for a model engine); nothing started."""


def cluster_address(cluster: str) -> str | None:
    """`--cluster` → the address for `ray.init`: "ray" means $RAY_ADDRESS, else a cluster
    already running on this machine, else a new local one (None); "ray://HOST:PORT" (Ray
    Client) and "HOST:PORT" (a head's GCS port, 6379) are used as given."""
    cluster = cluster.strip()
    if cluster == "ray":
        return os.environ.get("RAY_ADDRESS") or None
    if cluster.startswith("ray://") or (":" in cluster and "://" not in cluster):
        return cluster
    raise ClusterError(f"--cluster {cluster!r}: use ray, ray://HOST:PORT or HOST:PORT")


def check_reachable(address: str | None) -> None:
    """A quick TCP check of the head, so an unreachable cluster is a clear message in
    seconds rather than Ray's own retries for a minute."""
    if address in (None, "auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ClusterError(f"cannot read the cluster address {address!r}: {exc}") from exc
    if not host or not port:
        raise ClusterError(f"the cluster address {address!r} needs a host and a port (HOST:6379 or ray://HOST:10001)")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {exc}. Is `ray start --head` running there, "
                           "and is the port open from this machine?") from exc


def connect(address: str | None):
    """Ray, initialised: connected to `address`, or to a new local cluster. Raises
    ClusterError when Ray is not installed or the cluster cannot be reached."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError("Ray is not installed: pip install 'studio[cluster]' (on every machine of the "
                           "cluster)") from exc
    check_reachable(address)
    if ray.is_initialized():
        return ray
    # a cluster of our own on this machine needs no dashboard; one started with
    # `ray start --head` has its own
    local = {"include_dashboard": False} if address is None else {}
    try:
        ray.init(address=address, logging_level="warning", log_to_driver=False, **local)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if _auth_failed(exc):
            raise ClusterError(
                f"the Ray cluster at {address} wants its authentication token: set RAY_AUTH_MODE=token here and "
                "give this machine the head's token (`ray get-auth-token` on the head; put it in ~/.ray/auth_token "
                "or RAY_AUTH_TOKEN). See README, Several machines.") from exc
        raise ClusterError(f"cannot connect to the Ray cluster at {address or 'this machine'}: {exc}") from exc
    return ray


def _auth_failed(exc: BaseException | None) -> bool:
    while exc is not None:
        if type(exc).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class WorkerPool:
    """The batch's actors: one per GPU of the cluster for engines that run a local model,
    else one per two CPUs of each node. A dead one is replaced by a new one (Ray places it
    where there is room)."""

    def __init__(self, ray, engine: str, size: int | None = None):
        from studio.app.cluster_worker import ShootWorker

        resources = ray.cluster_resources()
        self.gpu = _wants_gpu(engine, resources)
        if self.gpu and not resources.get("GPU"):
            raise ClusterError(f"the cluster has no GPU for the {engine} engine: start GPU workers, or use "
                               "--engine classic")
        cpus, fits = _cpu_workers(ray)
        room = int(resources["GPU"]) if self.gpu else fits
        if size is not None and not 1 <= size <= room:
            # more actors than the cluster can place would wait for room forever
            kind = "GPU" if self.gpu else f"{cpus}-CPU"
            raise ClusterError(f"--workers {size}: the cluster has room for 1 to {room} {kind} workers")
        count = size or room
        self.slots = GPU_SLOTS if self.gpu else CPU_SLOTS
        self.ray = ray
        # a dead worker is not restarted by Ray: its SKUs come back here and go to a new one
        self._cls = ray.remote(ShootWorker).options(num_cpus=1 if self.gpu else cpus, num_gpus=1 if self.gpu else 0,
                                                   max_concurrency=self.slots, max_restarts=0, max_task_retries=0)
        self.workers = [self._new() for _ in range(max(1, count))]

    def _new(self):
        head = load_settings()
        return self._cls.remote(self.slots, {name: getattr(head, name) for name in HEAD_SETTINGS})

    @property
    def capacity(self) -> int:
        """SKUs in flight at most: each worker's slots, and one more waiting with its photo
        already sent, so a worker never idles while the next photo travels (this also
        bounds memory however long the catalog)."""
        return (self.slots + 1) * len(self.workers)

    def least_busy(self, busy: list) -> object:
        """The worker with the fewest of `busy` (the workers of the SKUs in flight)."""
        return min(self.workers, key=lambda w: sum(b is w for b in busy))

    def replace(self, worker) -> None:
        if worker not in self.workers:
            return  # already replaced (it had several SKUs in flight)
        self.workers.remove(worker)
        try:
            self.ray.kill(worker, no_restart=True)
        except Exception:  # noqa: BLE001 - it is dead already, which is the point
            pass
        self.workers.append(self._new())

    def shutdown(self) -> None:
        for w in self.workers:
            try:
                self.ray.kill(w, no_restart=True)
            except Exception:  # noqa: BLE001 - the cluster may be gone already
                pass


def _cpu_workers(ray) -> tuple[int, int]:
    """(CPUs per classic worker, how many fit): an actor lives on one node, so the size is
    taken from the smallest node (a 1-CPU node could never hold a 2-CPU worker) and the
    count node by node."""
    per_node = [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    per_node = [c for c in per_node if c > 0] or [1]
    cpus = min(CPUS_PER_CPU_WORKER, min(per_node))
    return cpus, max(1, sum(c // cpus for c in per_node))


def _why(exc: BaseException) -> str:
    """One line of a Ray error: the cause when Ray names one (a worker machine without
    Studio: "ModuleNotFoundError: No module named 'studio'"), else its kind."""
    lines = [ln.strip() for ln in str(exc).splitlines() if "Error" in ln and ":" in ln]
    return (lines[-1] if lines else type(exc).__name__)[:200]


def _wants_gpu(engine: str, resources: dict) -> bool:
    from studio.models.registry import GENERATORS, generator

    if engine == "auto":  # resolved on each worker; a cluster with GPUs gets GPU workers
        return bool(resources.get("GPU"))
    return engine in GENERATORS and generator(engine).device == "gpu"


def run_batch_on_cluster(store: Store, batch_id: str, *, address: str | None = None, workers: int | None = None,
                         on_item: Callable[[dict], None] | None = None,
                         stop: threading.Event | None = None) -> dict:
    """Run (or continue) a batch on a Ray cluster to its end, a pause or a cancel (the
    SKUs in flight finish first); returns `batch_summary` like `run_batch`."""
    ray = connect(address)
    batch = dict(store.one("SELECT * FROM batches WHERE id = ?", (batch_id,)))
    pool = WorkerPool(ray, loads(batch["options"])["engine"], workers)
    store.conn.execute("UPDATE batches SET status = 'running', finished_at = NULL WHERE id = ? AND status = 'paused'",
                       (batch_id,))
    # a killed head's dispatches died with it; an item whose result was imported keeps it
    store.conn.execute("UPDATE batch_items SET status = 'pending' WHERE batch_id = ? AND status = 'running' AND "
                       "job_id IS NULL", (batch_id,))
    in_flight: dict = {}  # object ref → (item idx, attempt, worker)

    def report(idx: int) -> None:
        if on_item:
            on_item(dict(store.one("SELECT * FROM batch_items WHERE batch_id = ? AND idx = ?", (batch_id, idx))))

    try:
        while True:
            batch = dict(store.one("SELECT * FROM batches WHERE id = ?", (batch_id,)))
            for it in store.query("SELECT * FROM batch_items WHERE batch_id = ? AND status = 'running' AND "
                                  "job_id IS NOT NULL ORDER BY idx", (batch_id,)):
                if ended(store, it["job_id"]):  # imported, but the head stopped before writing its files
                    finish_item(store, batch, dict(it))
                    report(it["idx"])
            dispatching = batch["status"] == "running" and not (stop and stop.is_set())
            free = pool.capacity - len(in_flight) if dispatching else 0
            pending = [dict(r) for r in store.query("SELECT * FROM batch_items WHERE batch_id = ? AND status = "
                                                    "'pending' ORDER BY idx LIMIT ?", (batch_id, free + 1))]
            for it in pending[:free]:
                sent = _dispatch(store, batch, it, pool.least_busy([w for _, _, w in in_flight.values()]))
                if sent is None:
                    report(it["idx"])
                else:
                    in_flight[sent[0]] = (it["idx"], it["attempt"] + 1, sent[1])
            if not in_flight:
                if dispatching and not pending:
                    store.conn.execute("UPDATE batches SET status = 'done', finished_at = ? WHERE id = ? AND "
                                       "status = 'running'", (time.time(), batch_id))
                if not dispatching or not pending:
                    break
                continue
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.2)
            for ref in ready:
                idx, attempt, worker = in_flight.pop(ref)
                _collect(ray, store, batch, ref, idx, attempt, worker, pool)
                report(idx)
    finally:
        # stopped (Ctrl-C) with SKUs in flight: they go back to pending for --resume
        for idx, attempt, _ in in_flight.values():
            store.conn.execute("UPDATE batch_items SET status = 'pending' WHERE batch_id = ? AND idx = ? AND "
                               "attempt = ? AND status = 'running' AND job_id IS NULL", (batch_id, idx, attempt))
        pool.shutdown()
    summary = batch_summary(store, batch_id)
    if summary["status"] in ("done", "cancelled"):
        write_report(store, batch_id)
    return summary


def _dispatch(store: Store, batch: dict, item: dict, worker) -> tuple | None:
    """Send one SKU to `worker`: (its result's ref, the worker); None when it failed here
    (unreadable photo, budget) and is recorded so. What the batch leaves to the settings,
    the worker takes from this machine's (`HEAD_SETTINGS`)."""
    options = shoot_options(batch, item)
    try:
        if options["engine"] != "auto":  # `auto` is decided on the worker, by what it has
            check_budget(store, options["engine"], options["variants"] or load_settings().default_variants)
        photo = Path(item["photo"]).read_bytes()
        options = _portable(options)
    except (OSError, BudgetExceeded, ValueError) as exc:
        error = f"cannot read {item['photo']}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
        fail_item(store, batch["id"], item["idx"], error)
        return None
    store.conn.execute("UPDATE batch_items SET status = 'running', attempt = attempt + 1, node = NULL, error = NULL "
                       "WHERE batch_id = ? AND idx = ?", (batch["id"], item["idx"]))
    return worker.shoot.remote(photo, Path(item["photo"]).name, options), worker


def _portable(options: dict) -> dict:
    """Options a worker on another machine can use: the reference photo's bytes instead
    of its path here, and the seller's backdrop scene (TOML and photo) with them."""
    from studio.app.backdrops import scene_package

    out = dict(options)
    if isinstance(out.get("reference"), Path):
        out["reference"] = out["reference"].read_bytes()
    package = scene_package(out.get("scene") or load_settings().default_scene)
    if package is not None:
        out["scene_package"] = package
    return out


def _collect(ray, store: Store, batch: dict, ref, idx: int, attempt: int, worker, pool: WorkerPool) -> None:
    """Take one result: import it (once, for the item's current attempt) and write its
    files; or send the SKU again when its worker died."""
    from ray.exceptions import NodeDiedError, ObjectLostError, RayActorError, RayTaskError, WorkerCrashedError

    # every change below is to the item's current attempt only: a later one may be out
    current = "batch_id = ? AND idx = ? AND attempt = ? AND status = 'running' AND job_id IS NULL"
    key = (batch["id"], idx, attempt)

    def fail(error: str) -> None:
        store.conn.execute(f"UPDATE batch_items SET status = 'failed', error = ? WHERE {current}", (error, *key))

    try:
        result = ray.get(ref)
    except (RayActorError, WorkerCrashedError, NodeDiedError, ObjectLostError) as exc:
        pool.replace(worker)
        if attempt >= MAX_ATTEMPTS:
            fail(f"its worker died {attempt} times while shooting it: {_why(exc)}")
        else:
            store.conn.execute(f"UPDATE batch_items SET status = 'pending' WHERE {current}", key)
        return
    except RayTaskError as exc:  # a bug, not the photo: say what it was
        fail(f"the worker failed: {exc.cause!r}")
        return
    if result.get("version") != studio.__version__:
        fail(f"worker {result.get('node')} runs Studio {result.get('version')}, this machine {studio.__version__}: "
             "install the same version on every machine")
        return
    if "error" in result:
        fail(result["error"])
        return
    try:
        with store.tx() as conn:
            if conn.execute(f"SELECT 1 FROM batch_items WHERE {current}", key).fetchone():
                job_id = import_job(store, result["bundle"], node=result["node"])
                conn.execute("UPDATE batch_items SET job_id = ?, node = ? WHERE batch_id = ? AND idx = ?",
                             (job_id, result["node"], batch["id"], idx))
            else:
                return  # an attempt given up on, or the batch was cancelled: dropped
    except BundleError as exc:
        fail_item(store, batch["id"], idx, str(exc))
        return
    finish_item(store, batch, dict(store.one("SELECT * FROM batch_items WHERE batch_id = ? AND idx = ?",
                                             (batch["id"], idx))))


def continue_batch(store: Store, batch_id: str, **kwargs) -> dict:
    """Run a batch where it was started: a `--cluster` batch on its Ray cluster (Ray is
    imported only then), any other here; keyword arguments go to the runner."""
    cluster = loads(store.one("SELECT options FROM batches WHERE id = ?", (batch_id,))["options"]).get("cluster")
    if not cluster:
        return run_batch(store, batch_id, **kwargs)
    return run_batch_on_cluster(store, batch_id, address=cluster_address(cluster),
                                **{k: v for k, v in kwargs.items() if k in ("on_item", "stop", "workers")})
