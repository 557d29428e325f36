"""Cloud generation with the user's own key: Black Forest Labs' FLUX Fill API.

Protocol (BFL's documented async API): POST the image, mask and prompt to
`/v1/flux-pro-1.0-fill` with the `x-key` header → `{"id", "polling_url"}`; GET the
polling URL until `status` is `Ready` → `result.sample` is a signed URL of the
image; download it. 429 answers are retried after their Retry-After; 5xx and
connection failures a few times with backoff; everything has a time limit.
The key is sent only in the header and never appears in an error message.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image, UnidentifiedImageError

DEFAULT_BASE_URL = "https://api.bfl.ai"
FILL_ENDPOINT = "/v1/flux-pro-1.0-fill"
DEFAULT_PRICES = {"bfl": {"flux-pro-1.0-fill": 0.05}}  # per image, in the budget's currency; editable


class CloudError(RuntimeError):
    """The provider did not give us an image; the message says why (never the key)."""


@dataclass(frozen=True)
class Limits:
    connect_s: float = 10.0
    read_s: float = 60.0
    total_s: float = 300.0  # submit + polling + download
    retries: int = 3  # for 429, 5xx and dropped connections
    poll_start_s: float = 0.5
    poll_max_s: float = 5.0
    max_retry_after_s: float = 60.0


def _png_b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


class BFLFillClient:
    def __init__(self, key: str, base_url: str = DEFAULT_BASE_URL, limits: Limits | None = None,
                 sleep=time.sleep):
        if not key:
            raise CloudError("no cloud API key is set (Settings → Cloud, or studio's key file)")
        self.base_url = base_url.rstrip("/")
        self.limits = limits or Limits()
        self._key = key
        self._sleep = sleep
        self._http = httpx.Client(timeout=httpx.Timeout(self.limits.read_s, connect=self.limits.connect_s))

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, url: str, deadline: float, what: str, **kw) -> httpx.Response:
        """One HTTP call with the retry rules; returns a 2xx/4xx response or raises."""
        delay = 1.0
        for attempt in range(self.limits.retries + 1):
            if time.monotonic() > deadline:
                raise CloudError(f"the cloud took longer than {self.limits.total_s:g} s ({what})")
            try:
                r = self._http.request(method, url, headers={"x-key": self._key, "accept": "application/json"}, **kw)
            except httpx.TimeoutException as exc:
                err = CloudError(f"the cloud did not answer in time ({what})")
                err.__cause__ = exc
            except httpx.TransportError as exc:
                err = CloudError(f"cannot reach the cloud ({what}): {type(exc).__name__}")
                err.__cause__ = exc
            else:
                if r.status_code == 429:
                    wait = _retry_after(r, delay, self.limits.max_retry_after_s)
                    err = CloudError(f"the cloud is rate-limiting us ({what}); waited {wait:g} s")
                    if attempt < self.limits.retries:
                        self._sleep(min(wait, max(0.0, deadline - time.monotonic())))
                        continue
                    raise err
                if r.status_code >= 500:
                    err = CloudError(f"the cloud had an error ({what}): HTTP {r.status_code}")
                else:
                    return r
            if attempt < self.limits.retries:
                self._sleep(delay)
                delay = min(delay * 2, 8.0)
        raise err

    def _json(self, r: httpx.Response, what: str) -> dict:
        if r.status_code in (401, 403):
            raise CloudError(f"the cloud refused the API key ({what}): HTTP {r.status_code}")
        if r.status_code >= 400:
            raise CloudError(f"the cloud refused the request ({what}): HTTP {r.status_code} {r.text[:200]}")
        try:
            data = r.json()
        except (json.JSONDecodeError, ValueError) as exc:
            raise CloudError(f"the cloud sent something that is not JSON ({what})") from exc
        if not isinstance(data, dict):
            raise CloudError(f"the cloud sent an unexpected answer ({what})")
        return data

    def generate(self, image: Image.Image, mask: Image.Image, prompt: str, seed: int, steps: int = 50,
                 guidance: float = 30.0) -> Image.Image:
        deadline = time.monotonic() + self.limits.total_s
        body = {"image": _png_b64(image.convert("RGB")), "mask": _png_b64(mask.convert("L")), "prompt": prompt,
                "seed": seed, "steps": steps, "guidance": guidance, "output_format": "png", "safety_tolerance": 2}
        sub = self._json(self._request("POST", self.base_url + FILL_ENDPOINT, deadline, "submit", json=body), "submit")
        polling_url = sub.get("polling_url") or (f"{self.base_url}/v1/get_result?id={sub['id']}" if sub.get("id") else None)
        if not polling_url:
            raise CloudError("the cloud accepted the job but gave no way to fetch it")
        wait = self.limits.poll_start_s
        while True:
            res = self._json(self._request("GET", polling_url, deadline, "polling"), "polling")
            status = res.get("status")
            if status == "Ready":
                sample = (res.get("result") or {}).get("sample")
                if not sample:
                    raise CloudError("the cloud said Ready but sent no image address")
                return self._download(sample, deadline)
            if status in ("Pending", "Queued", "Processing", None):
                if time.monotonic() + wait > deadline:
                    raise CloudError(f"the cloud took longer than {self.limits.total_s:g} s (still {status})")
                self._sleep(wait)
                wait = min(wait * 1.5, self.limits.poll_max_s)
                continue
            raise CloudError(f"the cloud did not make the image: {status}")

    def _download(self, url: str, deadline: float) -> Image.Image:
        r = self._request("GET", url, deadline, "download")
        if r.status_code != 200:
            raise CloudError(f"the generated image could not be downloaded: HTTP {r.status_code}")
        try:
            im = Image.open(io.BytesIO(r.content))
            im.load()
        except (UnidentifiedImageError, OSError) as exc:
            raise CloudError("the generated image could not be read") from exc
        return im.convert("RGB")


def _retry_after(r: httpx.Response, default: float, cap: float) -> float:
    try:
        return max(0.0, min(float(r.headers.get("retry-after", default)), cap))
    except ValueError:
        return default


# -- the key and the prices ----------------------------------------------------

def _secrets_dir() -> Path:
    from studio.config import data_dir

    d = data_dir() / "secrets"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def save_key(provider: str, key: str) -> Path:
    """Stored readable by the owner only; never logged, never in history or exports."""
    path = _secrets_dir() / f"{provider}.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.strip())
    os.chmod(path, 0o600)
    return path


def load_key(provider: str) -> str | None:
    env = os.environ.get(f"STUDIO_{provider.upper()}_KEY")
    if env:
        return env.strip()
    path = _secrets_dir() / f"{provider}.key"
    return path.read_text().strip() if path.exists() else None


def prices() -> dict:
    """The per-provider price table, editable as <data dir>/cloud-prices.json."""
    from studio.config import data_dir

    path = data_dir() / "cloud-prices.json"
    if not path.exists():
        path.write_text(json.dumps(DEFAULT_PRICES, indent=2))
    try:
        return json.loads(path.read_text())
    except ValueError:
        return DEFAULT_PRICES


def price(provider: str = "bfl", endpoint: str = "flux-pro-1.0-fill") -> float:
    return float(prices().get(provider, {}).get(endpoint, DEFAULT_PRICES["bfl"]["flux-pro-1.0-fill"]))
