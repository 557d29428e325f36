"""Issue 28, the server a shop can reach, case by case: each test reproduces what was
reported (rebinding, cross-origin posts, SSRF, big uploads, replays, money, names) and
checks the refusal is a sentence and nothing is lost. Outgoing calls go to loopback
fakes; refusals of other addresses are checked inside `unshare -n` (loopback only)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from studio.api import keys, webhooks
from tests.test_api import CLASSIC, photo_bytes, server, settings, submit, wait  # noqa: F401 (server: a fixture)

ROOT = Path(__file__).resolve().parent.parent


def base(client: httpx.Client) -> str:
    return str(client.base_url).removesuffix("/").removesuffix("/api/v1")


def count(table: str) -> int:
    from studio.app.context import open_store

    return open_store().one(f"SELECT COUNT(*) FROM {table}")[0]


# -- 1. a foreign Host (DNS rebinding) changes nothing ------------------------------------

def test_a_foreign_host_gets_nothing_and_mints_no_key(server):  # noqa: F811
    client, _, _ = server
    root, port = base(client), client.base_url.port
    before = count("api_keys")
    for host in (f"rebind.evil.example:{port}", "rebind.evil.example", f"localhost.evil.example:{port}"):
        r = httpx.post(f"{root}/gradio_api/call/create_api_key", json={"data": ["mine now"]}, headers={"Host": host})
        assert r.status_code == 400 and "does not answer to the host" in r.json()["error"]
        assert "access-control-allow-origin" not in r.headers
        assert httpx.get(f"{root}/api/v1/health", headers={"Host": host}).status_code == 400
        assert httpx.get(f"{root}/", headers={"Host": host}).status_code == 400
    assert count("api_keys") == before
    # the names this machine is reached by keep working, and a name added in the settings too
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"192.168.1.20:{port}"):
        assert httpx.get(f"{root}/api/v1/health", headers={"Host": host}).status_code == 200, host
    settings(trusted_hosts=["studio.lan"])
    assert httpx.get(f"{root}/api/v1/health", headers={"Host": f"studio.lan:{port}"}).status_code == 200


# -- 2. a post from another web page makes no job -----------------------------------------

def test_cross_origin_posts_are_refused_and_cors_is_only_for_listed_origins(server):  # noqa: F811
    client, _, _ = server
    root = base(client)
    settings(api_keys_on_loopback=False)  # the case reported: no key needed from this computer
    keys_before = count("api_keys")
    files = {"photo": ("mug.jpg", photo_bytes(), "image/jpeg")}
    r = httpx.post(f"{root}/api/v1/shoots", files=files, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "evil.example" in r.json()["error"]
    r = httpx.post(f"{root}/gradio_api/call/create_api_key", json={"data": ["x"]}, headers={"Origin": "null"})
    assert r.status_code == 403
    assert count("jobs") == 0 and count("api_keys") == keys_before
    # the page's own origin, and a client that sends none (curl, scripts), are fine
    r = httpx.post(f"{root}/api/v1/shoots", files=files, data={"params": json.dumps(CLASSIC)},
                   headers={"Origin": root})
    assert r.status_code == 202, r.text
    # a browser preflight from a page not listed is not granted; a listed one is
    pre = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization"}
    assert "access-control-allow-origin" not in httpx.options(f"{root}/api/v1/shoots", headers=pre).headers
    r = httpx.get(f"{root}/api/v1/health", headers={"Origin": "https://shop.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    settings(allowed_origins=["https://shop.example"])
    r = httpx.options(f"{root}/api/v1/shoots", headers=pre)
    assert r.headers.get("access-control-allow-origin") == "https://shop.example"
    r = httpx.post(f"{root}/api/v1/shoots", files=files, data={"params": json.dumps(CLASSIC)},
                   headers={"Origin": "https://shop.example"})
    assert r.status_code == 202 and r.headers["access-control-allow-origin"] == "https://shop.example"


# -- 3. webhooks reach only global addresses, the one that was checked ---------------------

@pytest.mark.parametrize("url", ["http://100.64.0.1/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/",
                                 "http://10.0.0.5/", "http://[fd00::1]/", "http://0.0.0.0/", "http://224.0.0.1/",
                                 "http://127.0.0.1:99999/", "http://[::1/", "http://[zz]/", "http://host:-1/",
                                 "http://" + "a" * 300 + ".example/", "http://" + "b" * 64 + ".example/",
                                 "ftp://example.com/", "http://user:pw@example.com/"])
def test_callback_urls_that_are_not_public_or_not_urls_are_refused(url):
    with pytest.raises(webhooks.CallbackRefused):
        webhooks.check_url(url, allow_private=False)


def test_malformed_callback_urls_are_422_not_500(server):  # noqa: F811
    client, _, _ = server
    for url in ("http://127.0.0.1:99999/", "http://[::1/", "http://[zz]/", "http://h:-1/",
                "http://" + "a" * 300 + ".example/", "x" * 5000):
        r = submit(client, {**CLASSIC, "callback_url": url})
        assert r.status_code == 422 and r.json()["field"] == "callback_url", (url, r.text)
    assert client.get("/jobs").json()["jobs"] == []


UNSHARE = shutil.which("unshare")


def _in_private_network(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run Python `code` in a network namespace of its own: only loopback exists there,
    so nothing can leave the machine even if the guard under test were broken."""
    script = f"ip link set lo up 2>/dev/null; exec {sys.executable} -c \"$0\""
    return subprocess.run([UNSHARE, "-n", "sh", "-c", script, code], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def _unshare_works() -> bool:
    if not UNSHARE:
        return False
    return subprocess.run([UNSHARE, "-n", "true"], capture_output=True).returncode == 0


needs_netns = pytest.mark.skipif(not _unshare_works(), reason="unshare -n is not permitted here")


_REBINDING = r'''
import socket, threading, json, os, tempfile
from http.server import BaseHTTPRequestHandler, HTTPServer
got = []
class R(BaseHTTPRequestHandler):
    def do_POST(self):
        got.append(self.path); self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
srv = HTTPServer(("127.0.0.1", 0), R)
threading.Thread(target=srv.serve_forever, daemon=True).start()
port = srv.server_address[1]
real = socket.getaddrinfo
ANSWERS = json.loads(os.environ["ANSWERS"])  # what the rebinding name resolves to, one lookup after another
lookups = []
def rebinding(host, *a, **kw):
    if host == "hook.rebind.example":
        ip = ANSWERS[min(len(lookups), len(ANSWERS) - 1)]
        lookups.append(ip)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
    return real(host, *a, **kw)
socket.getaddrinfo = rebinding
os.environ["STUDIO_HOME"] = tempfile.mkdtemp()
from studio.api import webhooks
from studio.app.context import open_store
store = open_store()
store.conn.execute("INSERT INTO jobs(id, recipe, created_at) VALUES ('job', 'shoot', 0)")
url = f"http://hook.rebind.example:{port}/hook"
assert webhooks.check_url(url, False) == url
ok = webhooks.deliver(store, "job", "done", {"id": "job"}, url, "whsec_x", backoff=(0.0,))
print(json.dumps({"delivered": ok, "receiver_got": got, "lookups": lookups,
                  "attempts": webhooks.deliveries(store, "job")}))
'''


@needs_netns
@pytest.mark.parametrize("answers", [["8.8.8.8", "127.0.0.1"], ["8.8.8.8", "8.8.8.8", "127.0.0.1"]])
def test_a_name_that_rebinds_after_the_check_is_not_followed(answers):
    """The name resolves to a global address when checked and to 127.0.0.1 afterwards (a
    rebinding DNS server): at the delivery's own lookup (refused), or at any lookup after
    it (the connection goes to the address checked, unreachable in here). The receiver
    listening on loopback gets nothing either way."""
    out = _in_private_network(_REBINDING, ANSWERS=json.dumps(answers))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["receiver_got"] == [] and not result["delivered"]
    assert result["attempts"] and all(a["error"] for a in result["attempts"])
    if len(answers) == 2:  # the delivery looked the name up again, saw loopback, and stopped
        assert result["attempts"][-1]["error"].startswith("refused:")
    else:  # the first attempt connected to 8.8.8.8 itself (unreachable here), the next saw loopback and stopped
        first, last = result["attempts"][0], result["attempts"][-1]
        assert "Connect" in first["error"] and last["error"].startswith("refused:")
        assert result["lookups"] == ["8.8.8.8", "8.8.8.8", "127.0.0.1"]  # no lookup of the client's own


@needs_netns
def test_a_public_callback_is_connected_to_its_checked_address_only():
    code = r'''
import os, socket, tempfile, json
os.environ["STUDIO_HOME"] = tempfile.mkdtemp()
from studio.api import webhooks
seen = []
real = socket.getaddrinfo
def public(host, *a, **kw):
    seen.append(host)
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
socket.getaddrinfo = public
t = webhooks.resolve("https://shop.example/hooks/studio?x=1", False)
print(json.dumps({"ip": t.ip, "host": t.host, "port": t.port, "seen": seen}))
'''
    out = _in_private_network(code)
    assert out.returncode == 0, out.stderr
    t = json.loads(out.stdout.strip().splitlines()[-1])
    assert t == {"ip": "93.184.215.14", "host": "shop.example", "port": 443, "seen": ["shop.example"]}


# -- 4. uploads are refused before they are read ------------------------------------------

def _raw_post(root: str, path: str, length: int, headers: dict | None = None, send: int = 0) -> tuple[int, float]:
    """POST with a declared Content-Length, sending only `send` bytes of the body; the
    status line and how long it took to come."""
    host, port = root.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: multipart/form-data; boundary=b\r\n" \
           f"Content-Length: {length}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()) + "\r\n"
    t0 = time.monotonic()
    s.sendall(head.encode() + b"x" * send)
    try:
        status = int(s.recv(4096).split(b" ", 2)[1])
    except TimeoutError as exc:
        raise AssertionError(f"no answer to POST {path} {headers}") from exc
    s.close()
    return status, time.monotonic() - t0


