"""Native thread pools sized to the worker's CPU slots."""

from __future__ import annotations

import os


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
