"""The job API (/api/v1), driven with httpx against a real server on 127.0.0.1: the
page's server with the API mounted and its worker running the jobs."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from studio.api import keys
from tests.synth import make_case

ROOT = Path(__file__).resolve().parent.parent
CLASSIC = {"scene": "white-marketplace", "variants": 2, "engine": "classic", "preset": "shopify", "long_side": 512}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photo_bytes(seed: int = 0) -> bytes:
    rgb, _ = make_case("red-bottle-on-gradient", h=360, w=480, seed=seed)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def settings(**values) -> None:
    from studio.config import load_settings, save_settings

    s = load_settings()
    for k, v in values.items():
        setattr(s, k, v)
    save_settings(s)


@pytest.fixture
def server(studio_home):
    from studio.app.context import open_store
    from studio.ui.serve import launch

    port = free_port()
    app = launch(port=port, block=False)
    key_id, key, secret = keys.create(open_store(), "test shop")
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", headers={"Authorization": f"Bearer {key}"},
                          timeout=30)
    yield client, key_id, secret
    client.close()
    app.close()  # and its worker


def submit(client: httpx.Client, params: dict | None = None, seed: int = 0, **kw) -> httpx.Response:
    return client.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(seed), "image/jpeg")},
                       data={"params": json.dumps(params if params is not None else CLASSIC)}, **kw)


def wait(client: httpx.Client, job_id: str, until=("done", "failed", "cancelled"), timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in until or (job.get("waiting_for_review") and "waiting" in until):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']}")


def test_submit_answers_at_once_then_poll_and_download(server):
    client, _, _ = server
    r = submit(client)
    assert r.status_code == 202, r.text
    body = r.json()
    job_id = body["id"]
    assert body["status"] in ("queued", "running")  # answered before the job ran
    assert body["links"]["self"] == f"/api/v1/jobs/{job_id}" and r.headers["location"] == body["links"]["self"]
    job = wait(client, job_id)
    assert job["status"] == "done" and job["progress"] == 1.0
    assert len(job["variants"]) == 2 and {v["rank"] for v in job["variants"]} == {1, 2}
    assert all(v["verdict"]["passed"] for v in job["variants"])
    for v in job["variants"]:
        f = client.get(v["file"].removeprefix("/api/v1"))
        assert f.status_code == 200 and f.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(f.content)).size == (2048, 2048)
    listed = client.get("/jobs", params={"status": "done"}).json()["jobs"]
    assert [j["id"] for j in listed] == [job_id]


def test_cutout_job_and_its_png(server):
    client, _, _ = server
    r = client.post("/cutouts", files={"photo": ("bottle.jpg", photo_bytes(), "image/jpeg")},
                    data={"params": json.dumps({"backend": "classic"})})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["id"])
    assert job["status"] == "done" and len(job["files"]) == 1
    png = Image.open(io.BytesIO(client.get(job["files"][0].removeprefix("/api/v1")).content))
    assert png.mode == "RGBA" and png.size == (480, 360)


def test_keys_are_needed_and_revoked_keys_stop_working(server):
    client, key_id, _ = server
    base = str(client.base_url).rstrip("/")
    assert httpx.get(f"{base}/jobs").status_code == 401  # no key, even from this computer
    assert httpx.get(f"{base}/jobs", headers={"Authorization": "Bearer sk_studio_nope"}).status_code == 401
    assert client.get("/jobs").status_code == 200
    assert httpx.get(f"{base}/health").json()["ok"]
    from studio.app.context import open_store

    assert keys.revoke(open_store(), key_id)
    r = client.get("/jobs")
    assert r.status_code == 401 and "revoked" in r.json()["error"]


def test_bad_params_are_refused_with_the_field_named(server):
    client, _, _ = server
    cases = [({**CLASSIC, "scene": "moon"}, "scene"), ({**CLASSIC, "variants": "four"}, "variants"),
             ({**CLASSIC, "colour": "red"}, "colour"), ({**CLASSIC, "preset": "nope"}, "preset"),
             ({**CLASSIC, "callback_url": "ftp://example.com/x"}, "callback_url")]
    for params, field in cases:
        r = submit(client, params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["field"] == field, r.json()
    r = client.post("/shoots", files={"photo": ("x.jpg", b"not an image", "image/jpeg")})
    assert r.status_code == 422 and r.json()["field"] == "photo"
    assert client.get("/jobs").json()["jobs"] == []  # nothing was queued


def test_idempotency_key_returns_the_same_job(server):
    import tempfile

    client, _, _ = server
    uploads = set(Path(tempfile.gettempdir()).glob("studio-api-*"))
    first = submit(client, headers={"Idempotency-Key": "order-42"})
    again = submit(client, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"]
    other = submit(client, {**CLASSIC, "seed": 7}, headers={"Idempotency-Key": "order-42"})
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"
    assert len(client.get("/jobs").json()["jobs"]) == 1
    assert set(Path(tempfile.gettempdir()).glob("studio-api-*")) <= uploads  # no upload left behind, replayed or not


def test_cancel_then_retry(server):
    client, _, _ = server
    job_id = submit(client, {**CLASSIC, "variants": 8, "long_side": 1536}).json()["id"]
    r = client.post(f"/jobs/{job_id}/cancel")
    assert r.status_code == 200
    job = wait(client, job_id)
    assert job["status"] == "cancelled"
    r = client.post(f"/jobs/{job_id}/retry")
    assert r.status_code == 200 and r.json()["status"] in ("queued", "running")
    assert wait(client, job_id, timeout=120)["status"] == "done"


def test_too_many_jobs_in_flight_is_429(server):
    client, _, _ = server
    settings(api_queue_depth=1)
    first = submit(client, {**CLASSIC, "variants": 8, "long_side": 1536})
    second = submit(client, seed=1)
    assert first.status_code == 202
    assert second.status_code == 429 and int(second.headers["retry-after"]) > 0
    wait(client, first.json()["id"], timeout=120)
    assert submit(client, seed=1).status_code == 202  # room again


def test_a_job_of_another_key_is_not_there(server):
    client, _, _ = server
    job_id = submit(client).json()["id"]
    from studio.app.context import open_store

    _, other, _ = keys.create(open_store(), "someone else")
    stranger = httpx.Client(base_url=client.base_url, headers={"Authorization": f"Bearer {other}"})
    assert stranger.get(f"/jobs/{job_id}").status_code == 404
    assert stranger.post(f"/jobs/{job_id}/cancel").status_code == 404
    assert stranger.get(f"/jobs/{job_id}/files/bottle_0.jpg").status_code == 404
    wait(client, job_id)
    assert client.get(f"/jobs/{job_id}/files/../../settings.json").status_code == 404


class _Receiver(BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((dict(self.headers), body))
        # the first delivery fails: the server must try again
        self.send_response(500 if len(type(self).got) == 1 else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_is_signed_retried_and_recorded(server):
    client, _, secret = server
    _Receiver.got = []
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_port}/hook"
    try:
        r = submit(client, {**CLASSIC, "callback_url": url})
        assert r.status_code == 422 and r.json()["field"] == "callback_url"  # loopback: refused by default
        settings(api_private_callbacks=True)
        job_id = submit(client, {**CLASSIC, "callback_url": url}).json()["id"]
        wait(client, job_id)
        end = time.monotonic() + 20
        while len(_Receiver.got) < 2 and time.monotonic() < end:
            time.sleep(0.1)
        assert len(_Receiver.got) == 2
        headers, body = _Receiver.got[-1]
        # signed over timestamp.delivery.body, as the README tells receivers to check it
        signed = f"{headers['X-Studio-Timestamp']}.{headers['X-Studio-Delivery']}.".encode() + body
        want = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Studio-Signature"], want)
        assert abs(int(headers["X-Studio-Timestamp"]) - time.time()) < 60
        # the retry is the same delivery (a receiver dedupes by its id), freshly timestamped and signed
        assert _Receiver.got[0][0]["X-Studio-Delivery"] == headers["X-Studio-Delivery"]
        bare = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Studio-Signature"] != bare  # the body alone would let a capture be replayed
        payload = json.loads(body)
        assert payload["id"] == job_id and payload["status"] == "done" and len(payload["variants"]) == 2
        time.sleep(0.3)
        attempts = client.get(f"/jobs/{job_id}").json()["webhooks"]
        assert [(a["attempt"], a["http_status"]) for a in attempts] == [(1, 500), (2, 200)]
    finally:
        receiver.shutdown()


def test_the_key_never_reaches_history_or_errors(server):
    client, _, _ = server
    token = client.headers["authorization"].removeprefix("Bearer ")
    job_id = submit(client).json()["id"]
    wait(client, job_id)
    from studio.app.context import open_store

    store = open_store()
    for table in ("jobs", "stage_runs", "api_keys", "api_jobs"):
        assert token not in json.dumps([dict(r) for r in store.query(f"SELECT * FROM {table}")])
    assert token not in client.get(f"/jobs/{job_id}").text


def test_a_server_killed_mid_job_takes_it_up_again(studio_home):
    """The server process is killed (SIGKILL) while a job runs; started again, its worker
    takes the job up at once and the job's id still answers."""
    from studio.app.context import open_store

    _, key, _ = keys.create(open_store(), "restart")
    port = free_port()
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "studio", "serve", "--port", str(port), "--no-browser"]
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {key}"}

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.2)
        proc.kill()
        raise AssertionError("the server did not start")

    proc = start()
    try:
        client = httpx.Client(base_url=base, headers=headers, timeout=30)
        job_id = submit(client, {**CLASSIC, "variants": 8, "long_side": 1536}).json()["id"]
        end = time.monotonic() + 60
        while client.get(f"/jobs/{job_id}").json()["status"] != "running" and time.monotonic() < end:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc = start()
        client = httpx.Client(base_url=base, headers=headers, timeout=30)
        job = wait(client, job_id, timeout=120)
        assert job["status"] == "done" and len(job["variants"]) == 8
    finally:
        proc.kill()
        proc.wait(10)