def test_big_uploads_are_refused_before_the_body_is_read(server):  # noqa: F811
    client, _, _ = server
    root = base(client)
    token = client.headers["authorization"]
    big = 160 * 1024 * 1024
    # no key: 401 at once, without waiting for 160 MB
    status, took = _raw_post(root, "/api/v1/shoots", big)
    assert status == 401 and took < 5
    # a key, but more than a shoot may carry: 413 from the Content-Length alone
    assert _raw_post(root, "/api/v1/shoots", 2 * big, {"Authorization": token})[0] == 413
    assert _raw_post(root, "/api/v1/batches", 2 * 1024 ** 3, {"Authorization": token})[0] == 413
    assert _raw_post(root, "/gradio_api/upload", 2 * 1024 ** 3)[0] == 413
    # a streamed body with no Content-Length is cut off once it passes the limit
    s = __import__("studio.config", fromlist=["x"]).load_settings()
    s.limits.max_batch_bytes = 2 * 1024 * 1024
    __import__("studio.config", fromlist=["x"]).save_settings(s)

    def chunks():  # a well-formed start: the multipart parser reads on until the limit cuts it off
        yield (b'--b\r\nContent-Disposition: form-data; name="photos"; filename="a.jpg"\r\n'
               b"Content-Type: image/jpeg\r\n\r\n")
        for _ in range(64):
            yield b"y" * 65536

    r = client.post("/batches", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and "MB" in r.json()["error"]
    assert client.get("/jobs").json()["jobs"] == []


# -- 5. webhook replays, and who can read the secrets -------------------------------------

def test_the_data_dir_and_database_are_the_owners_only(studio_home):
    from studio.app.context import open_store
    from studio.config import data_dir

    store = open_store()
    keys.create(store, "shop")
    assert (data_dir().stat().st_mode & 0o777) == 0o700
    assert (store.db_path.stat().st_mode & 0o777) == 0o600
    os.chmod(data_dir(), 0o755)  # an older data dir made before this rule
    os.chmod(store.db_path, 0o644)
    from studio.store import Store

    Store(data_dir())
    assert (data_dir().stat().st_mode & 0o777) == 0o700 and (store.db_path.stat().st_mode & 0o777) == 0o600


# -- 6. money: the budget as it is now, queued shoots counted, a cancel honoured -----------

def test_the_budget_is_read_live_and_queued_shoots_count(studio_home, tmp_path, fake_bfl):
    from studio import secrets
    from studio.app.context import ledger, open_store
    from studio.app.shoot import submit_shoot
    from studio.models import generate_cloud as cloud
    from studio.pipeline.ledger import BudgetExceeded
    from tests.fake_bfl import KEY
    from tests.test_hardening import photo

    secrets.save_key("bfl", KEY)
    store = open_store()
    book = ledger(store)  # made once, as a running server's worker is
    settings(budget=4.0)
    assert book.budget == 4.0
    settings(budget=1.0)  # lowered in Settings while the server runs
    assert book.budget == 1.0 and book.available() == 1.0
    each = cloud.price()
    settings(budget=each * 3)
    mug = photo(tmp_path, "mug.jpg")
    submit_shoot(store, mug, scene="marble", variants=2, engine="cloud", long_side=256)  # queued, not run
    with pytest.raises(BudgetExceeded, match="promised to queued shoots"):
        submit_shoot(store, mug, scene="marble", variants=2, engine="cloud", long_side=256)
    submit_shoot(store, mug, scene="marble", variants=1, engine="cloud", long_side=256)  # exactly what is left


def test_a_cloud_job_cancelled_while_pending_stops_polling_and_is_not_charged(studio_home, tmp_path, fake_bfl):
    from studio import secrets
    from studio.app.context import ledger, open_store, run_jobs
    from studio.app.history import cancel
    from studio.app.shoot import submit_shoot
    from studio.pipeline import jobs
    from tests.fake_bfl import KEY
    from tests.test_hardening import photo

    secrets.save_key("bfl", KEY)
    fake_bfl.pending_polls = 10_000  # the provider never finishes
    store = open_store()
    job = submit_shoot(store, photo(tmp_path, "mug.jpg"), scene="marble", variants=1, engine="cloud", long_side=256)
    runner = threading.Thread(target=run_jobs, args=([job],), kwargs={"timeout": 60})
    runner.start()
    end = time.monotonic() + 30
    while fake_bfl.calls.count("poll") < 2 and time.monotonic() < end:
        time.sleep(0.05)
    assert fake_bfl.calls.count("poll") >= 2
    cancel(store, job, ledger(store))
    t0 = time.monotonic()
    runner.join(30)
    assert not runner.is_alive() and time.monotonic() - t0 < 5
    polls = fake_bfl.calls.count("poll")
    time.sleep(1.5)
    assert fake_bfl.calls.count("poll") == polls  # it stopped asking
    assert jobs.get_job(store, job)["status"] == "cancelled"
    book = ledger(store)
    assert book.spent(job) == 0 and book.hold(job) == 0 and book.problems() == []


# -- 7. the page's batch tells nothing about paths outside its folders ---------------------

def test_batch_start_answers_the_same_for_existing_and_missing_paths_outside(studio_home, tmp_path):
    import gradio as gr

    from studio.ui import tab_batch

    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "catalog.csv").write_text("sku,image\n1,a.jpg\n")
    said = []
    for path in (outside / "catalog.csv", outside / "nothing-here.csv", Path("/etc/shadow"), Path("/nope/x.csv")):
        with pytest.raises(gr.Error) as err:
            tab_batch.on_start(str(path), None, "", "", "", "classic", 1)
        said.append(str(err.value).replace(str(path), "PATH"))
    assert len(set(said)) == 1 and "outside the folders" in said[0]


