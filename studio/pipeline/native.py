"""How the worker's process uses its native libraries: thread pools sized to the
CPU slots, and glibc's heap kept warm between stages and handed back between jobs."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -3, -4, -8  # glibc's mallopt parameters
_MMAP_THRESHOLD_MAX = 32 * 1024**2  # the most glibc accepts on 64-bit systems


def share_cores(cpu_slots: int) -> int:
    """Give each CPU slot its share of the cores in the native pools (OpenBLAS under
    numpy, OpenCV) and return that share.

    The worker already runs stages side by side, one per CPU slot. Pools that also
    spread every call over every core only make those stages wait on each other, and
    OpenBLAS's idle threads spin while they wait: on two cores that cost a shoot a
    fifth of its CPU. Torch is left alone; a model backend imports it later and sizes
    its own pool."""
    import cv2
    from threadpoolctl import threadpool_limits

    share = max(1, (os.cpu_count() or 1) // max(1, cpu_slots))
    cv2.setNumThreads(share)
    threadpool_limits(share, user_api="blas")  # not a `with`: the limit stays
    return share


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    if not name:
        return None
    with contextlib.suppress(OSError):
        return ctypes.CDLL(name)
    return None


def keep_freed_memory() -> bool:
    """Let glibc reuse freed stage images instead of returning them to the OS at once.

    A stage's working images (a 2048² float frame is 50 MB) are allocated and freed
    many times a shoot. By default glibc maps blocks that size straight from the OS
    and unmaps them on free, so each new one is faulted in page by page again; that
    was a tenth of a shoot's CPU at 2 MP frames and a third of the classic compositor's
    at 2048² (frame first). glibc will not raise its mapping threshold past 32 MB, so
    blocks are never mapped apart (`M_MMAP_MAX` 0), and the stage threads share the main
    heap (`M_ARENA_MAX` 1: a thread's own arena lives in 64 MB heaps that are unmapped
    as soon as they are empty, so a frame there was fresh memory every time; stages
    allocate big blocks rarely, so sharing one lock costs nothing). That heap is trimmed
    only past 1 GB of free space (and after each batch SKU, by `give_back_memory`).
    Call it before the worker's threads start. Not glibc: nothing to do."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return (bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(libc.mallopt(_M_MMAP_MAX, 0))
            and bool(libc.mallopt(_M_ARENA_MAX, 1)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1024**3)))


def give_back_memory() -> None:
    """Hand freed heap pages back to the OS (between batch SKUs): glibc keeps them per
    thread arena otherwise, and RSS creeps up over a night's batch."""
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(AttributeError):
            libc.malloc_trim(0)