def test_openapi_schema_lists_the_routes(server):
    client, _, _ = server
    paths = httpx.get(str(client.base_url).rstrip("/") + "/openapi.json").json()["paths"]
    for p in ("/shoots", "/cutouts", "/jobs", "/jobs/{job_id}", "/jobs/{job_id}/files/{name}",
              "/jobs/{job_id}/cancel", "/jobs/{job_id}/retry", "/jobs/{job_id}/review", "/scenes", "/models",
              "/health"):
        assert p in paths, p
    assert np.isfinite(len(paths))


def test_a_batch_of_photos_becomes_a_job_each(server):
    client, _, _ = server
    files = [("photos", (f"p{i}.jpg", photo_bytes(i), "image/jpeg")) for i in range(3)]
    r = client.post("/batches", files=files, data={"params": json.dumps({**CLASSIC, "variants": 1})})
    assert r.status_code == 202, r.text
    ids = [j["id"] for j in r.json()["jobs"]]
    assert len(set(ids)) == 3
    assert all(wait(client, i)["status"] == "done" for i in ids)


def test_keys_made_and_revoked_on_the_settings_tab_work_on_the_api(server):
    from gradio_client import Client

    client, _, _ = server
    root = str(client.base_url).removesuffix("/api/v1/").removesuffix("/api/v1")
    page = Client(root + "/", verbose=False)
    msg, key, grid = page.predict("spreadsheet macro", api_name="/create_api_key")
    assert key.startswith(keys.PREFIX) and "shown this once" in msg
    key_id = next(r for r in grid["data"] if r[1] == "spreadsheet macro")[0]
    api = httpx.Client(base_url=client.base_url, headers={"Authorization": f"Bearer {key}"})
    assert api.get("/jobs").status_code == 200
    assert key not in json.dumps(grid)  # the table never shows keys
    page.predict(key_id, api_name="/revoke_api_key")
    assert api.get("/jobs").status_code == 401


