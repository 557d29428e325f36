"""The job API under a burst: N clients submit one classic shoot each to
`POST /api/v1/shoots` at the same moment with one key (a real server on 127.0.0.1,
`studio serve` in its own process), then wait for every job to end.

    python bench/api.py [--bursts 100 1000] [--depth N] [--photo-px 480]

Prints per burst: answers (202 / 429 / other), transport errors (a reset or read error:
an answer lost; must be 0), submit latency p50/p99, time from the burst to all done,
shoots per minute, and the server's memory (resident) when 10, 100 and 1,000 jobs were
queued or running, and its peak. The shoot is a small one (one variant, 256 px canvas,
Instagram export) so that a 1,000 burst ends in minutes on 2 cores: the figures are
about the API and its queue, not the compositor.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PARAMS = {"scene": "white-marketplace", "variants": 1, "engine": "classic", "preset": "instagram", "long_side": 256}
MARKS = (10, 100, 1000)


def _photo(px: int) -> bytes:
    from PIL import Image

    from tests.synth import make_case

    rgb, _ = make_case("red-bottle-on-gradient", h=px * 3 // 4, w=px, seed=0)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory(pid: int) -> tuple[int, int]:
    """(resident, peak resident) of the server process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def _in_flight(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0]


def _ended(db: Path) -> tuple[int, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        done = conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'done'").fetchone()[0]
        other = conn.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('failed', 'cancelled')").fetchone()[0]
    return done, other


class Server:
    def __init__(self, home: Path, depth: int | None):
        self.home = home
        self.env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        made = subprocess.run([sys.executable, "-m", "studio", "api-key", "create", "bench", "--json"], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, check=True)
        self.key = json.loads(made.stdout)["key"]
        if depth is not None:
            (home / "settings.json").write_text(json.dumps({"api_queue_depth": depth}))
        self.port = _port()
        self.proc = subprocess.Popen([sys.executable, "-m", "studio", "serve", "--port", str(self.port),
                                      "--no-browser"], cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.db = next(home.rglob("*.db"), None)

    def wait_up(self) -> None:
        import httpx

        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        self.db = max(self.home.rglob("*.db"), key=lambda p: p.stat().st_size)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


async def _burst(server: Server, n: int, photo: bytes, memory: dict) -> dict:
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    errors, latencies, codes = [], [], {}
    start = asyncio.Event()

    async def one(client: httpx.AsyncClient, i: int) -> None:
        await start.wait()
        t0 = time.perf_counter()
        try:
            r = await client.post("/shoots", files={"photo": (f"sku-{i}.jpg", photo, "image/jpeg")},
                                  data={"params": json.dumps({**PARAMS, "seed": i})},
                                  headers={"Idempotency-Key": f"burst-{n}-{i}"})
        except httpx.TransportError as exc:
            errors.append(repr(exc))
            return
        latencies.append(time.perf_counter() - t0)
        codes[r.status_code] = codes.get(r.status_code, 0) + 1

    async def watch() -> None:  # the server's memory as the queue fills
        while True:
            queued = _in_flight(server.db)
            rss, _ = _memory(server.proc.pid)
            for mark in MARKS:
                if queued >= mark and mark not in memory:
                    memory[mark] = (queued, rss)
            if queued > memory.get("most", (0, 0))[0]:
                memory["most"] = (queued, rss)
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=server.base, headers={"Authorization": f"Bearer {server.key}"},
                                 timeout=600, limits=limits) as client:
        tasks = [asyncio.create_task(one(client, i)) for i in range(n)]
        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        submitted = time.perf_counter() - t0
        accepted = codes.get(202, 0)
        while True:
            done, other = _ended(server.db)
            if done + other >= accepted:
                break
            await asyncio.sleep(0.5)
        all_done = time.perf_counter() - t0
        watcher.cancel()
    lat = sorted(x * 1000 for x in latencies)
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")  # noqa: E731
    return {"n": n, "codes": codes, "errors": errors, "p50": pick(0.5), "p99": pick(0.99), "submitted": submitted,
            "all_done": all_done, "done": done, "failed": other, "per_min": 60 * done / all_done}


QUEUED_ONLY = """
import os, sys, tempfile
from pathlib import Path
from studio.app.context import open_store
from studio.app.shoot import submit_shoot
photo, params = Path(sys.argv[1]), __import__("json").loads(sys.argv[2])
store = open_store()
def rss():
    return next(int(l.split()[1]) // 1024 for l in open("/proc/self/status") if l.startswith("VmRSS"))
made, out = 0, [rss()]
for mark in (10, 100, 1000):
    while made < mark:
        submit_shoot(store, photo, seed=made, **params)
        made += 1
    out.append(rss())
print(*out)
"""


def queued_memory(photo: bytes) -> list[int]:
    """A process's resident MB with the store open, then with 10, 100 and 1,000 shoots
    queued through the app layer (what a submission leaves behind), and no worker."""
    home = Path(tempfile.mkdtemp(prefix="studio-bench-api-"))
    (home / "p.jpg").write_bytes(photo)
    env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", QUEUED_ONLY, str(home / "p.jpg"), json.dumps(PARAMS)], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=True)
    return [int(x) for x in done.stdout.split()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bursts", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--depth", type=int, default=None, help="api_queue_depth (default: the settings' default)")
    ap.add_argument("--photo-px", type=int, default=480, help="the photo's long side")
    args = ap.parse_args()
    photo = _photo(args.photo_px)
    print(f"{os.cpu_count()} CPUs; photo {len(photo) // 1024} KB; shoot {PARAMS}")
    base, *marks = queued_memory(photo)
    print(f"queued jobs alone (no worker): {base} MB with the store open; "
          + ", ".join(f"{m} queued: {mb} MB" for m, mb in zip(MARKS, marks, strict=True)), flush=True)
    for n in args.bursts:
        home = Path(tempfile.mkdtemp(prefix="studio-bench-api-"))
        server = Server(home, args.depth)
        try:
            server.wait_up()
            idle, _ = _memory(server.proc.pid)
            memory: dict = {}
            r = asyncio.run(_burst(server, n, photo, memory))
            rss, peak = _memory(server.proc.pid)
        finally:
            server.stop()
        print(f"burst of {n}: answers {r['codes']}, transport errors {len(r['errors'])} {r['errors'][:3]}")
        print(f"  submit latency p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms; all answered in {r['submitted']:.1f} s")
        print(f"  all done in {r['all_done']:.1f} s ({r['done']} done, {r['failed']} failed) → "
              f"{r['per_min']:.1f} shoots/min")
        most = memory.pop("most", (0, 0))
        marks = ", ".join(f"{m} queued (saw {q}): {mb} MB" for m, (q, mb) in sorted(memory.items()))
        marks += f"; most queued {most[0]}: {most[1]} MB"
        print(f"  server memory: idle {idle} MB; {marks}; at the end {rss} MB; peak {peak} MB", flush=True)


if __name__ == "__main__":
    main()