# -- crashes and losses on ordinary input ---------------------------------------------------

def test_hostile_params_are_422(server):  # noqa: F811
    client, _, _ = server
    files = {"photo": ("mug.jpg", photo_bytes(), "image/jpeg")}
    for raw in ("[" * 50_000 + "]" * 50_000, '{"seed": ' + "9" * 5000 + "}", "[" * 5000 + "]" * 5000,
                '{"variants": NaN}', '{"variants": 1e999}', '"just a string"'):
        r = client.post("/shoots", files=files, data={"params": raw})
        assert r.status_code in (413, 422), (raw[:30], r.status_code, r.text[:200])
        assert len(r.text) < 400
    r = client.post("/jobs/x/clips", content="[" * 50_000 + "]" * 50_000, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 404, 413, 422) and "error" in r.json()
    assert client.get("/jobs").json()["jobs"] == []


def test_an_idempotency_key_whose_job_was_deleted_makes_a_new_job(server):  # noqa: F811
    from studio.app.context import open_store
    from studio.app.history import delete

    client, _, _ = server
    first = submit(client, headers={"Idempotency-Key": "order-9"}).json()["id"]
    wait(client, first)
    delete(open_store(), first)
    again = submit(client, headers={"Idempotency-Key": "order-9"})
    assert again.status_code == 202 and again.json()["id"] != first