def test_an_upload_over_the_limit_is_413_and_queues_nothing(server):
    from studio.config import load_settings, save_settings

    client, _, _ = server
    s = load_settings()
    s.limits.max_upload_bytes = 10_000
    save_settings(s)
    r = submit(client)
    assert r.status_code == 413 and r.json()["field"] == "photo"
    assert client.get("/jobs").json()["jobs"] == []


def test_an_upload_named_like_a_path_is_only_a_name(server):
    client, _, _ = server
    r = client.post("/shoots", files={"photo": ("", photo_bytes(), "image/jpeg")})  # no name: not a file part
    assert r.status_code == 422 and r.json()["field"] == "photo" and len(r.text) < 300  # the bytes are not echoed
    for name in ("..", "../../etc/passwd", "/abs/bottle.jpg"):
        r = client.post("/shoots", files={"photo": (name, photo_bytes(), "image/jpeg")},
                        data={"params": json.dumps(CLASSIC)})
        assert r.status_code == 202, (name, r.text)
        job = wait(client, r.json()["id"])
        assert job["status"] == "done"
        assert all("/" not in f.removeprefix(f"/api/v1/jobs/{job['id']}/files/") for f in job["files"])


def test_clips_of_a_shoot_and_with_a_shoot(server):
    from studio.clips.encode import probe

    client, _, _ = server
    shoot = wait(client, submit(client).json()["id"])
    assert shoot["status"] == "done"
    r = client.post(f"/jobs/{shoot['id']}/clips", json={"preset": "square", "seconds": 4, "fps": 24})
    assert r.status_code == 202, r.text
    clip = wait(client, r.json()["id"], timeout=120)
    assert clip["status"] == "done" and clip["clip"]["report"]["ok"]
    assert clip["clip"]["settings"] | {"seed": 0} == clip["clip"]["settings"]  # the seed is recorded
    video = client.get(clip["clip"]["file"].removeprefix("/api/v1"))
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    path = Path(os.environ["STUDIO_HOME"]) / "got.mp4"
    path.write_bytes(video.content)
    info = probe(path)
    assert (info["codec"], info["width"], info["height"], info["fps"]) == ("h264", 1080, 1080, 24.0)
    # refused with the field named: no such preset; and not a job of this key's to clip
    bad = client.post(f"/jobs/{shoot['id']}/clips", json={"preset": "square", "seconds": 20})
    assert bad.status_code == 422 and bad.json() == {"error": "seconds must be at most 8", "field": "seconds"}
    assert client.post("/jobs/nope/clips", json={}).status_code == 404
    # a shoot that makes its clip too
    both = wait(client, submit(client, {**CLASSIC, "variants": 1, "clip": "reels"}).json()["id"], timeout=120)
    assert both["status"] == "done" and both["clip"]["settings"]["preset"] == "reels"
    assert any(f.endswith("_reels.mp4") for f in both["files"])
