"""What runs on a cluster node: one worker holds scratch stores and the models it has
loaded, and shoots a few SKUs at a time with the same app functions a local batch uses
(`submit_shoot`, then the engine's worker runs the stages). A plain class: the head
wraps it with `ray.remote`, so this module never imports Ray."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any

from studio.paths import safe_name


class ShootWorker:
    """`slots` SKUs at a time (Ray runs a threaded actor's calls on that many threads),
    each in a scratch store of its own, sharing the models this process has loaded."""

    def __init__(self, slots: int = 1, settings: dict | None = None) -> None:
        from studio.config import override_settings
        from studio.store import Store

        if settings:  # the head's: what may be used and what makes a shot are the batch's, not this machine's
            override_settings(settings)

        # scratch data dirs of this worker's own: the node's real history is not touched,
        # and after each SKU a slot's store is emptied, so all its artifacts are that SKU's.
        # In memory where the system has a RAM disk: they live for seconds.
        shm = Path("/dev/shm")
        base = (shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())) / "studio-workers"
        _remove_dead_workers(base)
        self.root = base / str(os.getpid())
        shutil.rmtree(self.root, ignore_errors=True)
        self.free: queue.Queue = queue.Queue()
        for i in range(max(1, slots)):
            self.free.put(Store(self.root / f"slot{i}"))
        self.node = socket.gethostname()

    def shoot(self, photo: bytes, photo_name: str, options: dict[str, Any]) -> dict[str, Any]:
        """Shoot one photo: {"bundle": the job as a transfer bundle} or {"error": why the
        photo or the options cannot be shot} (what a local batch records as the item's
        error), with this worker's node and Studio version."""
        import studio

        return {"node": self.node, "version": studio.__version__, **self._shoot(photo, photo_name, options)}

    def _shoot(self, photo: bytes, photo_name: str, options: dict[str, Any]) -> dict[str, Any]:
        from studio.app.context import run_jobs
        from studio.app.shoot import submit_shoot
        from studio.imaging.io import IngestError
        from studio.pipeline.transfer import export_job

        folder = self.root / "in" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        # the photo keeps its own name (the job's title and photo name say it), never a path
        path = folder / (Path(photo_name).name if Path(photo_name).name not in ("", ".", "..") else
                         safe_name(photo_name) or "photo")
        store = self.free.get()
        try:
            path.write_bytes(photo)
            try:
                options = dict(options)
                package = options.pop("scene_package", None)
                if package is not None:  # the seller's backdrop scene, from the head
                    from studio.app.backdrops import install_package

                    install_package(package)
                job = submit_shoot(store, path, **options)
            except (IngestError, OSError, ValueError) as exc:
                return {"error": exc.message if isinstance(exc, IngestError) else str(exc)}
            run_jobs([job], store=store)
            return {"bundle": export_job(store, job)}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            _empty(store)
            self.free.put(store)

    @property
    def store(self):
        """The first slot's store (what a one-slot worker uses), for tests and tools."""
        store = self.free.get()
        self.free.put(store)
        return store


def _empty(store) -> None:
    with store.tx() as conn:
        for table in ("jobs", "ledger", "artifacts"):
            conn.execute(f"DELETE FROM {table}")  # stage runs, variants and inputs go with their job
    for sub in store.artifacts.root.iterdir():
        shutil.rmtree(sub, ignore_errors=True)


def _remove_dead_workers(base: Path) -> None:
    """Scratch folders of workers whose process is gone (killed: nothing cleaned up)."""
    for folder in base.glob("*") if base.is_dir() else []:
        try:
            os.kill(int(folder.name), 0)
        except ValueError:
            continue
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's live process