def test_one_idempotency_key_raced_twenty_times_makes_one_clip(server):  # noqa: F811
    client, _, _ = server
    shoot = wait(client, submit(client).json()["id"])
    token = client.headers["authorization"]
    settings(api_queue_depth=100)

    def post(_):
        with httpx.Client(base_url=client.base_url, headers={"Authorization": token}, timeout=60) as c:
            return c.post(f"/jobs/{shoot['id']}/clips", json={"preset": "square", "seconds": 4},
                          headers={"Idempotency-Key": "clip-1"})

    for _ in range(3):
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(post, range(20)))
        assert {a.status_code for a in answers} <= {200, 202}
        assert len({a.json()["id"] for a in answers}) == 1
    clips = [j for j in client.get("/jobs").json()["jobs"] if j["id"] != shoot["id"]]
    assert len(clips) == 1


def test_a_batch_is_checked_whole_before_any_job_is_made(server):  # noqa: F811
    client, _, _ = server
    good = [("photos", (f"p{i}.jpg", photo_bytes(i), "image/jpeg")) for i in range(3)]
    bad = good[:2] + [("photos", ("third.jpg", b"not a photo at all", "image/jpeg"))] + good[2:]
    r = client.post("/batches", files=bad, data={"params": json.dumps(CLASSIC)})
    assert r.status_code == 422 and "third.jpg" in r.json()["error"] and r.json()["field"] == "photos"
    settings(api_queue_depth=2)
    r = client.post("/batches", files=good, data={"params": json.dumps(CLASSIC)})
    assert r.status_code == 429
    assert client.get("/jobs").json()["jobs"] == []  # neither made a job
    settings(api_queue_depth=8)
    r = client.post("/batches", files=good, data={"params": json.dumps(CLASSIC)},
                    headers={"Idempotency-Key": "batch-1"})
    again = client.post("/batches", files=good, data={"params": json.dumps(CLASSIC)},
                        headers={"Idempotency-Key": "batch-1"})
    assert r.status_code == 202 and again.status_code == 200
    assert [j["id"] for j in again.json()["jobs"]] == [j["id"] for j in r.json()["jobs"]]


def test_cancel_of_an_ended_job_is_409(server):  # noqa: F811
    client, _, _ = server
    job = wait(client, submit(client).json()["id"])
    r = client.post(f"/jobs/{job['id']}/cancel")
    assert r.status_code == 409 and "already done" in r.json()["error"]
