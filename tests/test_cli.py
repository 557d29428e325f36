from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

from tests.imagegen import gradient_rgb, to_bytes


def studio(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=timeout)


def test_help_does_not_import_heavy_modules():
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys, studio.cli as c\n"
         "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
         "print(sorted(m for m in ('torch', 'gradio', 'diffusers', 'transformers', 'open_clip', 'cv2') if m in sys.modules))"],
        capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "ingest-check" in out.stdout and "serve" in out.stdout


def test_ingest_check_reports_each_file_and_exit_code(tmp_path):
    good = tmp_path / "mug.jpg"
    good.write_bytes(to_bytes(gradient_rgb(400, 300), "JPEG"))
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"shopping list")
    r = studio("ingest-check", str(good))
    assert r.returncode == 0 and "mug.jpg: 400x300 RGB from JPEG RGB" in r.stdout
    r = studio("ingest-check", str(good), str(bad))
    assert r.returncode == 2
    assert "notes.jpg: REJECTED (not_image)" in r.stdout
    r = studio("ingest-check", "--json", str(good), str(bad))
    data = json.loads(r.stdout)
    assert [d["ok"] for d in data] == [True, False] and data[1]["code"] == "not_image"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_on_loopback(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "studio", "serve", "--no-browser", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        status = None
        while time.time() < deadline and status != 200:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status
            except OSError:
                time.sleep(0.2)
        assert status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_listen_without_credentials_is_refused():
    r = studio("serve", "--listen", "--no-browser", "--port", str(free_port()), timeout=60)
    assert r.returncode == 2 and "--auth" in r.stderr
