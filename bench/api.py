"""The job API's overhead: the same classic shoots through `POST /api/v1/shoots` (a real
server on 127.0.0.1, polled until every job ends) and through `studio shoot` (one
process, every photo on its command line).

    python bench/api.py [--jobs 50]

Prints the submit latency (median, p95, max) and jobs per minute both ways; the API's
should be within 5% of the CLI's.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PARAMS = {"scene": "white-marketplace", "variants": 1, "engine": "classic", "preset": "shopify", "long_side": 768}


def _photos(n: int, folder: Path) -> list[Path]:
    from PIL import Image

    from tests.synth import make_case

    paths = []
    for i in range(n):
        rgb, _ = make_case("red-bottle-on-gradient", h=768, w=1024, seed=i)
        paths.append(folder / f"p{i:03d}.jpg")
        Image.fromarray(rgb).save(paths[-1], quality=90)
    return paths


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def through_cli(photos: list[Path], home: Path) -> float:
    env = {**os.environ, "STUDIO_HOME": str(home)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "studio", "shoot", *map(str, photos), "--scene", PARAMS["scene"], "--variants", "1",
           "--engine", "classic", "--preset", "shopify", "--long-side", str(PARAMS["long_side"]), "--backend", "auto",
           "--out", str(home / "out"), "--json"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    assert all(r["status"] == "done" for r in json.loads(done.stdout))
    return wall


def through_api(photos: list[Path], home: Path) -> tuple[float, list[float]]:
    import httpx

    env = {**os.environ, "STUDIO_HOME": str(home)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    key = json.loads(subprocess.run([sys.executable, "-m", "studio", "api-key", "create", "bench", "--json"],
                                    cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout)["key"]
    settings = home / "settings.json"
    settings.write_text(json.dumps({"api_max_in_flight": len(photos)}))
    port = _port()
    server = subprocess.Popen([sys.executable, "-m", "studio", "serve", "--port", str(port), "--no-browser"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        latencies, ids = [], []
        t0 = time.perf_counter()
        for p in photos:
            s = time.perf_counter()
            r = client.post("/shoots", files={"photo": (p.name, p.read_bytes(), "image/jpeg")},
                            data={"params": json.dumps(PARAMS)})
            latencies.append(time.perf_counter() - s)
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        # as a client polling many jobs would: the list, a few times a second
        pending = set(ids)
        while pending:
            for job in client.get("/jobs", params={"limit": len(ids)}).json()["jobs"]:
                if job["id"] in pending and job["status"] in ("done", "failed", "cancelled"):
                    assert job["status"] == "done", job
                    pending.discard(job["id"])
            time.sleep(0.25)
        return time.perf_counter() - t0, latencies
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=50)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="studio-bench-api-"))
    photos = _photos(args.jobs, folder)
    cli = through_cli(photos, folder / "cli-home")
    api, lat = through_api(photos, folder / "api-home")
    lat_ms = sorted(x * 1000 for x in lat)
    print(f"{args.jobs} classic shoots (1 MP photo, 1 variant, 768 px canvas, Shopify export), {os.cpu_count()} CPUs")
    print(f"  submit latency through the API: median {statistics.median(lat_ms):.0f} ms, "
          f"p95 {lat_ms[int(0.95 * (len(lat_ms) - 1))]:.0f} ms, max {lat_ms[-1]:.0f} ms")
    print(f"  CLI: {cli:.1f} s → {60 * args.jobs / cli:.1f} jobs/min (one process, start included)")
    print(f"  API: {api:.1f} s → {60 * args.jobs / api:.1f} jobs/min (first submit to last job done)")
    print(f"  API overhead vs CLI: {100 * (api / cli - 1):+.1f}% (target within 5%)")


if __name__ == "__main__":
    main()
