"""Real (cheap, CPU) stages and recipes for the engine tests and bench/engine.py.
Importable by child processes, so the crash test runs the same code."""

from __future__ import annotations

import collections
import threading
import time

import numpy as np

from studio.pipeline.registry import Node, Registry
from studio.pipeline.stage import Rejected, RetryPolicy, Stage, StageContext

REGISTRY = Registry()
EXECUTIONS: collections.Counter = collections.Counter()
CONCURRENCY = {"cpu": 0, "gpu": 0, "max_cpu": 0, "max_gpu": 0}
_lock = threading.Lock()


def counted(name: str):
    with _lock:
        EXECUTIONS[name] += 1


def track(device: str, delta: int) -> None:
    with _lock:
        CONCURRENCY[device] += delta
        CONCURRENCY[f"max_{device}"] = max(CONCURRENCY[f"max_{device}"], CONCURRENCY[device])


def load(ctx: StageContext) -> dict:
    counted("load")
    rng = np.random.default_rng(ctx.params.get("seed", 0))
    return {"image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)}


def blur(ctx: StageContext, image: np.ndarray) -> dict:
    counted("blur")
    k = ctx.params.get("strength", 1)
    out = image.astype(np.float32)
    for _ in range(k):
        out = (out + np.roll(out, 1, 0) + np.roll(out, 1, 1)) / 3
    return {"image": out.astype(np.uint8)}


def variant(ctx: StageContext, image: np.ndarray) -> dict:
    counted("variant")
    i = ctx.params["index"]
    time.sleep(ctx.params.get("variant_sleep", 0))
    out = (image.astype(np.int32) + 17 * (i + 1)) % 256
    if ctx.params.get("price"):
        ctx.charge(ctx.params["price"], provider="test", note=f"variant {i}")
    ctx.store.conn.execute(
        "INSERT INTO variants(job_id, idx, seed, data) VALUES (?, ?, ?, '{}') "
        "ON CONFLICT(job_id, idx) DO UPDATE SET seed = excluded.seed", (ctx.job_id, i, i))
    ctx.progress(1.0, "variant made")
    return {"image": out.astype(np.uint8), "index": i}


def pick(ctx: StageContext, variants: list) -> dict:
    counted("pick")
    best = max(variants, key=lambda v: int(v["image"].sum()))
    return {"best": best["index"]}


def wait_barrier(ctx: StageContext) -> dict:
    """Passes only when `parties` of these run at the same time."""
    track("cpu", 1)
    try:
        BARRIERS[ctx.params["barrier"]].wait(timeout=10)
    finally:
        track("cpu", -1)
    return {"ok": True}


BARRIERS: dict[str, threading.Barrier] = {}


def gpu_work(ctx: StageContext) -> dict:
    track("gpu", 1)
    try:
        time.sleep(0.05)
    finally:
        track("gpu", -1)
    return {"ok": True}


def flaky(ctx: StageContext) -> dict:
    counted("flaky")
    seed = ctx.params["seed"]
    if seed % 3 != 0:
        raise Rejected(f"seed {seed} is not good enough")
    return {"seed": seed}


def sleepy(ctx: StageContext) -> dict:
    end = time.monotonic() + ctx.params.get("sleep", 10)
    while time.monotonic() < end:
        ctx.check_cancelled()
        time.sleep(0.02)
    return {"ok": True}


def ask(ctx: StageContext, image: np.ndarray) -> dict:
    edit = ctx.require_input("mask", {"hint": "paint the product"})
    return {"mask_value": edit["value"], "shape": list(image.shape)}


def broken(ctx: StageContext) -> dict:
    counted("broken")
    if not ctx.params.get("fixed"):
        raise ValueError("disk on fire")
    return {"ok": True}


for stage in [
    Stage("load", load, outputs=("image",)),
    Stage("blur", blur, inputs=("image",), outputs=("image",)),
    Stage("variant", variant, inputs=("image",), outputs=("image", "index")),
    Stage("pick", pick, inputs=("variants",), outputs=("best",)),
    Stage("barrier", wait_barrier, outputs=("ok",)),
    Stage("gpu_work", gpu_work, outputs=("ok",), device="gpu"),
    Stage("flaky", flaky, outputs=("seed",),
          retry=RetryPolicy(max_attempts=4, adjust=lambda p, attempt, exc: {**p, "seed": p["seed"] + 1})),
    Stage("sleepy", sleepy, outputs=("ok",), timeout_s=0.3, retry=RetryPolicy(max_attempts=2)),
    Stage("sleepy_no_timeout", sleepy, outputs=("ok",)),
    Stage("ask", ask, inputs=("image",), outputs=("mask_value", "shape")),
    Stage("broken", broken, outputs=("ok",)),
    Stage("noop", lambda ctx: {}, outputs=()),
]:
    REGISTRY.stage(stage)


@REGISTRY.recipe("chain")
def chain(params: dict) -> list[Node]:
    n = params.get("variants", 3)
    nodes = [Node("load", "load"), Node("blur", "blur", {"image": "load.image"})]
    nodes += [Node(f"variant[{i}]", "variant", {"image": "blur.image"}, {"index": i}) for i in range(n)]
    # "pick" takes the list of every variant's outputs: declared as one dep per variant
    nodes.append(Node("pick", "pick_all", {f"v{i}": f"variant[{i}].image" for i in range(n)}
                      | {f"i{i}": f"variant[{i}].index" for i in range(n)}))
    return nodes


def pick_all(ctx: StageContext, **kw) -> dict:
    n = len([k for k in kw if k.startswith("v")])
    return pick(ctx, [{"image": kw[f"v{i}"], "index": kw[f"i{i}"]} for i in range(n)])


REGISTRY.stage(Stage("pick_all", pick_all, outputs=("best",)))


def single(stage: str):
    REGISTRY.recipes[stage] = lambda params: [Node(stage, stage)]


for name in ("flaky", "sleepy", "sleepy_no_timeout", "broken", "noop", "gpu_work"):
    single(name)


@REGISTRY.recipe("pair")
def pair(params: dict) -> list[Node]:
    return [Node("a", "barrier", params={"barrier": params["barrier"]}),
            Node("b", "barrier", params={"barrier": params["barrier"]})]


@REGISTRY.recipe("ask")
def ask_recipe(params: dict) -> list[Node]:
    return [Node("load", "load"), Node("ask", "ask", {"image": "load.image"})]


@REGISTRY.recipe("noop_chain")
def noop_chain(params: dict) -> list[Node]:
    n = params.get("stages", 3)
    return [Node(f"s{i}", "noop_link", {"x": f"s{i - 1}.x"} if i else {}) for i in range(n)]


REGISTRY.stage(Stage("noop_link", lambda ctx, x=None: {"x": 0}, outputs=("x",)))


# The crash test's kills come from outside, not from a stage: the poison-pill limit
# (a stage that keeps killing its worker is failed) must not mistake them for that.
EXTERNAL_KILLS_MAX_CRASHES = 10_000


def run_worker(root: str, lease_s: float) -> None:
    """Entry point for a child process: work until nothing is left."""
    from studio.pipeline.ledger import Ledger
    from studio.pipeline.worker import Worker
    from studio.store import Store

    store = Store(root)
    Worker(store, REGISTRY, Ledger(store, budget=100.0), lease_s=lease_s, poll_s=0.05,
           max_crashes=EXTERNAL_KILLS_MAX_CRASHES).run_until(None)
