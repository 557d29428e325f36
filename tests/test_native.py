"""The worker's native settings, measured in a fresh process (they change the whole process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_FAULTS = """
import json, resource, sys, threading
import numpy as np
from studio.pipeline import native
kept = native.keep_freed_memory() if sys.argv[1] == "keep" else None
def frame():  # a 2048² RGB float32 frame (50 MB), written through as a stage does
    a = np.empty((2048, 2048, 3), np.float32)
    a.fill(0.5)
    return float(a[::512, ::512].sum())
faults = []
def stage():  # in a thread of its own, as the worker runs stages
    frame()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        frame()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
for _ in range(2):
    t = threading.Thread(target=stage)
    t.start()
    t.join()
print(json.dumps({"kept": kept, "faults": sum(faults)}))
"""


def _faults(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _FAULTS, mode], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_frame_sized_images_reuse_freed_memory():
    """A 2048² float frame freed by one step of a stage's thread is reused by the next
    (and by the next stage's thread), not mapped from the OS and faulted in page by page again (12,288 faults per frame in 4 KB pages, at
    least 25 in 2 MB huge pages)."""
    plain = _faults("plain")
    kept = _faults("keep")
    if not kept["kept"]:
        pytest.skip("not glibc: its allocator's settings do not apply")
    assert plain["faults"] >= 160  # glibc's default: every new frame is fresh memory
    assert kept["faults"] < 40, kept
