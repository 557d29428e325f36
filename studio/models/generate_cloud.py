"""Cloud generation with the user's own key: Black Forest Labs' FLUX Fill API.

Protocol (BFL's documented async API): POST the image, mask and prompt to
`/v1/flux-pro-1.0-fill` with the `x-key` header → `{"id", "polling_url", "cost"?}`;
GET the polling URL until `status` is `Ready` → `result.sample` is a signed URL of
the image; download it. 429 answers are retried after their Retry-After; 5xx and
connection failures a few times with backoff; everything has a time limit.

The key goes only to the configured API origin and to https hosts under bfl.ai
(BFL's regional polling hosts), in the header; never to a host a reply names
otherwise, never on the image download, never over plain http to anyone else, and
never into an error message.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from studio.models.base import Generated, GenerateRequest, Generator

DEFAULT_BASE_URL = "https://api.bfl.ai"
FILL_ENDPOINT = "/v1/flux-pro-1.0-fill"
DEFAULT_PRICES = {"bfl": {"flux-pro-1.0-fill": 0.05}}  # per image, in the budget's currency; editable
KEY_DOMAIN = "bfl.ai"  # https hosts under it may receive the key (api.bfl.ai, api.eu.bfl.ai, ...)
# polling answers that mean the job will never give an image, and what to tell the person
FAILED = {
    "Request Moderated": "the provider's moderation refused the request",
    "Content Moderated": "the provider's moderation withheld the generated image",
    "Task not found": "the provider no longer knows this job (Task not found)",
    "Error": "the provider reported an error",
    "Failed": "the provider reported a failure",
}


class CloudError(RuntimeError):
    """The provider did not give us an image; the message says why (never the key).
    `billed`: the provider made (and charged for) an image before things went wrong."""

    billed = False
    for_people = True


@dataclass(frozen=True)
class Limits:
    connect_s: float = 10.0
    read_s: float = 60.0
    total_s: float = 300.0  # submit + polling + download, for one variant over all its attempts
    retries: int = 3  # for 429, 5xx and dropped connections
    poll_start_s: float = 0.5
    poll_max_s: float = 5.0
    max_retry_after_s: float = 60.0


def _png_b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class BFLFillClient:
    def __init__(self, key: str, base_url: str = DEFAULT_BASE_URL, limits: Limits | None = None,
                 sleep=time.sleep):
        if not key:
            raise CloudError("no cloud API key is set (Settings → Cloud, or studio's key file)")
        self.base_url = base_url.rstrip("/")
        self.limits = limits or Limits()
        self._key = key
        self._sleep = sleep
        self._http = httpx.Client(timeout=httpx.Timeout(self.limits.read_s, connect=self.limits.connect_s),
                                  follow_redirects=False)  # a redirect would carry the key elsewhere
        self.cost: float | None = None  # what the provider said the last image cost (its credits)
        self._allowed = self.limits.total_s

    def close(self) -> None:
        self._http.close()

    def key_allowed(self, url: str) -> bool:
        """The configured API origin, or an https host under bfl.ai."""
        if _origin(url) == _origin(self.base_url):
            return True
        scheme, host, _ = _origin(url)
        return scheme == "https" and (host == KEY_DOMAIN or host.endswith("." + KEY_DOMAIN))

    def _request(self, method: str, url: str, deadline: float, what: str, *, with_key: bool,
                 **kw) -> httpx.Response:
        """One HTTP call with the retry rules; returns a 2xx/4xx response or raises."""
        headers = {"accept": "application/json"}
        if with_key and self.key_allowed(url):
            headers["x-key"] = self._key
        delay = 1.0
        err: CloudError | None = None
        for attempt in range(self.limits.retries + 1):
            if time.monotonic() > deadline:
                # the time ran out while retrying: what went wrong is the better answer
                raise err or CloudError(f"the cloud took longer than the {self._allowed:g} s allowed ({what})")
            left = deadline - time.monotonic()
            try:
                # no single wait outlasts what is left of the variant's time
                timeout = httpx.Timeout(max(0.1, min(self.limits.read_s, left)),
                                        connect=max(0.1, min(self.limits.connect_s, left)))
                r = self._http.request(method, url, headers=headers, timeout=timeout, **kw)
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
                self._sleep(min(delay, max(0.0, deadline - time.monotonic())))
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

    def _note_cost(self, data: dict) -> None:
        cost = data.get("cost")
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
            self.cost = float(cost)

    def generate(self, image: Image.Image, mask: Image.Image, prompt: str, seed: int, steps: int = 50,
                 guidance: float = 30.0, time_left_s: float | None = None,
                 on_billed: Callable[[], None] | None = None,
                 cancelled: Callable[[], bool] | None = None) -> Image.Image:
        """One image. `time_left_s` caps this call (what is left of the variant's time);
        `on_billed` is called once the provider says the image is made (it bills then),
        before the download, so a failed download is still paid for in the ledger;
        `cancelled` is asked while the provider works: a cancelled job stops polling at
        once and is not charged for an image it never took."""
        limit = self.limits.total_s if time_left_s is None else min(self.limits.total_s, time_left_s)
        if limit <= 0:
            raise CloudError("the time allowed for this variant (all its tries together) is used up")
        self._allowed = limit
        deadline = time.monotonic() + limit
        body = {"image": _png_b64(image.convert("RGB")), "mask": _png_b64(mask.convert("L")), "prompt": prompt,
                "seed": seed, "steps": steps, "guidance": guidance, "output_format": "png", "safety_tolerance": 2}
        sub = self._json(self._request("POST", self.base_url + FILL_ENDPOINT, deadline, "submit", with_key=True,
                                       json=body), "submit")
        self._note_cost(sub)
        polling_url = sub.get("polling_url") or (f"{self.base_url}/v1/get_result?id={sub['id']}" if sub.get("id") else None)
        if not polling_url or not isinstance(polling_url, str):
            raise CloudError("the cloud accepted the job but gave no way to fetch it")
        wait = self.limits.poll_start_s
        while True:
            self._stop_if(cancelled)
            res = self._json(self._request("GET", polling_url, deadline, "polling", with_key=True), "polling")
            status = res.get("status")
            if status == "Ready":
                self._note_cost(res)
                if on_billed is not None:
                    on_billed()
                sample = (res.get("result") or {}).get("sample")
                if not sample or not isinstance(sample, str):
                    err = CloudError("the cloud said Ready but sent no image address")
                    err.billed = True
                    raise err
                return self._download(sample, deadline)
            if status in FAILED:
                raise CloudError(f"the cloud did not make the image: {FAILED[status]}")
            # Pending, Queued, Processing, and whatever running state the provider adds
            # (Reasoning, Generating, ...): wait, within the time limit
            if time.monotonic() + wait > deadline:
                raise CloudError(f"the cloud took longer than the {limit:g} s allowed (still {status})")
            self._pause(wait, cancelled)
            wait = min(wait * 1.5, self.limits.poll_max_s)

    @staticmethod
    def _stop_if(cancelled: Callable[[], bool] | None) -> None:
        if cancelled is not None and cancelled():
            raise CloudError("cancelled while the provider was still working on the image (not charged here)")

    def _pause(self, seconds: float, cancelled: Callable[[], bool] | None) -> None:
        """Wait between polls in short slices, so a cancel is seen within a fraction of a second."""
        if cancelled is None:
            self._sleep(seconds)
            return
        slept = 0.0
        while slept < seconds:
            self._stop_if(cancelled)
            step = min(0.2, seconds - slept)
            self._sleep(step)
            slept += step
        self._stop_if(cancelled)

    def _download(self, url: str, deadline: float) -> Image.Image:
        try:
            r = self._request("GET", url, deadline, "download", with_key=False)
        except CloudError as exc:
            exc.billed = True
            raise
        if r.status_code != 200:
            err = CloudError(f"the generated image could not be downloaded: HTTP {r.status_code}")
            err.billed = True
            raise err
        try:
            im = Image.open(io.BytesIO(r.content))
            im.load()
        except (UnidentifiedImageError, OSError) as exc:
            err = CloudError("the generated image could not be read")
            err.billed = True
            raise err from exc
        return im.convert("RGB")


def _retry_after(r: httpx.Response, default: float, cap: float) -> float:
    try:
        return max(0.0, min(float(r.headers.get("retry-after", default)), cap))
    except ValueError:
        return default


# -- the prices, and the backend -------------------------------------------------

def prices() -> dict:
    """The per-provider price table, editable as <data dir>/cloud-prices.json."""
    from studio.config import data_dir

    path = data_dir() / "cloud-prices.json"
    if not path.exists():
        path.write_text(json.dumps(DEFAULT_PRICES, indent=2))
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DEFAULT_PRICES
    return table if isinstance(table, dict) else DEFAULT_PRICES


def price(provider: str = "bfl", endpoint: str = "flux-pro-1.0-fill") -> float:
    """The price of one image from the table; a value that is not a finite, non-negative
    number is ignored for the default (a typo must not make images free)."""
    default = DEFAULT_PRICES["bfl"]["flux-pro-1.0-fill"]
    table = prices()
    value = table.get(provider, {}).get(endpoint, default) if isinstance(table.get(provider), dict) else default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return default
    return float(value)


class BFLCloudGenerator(Generator):
    """One variant on the user's Black Forest Labs account (the stage reserves its
    price before the call and charges it only when an image arrives)."""

    title = "FLUX Fill (cloud, your key)"
    device = "network"
    provider = "bfl"
    canvas_multiple = 16
    max_attempts = 2
    backoff_s = 2.0
    time_limit_s = Limits.total_s  # per variant, all its attempts together
    steps = 50  # the API's own default; the shoot's steps are the local models'

    def unavailable(self) -> str | None:
        from studio.secrets import load_key

        return None if load_key(self.provider) else (
            "no cloud API key is set (Settings → Cloud, or `studio cloud-key`)")

    def price(self, params: dict) -> float:
        return price(self.provider)

    def generate(self, request: GenerateRequest) -> Generated:
        from studio.secrets import load_key

        canvas = request.canvas
        client = BFLFillClient(load_key(self.provider) or "", os.environ.get("STUDIO_BFL_BASE_URL", DEFAULT_BASE_URL))
        try:
            image = client.generate(canvas, request.mask, request.prompt, request.seed, steps=self.steps,
                                    guidance=float(request.guidance or 30.0), time_left_s=request.time_left_s,
                                    on_billed=request.on_billed, cancelled=request.cancelled)
        finally:
            client.close()
        info = {"provider": self.provider, "painted_size": list(image.size)}
        if client.cost is not None:
            info["provider_cost"] = client.cost  # as the provider stated it (BFL: credits)
        if image.size != canvas.size:  # the API painted at a size of its own: up to the canvas, as local plates go
            from studio.models.inpaint_common import upscale_plate

            image, info["upscaler"], info["upscale_factor"] = upscale_plate(image.convert("RGB"), canvas.size,
                                                                            request.upscale)
        return Generated(image, request.box, info)
