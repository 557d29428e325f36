"""A server on 127.0.0.1 that speaks BFL's Fill protocol, with the failures a real one
has (and a model that sometimes grows parts onto the product)."""

from __future__ import annotations

import base64
import io
import json
import time
from http.server import BaseHTTPRequestHandler

import cv2
import numpy as np
from PIL import Image

KEY = "sk-test-very-secret"


def cloud_shoot(tmp_path, variants: int = 2, timeout: float = 300):
    """A small cloud-engine shoot of the red bottle, run to its end (the key must be saved)."""
    from studio.app.context import open_store, run_jobs
    from studio.app.shoot import submit_shoot
    from tests.synth import make_case

    photo, _ = make_case("red-bottle-on-gradient")
    Image.fromarray(photo).save(tmp_path / "b.png")
    store = open_store()
    job = submit_shoot(store, tmp_path / "b.png", scene="marble", variants=variants, engine="cloud",
                       preset="shopify", long_side=384)
    run_jobs([job], timeout=timeout)
    return store, job


class FakeBFL:
    """Scenario knobs: counts of 429s and 500s before answering, a hang, bad JSON,
    a failing result URL, how many polls stay Pending."""

    def __init__(self):
        self.rate_limited = 0
        self.errors = 0
        self.hang_s = 0.0
        self.bad_json = False
        self.broken_result = False
        self.pending_polls = 1
        self.calls: list[str] = []
        self.submitted: list[dict] = []
        self._polls = 0
        # how many of the next generated scenes grow an extra part onto the product
        # (what a model that does not respect the mask does)
        self.grow_parts = 0
        self.statuses: list[str] = []  # polling answers before Ready (e.g. "Reasoning", "Request Moderated")
        self.polling_base = ""  # another server's address for the polling URL (where the key must not go)
        self.cost: float | None = None  # the cost the submit reply states
        self.keys_seen: list[tuple[str, str | None]] = []  # (path, x-key header) of every request
        self.answer_scale = 1.0  # the provider answers at this fraction of the size it was sent

    def handler(server_self):
        fake = server_self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body=b"", ctype="application/json", headers=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                fake.keys_seen.append((self.path, self.headers.get("x-key")))
                fake.calls.append("submit")
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("x-key") != KEY:
                    return self._send(401, b'{"detail": "bad key"}')
                if fake.hang_s:
                    time.sleep(fake.hang_s)
                    return self._send(200, b"{}")
                if fake.rate_limited:
                    fake.rate_limited -= 1
                    return self._send(429, b'{"detail": "slow down"}', headers={"Retry-After": "2"})
                if fake.errors:
                    fake.errors -= 1
                    return self._send(502, b"bad gateway", "text/plain")
                if fake.bad_json:
                    return self._send(200, b"{not json")
                fake.submitted.append(json.loads(body))
                port = self.server.server_address[1]
                base = fake.polling_base or f"http://127.0.0.1:{port}"
                reply = {"id": "t1", "polling_url": f"{base}/v1/get_result?id=t1"}
                if fake.cost is not None:
                    reply["cost"] = fake.cost
                return self._send(200, json.dumps(reply).encode())

            def do_GET(self):
                fake.keys_seen.append((self.path, self.headers.get("x-key")))
                port = self.server.server_address[1]
                if self.path.startswith("/v1/get_result"):
                    fake.calls.append("poll")
                    fake._polls += 1
                    if fake._polls <= fake.pending_polls:
                        return self._send(200, b'{"id": "t1", "status": "Pending"}')
                    if fake.statuses:
                        status = fake.statuses.pop(0)
                        return self._send(200, json.dumps({"id": "t1", "status": status}).encode())
                    return self._send(200, json.dumps({"id": "t1", "status": "Ready", "result": {
                        "sample": f"http://127.0.0.1:{port}/delivery/t1.png"}}).encode())
                if self.path.startswith("/delivery"):
                    fake.calls.append("download")
                    if fake.broken_result:
                        return self._send(403, b"expired", "text/plain")
                    buf = io.BytesIO()
                    fake.scene(fake.submitted[-1]).save(buf, "PNG")
                    return self._send(200, buf.getvalue(), "image/png")
                return self._send(404, b"{}")

        return H

    def scene(self, submitted: dict) -> Image.Image:
        """The "generated scene": flat blue where the mask says paint, maybe with a part
        in the product's colour grown onto its right side."""
        canvas = np.asarray(Image.open(io.BytesIO(base64.b64decode(submitted["image"]))).convert("RGB"))
        keep = np.asarray(Image.open(io.BytesIO(base64.b64decode(submitted["mask"]))).convert("L")) < 128
        out = np.empty_like(canvas)
        out[:] = (90, 140, 200)
        if self.grow_parts > 0 and keep.any():
            self.grow_parts -= 1
            ys, xs = np.nonzero(keep)
            h, w = ys.max() - ys.min(), xs.max() - xs.min()
            colour = tuple(int(c) for c in canvas[keep].mean(axis=0))
            cv2.ellipse(out, (int(xs.max()) + w // 6, int(ys.mean())), (max(2, w // 3), max(3, h // 4)), 0, 0, 360,
                        colour, -1)
        image = Image.fromarray(out)
        if self.answer_scale != 1.0:
            image = image.resize((round(image.width * self.answer_scale), round(image.height * self.answer_scale)))
        return image
