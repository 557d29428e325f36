"""The job API under load, on loopback: a burst of clients with one key gets every
answer (no reset, no read error), each shoot is made once and announced as it ends;
refusals reach their clients, whether the body was sent, too big to read, or held
back by `Expect: 100-continue`; a full queue says when to come back."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.test_api import photo_bytes, server, settings  # noqa: F401 (the fixture)

# the cheapest real shoot: one variant on a small canvas, the smallest preset
SMALL = {"scene": "white-marketplace", "variants": 1, "engine": "classic", "preset": "instagram", "long_side": 256}


class _Hooks(BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture
def hooks():
    _Hooks.got = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{receiver.server_address[1]}/hook", _Hooks.got
    receiver.shutdown()


def burst(client: httpx.Client, n: int, params: dict, tag: str) -> tuple[list[httpx.Response], list[str]]:
    """`n` clients at once, each on its own connection, one shoot each: their answers
    and the transport errors (a reset, a read error: an answer lost)."""
    token = client.headers["authorization"]
    photo = photo_bytes()
    start = threading.Barrier(n)
    errors: list[str] = []

    def one(i: int) -> httpx.Response | None:
        with httpx.Client(base_url=client.base_url, headers={"Authorization": token}, timeout=120) as c:
            start.wait()
            try:
                return c.post("/shoots", files={"photo": (f"sku-{i}.jpg", photo, "image/jpeg")},
                              data={"params": json.dumps({**params, "seed": i})},
                              headers={"Idempotency-Key": f"{tag}-{i}"})
            except httpx.TransportError as exc:
                errors.append(f"{i}: {exc!r}")
                return None

    with ThreadPoolExecutor(n) as pool:
        answers = [a for a in pool.map(one, range(n)) if a is not None]
    return answers, errors


def all_ended(client: httpx.Client, ids: set[str], timeout: float) -> dict[str, str]:
    end = time.monotonic() + timeout
    while True:
        listed = {j["id"]: j["status"] for j in client.get("/jobs", params={"limit": 500}).json()["jobs"]}
        status = {i: listed.get(i, "missing") for i in ids}
        if all(s in ("done", "failed", "cancelled") for s in status.values()) or time.monotonic() > end:
            return status
        time.sleep(0.5)


def test_a_hundred_clients_with_one_key_twice_get_every_answer_and_each_shoot_once(server, hooks):  # noqa: F811
    client, _, _ = server
    url, got = hooks
    settings(api_private_callbacks=True)  # the receiver is on loopback
    made: set[str] = set()
    for round_ in ("a", "b"):
        answers, errors = burst(client, 100, {**SMALL, "callback_url": url}, round_)
        assert errors == []
        assert [a.status_code for a in answers] == [202] * 100, {a.status_code for a in answers}
        ids = {a.json()["id"] for a in answers}
        assert len(ids) == 100 and not ids & made
        made |= ids
        status = all_ended(client, ids, timeout=600)
        assert set(status.values()) == {"done"}, status
    listed = client.get("/jobs", params={"limit": 500}).json()["jobs"]
    assert {j["id"] for j in listed} == made  # nothing made twice, nothing lost
    deadline = time.monotonic() + 30
    while len(got) < 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(h["id"] for h in got) == sorted(made)  # each announced once as it ended


def _multipart(photo: bytes, params: dict) -> tuple[bytes, str]:
    boundary = "studio-load-test"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"params\"\r\n\r\n{json.dumps(params)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _answer(s: socket.socket) -> tuple[int, dict, bytes]:
    """One response read off a raw socket: status, headers, body (by its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer ({data[:80]!r})")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    want = int(headers.get("content-length", "0"))
    while len(rest) < want:
        rest += s.recv(65536)
    return status, headers, rest


def _expecting(root: str, token: str | None, body: bytes, kind: str) -> tuple[int, str]:
    """A client that sends `Expect: 100-continue` and its body only when told to: the
    final status, and what came after it ("closed", "open", or the error)."""
    host, port = root.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        head = (f"POST /api/v1/shoots HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n"
                + (f"Authorization: {token}\r\n" if token else "") + "\r\n")
        s.sendall(head.encode())
        status, headers, _ = _answer(s)
        if status == 100:
            s.sendall(body)
            status, headers, _ = _answer(s)
            return status, headers.get("connection", "keep-alive")
        try:  # refused before the upload: the server closes cleanly (no reset), the body never sent
            s.settimeout(10)
            return status, "closed" if s.recv(1) == b"" else "open"
        except OSError as exc:
            return status, repr(exc)


def test_a_client_that_sends_expect_never_uploads_a_refused_body(server):  # noqa: F811
    client, _, _ = server
    root = str(client.base_url).removesuffix("/api/v1/").removesuffix("/api/v1")
    token = client.headers["authorization"]
    body, kind = _multipart(photo_bytes(), SMALL)
    settings(api_queue_depth=4)
    with ThreadPoolExecutor(40) as pool:
        strangers = list(pool.map(lambda _: _expecting(root, "Bearer sk_studio_nope", body, kind), range(20)))
        assert strangers == [(401, "closed")] * 20
        # one at a time into a queue 4 deep: 4 are told to send (100 Continue) and queued, the rest refused
        # before they upload anything
        queued = [_expecting(root, token, body, kind) for _ in range(6)]
    assert queued == [(202, "keep-alive")] * 4 + [(429, "closed")] * 2
    assert len(client.get("/jobs").json()["jobs"]) == 4


def test_refusals_reach_many_clients_and_keep_or_close_the_connection(server):  # noqa: F811
    client, _, _ = server
    photo = photo_bytes() + b"\0" * (2 * 1024 * 1024)  # a 2 MB upload, refused for its key
    errors: list[str] = []

    def stranger(_) -> tuple[int, int]:
        with httpx.Client(base_url=client.base_url, headers={"Authorization": "Bearer sk_studio_nope"},
                          timeout=60) as c:
            try:
                r = c.post("/shoots", files={"photo": ("p.jpg", photo, "image/jpeg")})
                again = c.get("/health")  # the same connection carries the next request
                return r.status_code, again.status_code
            except httpx.TransportError as exc:
                errors.append(repr(exc))
                return 0, 0

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(stranger, range(50)))
    assert errors == [] and answers == [(401, 200)] * 50
    # a body over the route's limit is not read: the refusal says the connection closes
    host, port = str(client.base_url).removeprefix("http://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"POST /api/v1/shoots HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: "
                  f"{client.headers['authorization']}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  f"Content-Length: {10**12}\r\n\r\n".encode())
        status, headers, _ = _answer(s)
        assert status == 413 and headers.get("connection") == "close" and s.recv(1) == b""


def test_an_idle_connection_outlives_the_clients_own_keep_alive(server):  # noqa: F811
    """A server that closes an idle connection just as its client reuses it resets that
    request; clients keep theirs about 5 s (httpx), so the server keeps its longer."""
    client, _, _ = server
    host, port = str(client.base_url).removeprefix("http://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        ask = f"GET /api/v1/health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        s.sendall(ask)
        assert _answer(s)[0] == 200
        time.sleep(6)
        s.sendall(ask)
        assert _answer(s)[0] == 200


def test_past_its_depth_a_key_gets_429_with_when_to_come_back(server):  # noqa: F811
    client, _, _ = server
    settings(api_queue_depth=3)
    answers, errors = burst(client, 10, SMALL, "full")
    assert errors == []
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] * 3 + [429] * 7
    for a in answers:
        if a.status_code == 429:
            assert 1 <= int(a.headers["retry-after"]) <= 3600 and "depth is 3" in a.json()["error"]
    assert len(client.get("/jobs").json()["jobs"]) == 3


def test_the_queue_depth_setting_and_its_former_name(studio_home):
    from studio.config import load_settings, settings_path

    assert load_settings().api_queue_depth == 1000  # a burst of a thousand SKUs queues by default
    settings_path().write_text(json.dumps({"api_max_in_flight": 8}))  # the old default, saved by the settings page
    assert load_settings().api_queue_depth == 1000
    settings_path().write_text(json.dumps({"api_max_in_flight": 20}))  # one chosen by hand stays
    assert load_settings().api_queue_depth == 20
    settings_path().write_text(json.dumps({"api_queue_depth": 0}))
    assert load_settings().api_queue_depth == 1000  # out of range: the default, with a warning


def test_retry_after_follows_the_queue_and_the_measured_pace(server):  # noqa: F811
    from studio.api.admission import retry_after
    from studio.app.context import open_store

    client, key_id, _ = server
    store = open_store()
    assert [retry_after(store, key_id, n) for n in (1, 3)] == [10, 30]  # nothing measured yet: 10 s a job
    ids = [a.json()["id"] for a in burst(client, 4, SMALL, "pace")[0]]
    assert set(all_ended(client, set(ids), timeout=120).values()) == {"done"}
    rows = store.query(f"SELECT finished_at FROM jobs WHERE id IN ({','.join('?' * len(ids))}) ORDER BY finished_at",
                       tuple(ids))
    per_job = (rows[-1][0] - rows[0][0]) / (len(rows) - 1)  # the pace these four ran at
    one, five = retry_after(store, key_id, 1), retry_after(store, key_id, 5)
    assert one == max(1, math.ceil(per_job)) and five == max(1, math.ceil(5 * per_job))
