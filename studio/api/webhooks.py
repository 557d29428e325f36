"""Calling a client back when its job ends: the job's JSON, POSTed to the job's
callback URL, signed with HMAC-SHA256 of the body under the key's webhook secret
(`X-Studio-Signature: sha256=<hex>`), retried with backoff, each attempt recorded.
Only http(s); loopback and private addresses are refused unless the settings allow
them (`api_private_callbacks`): the server must not be a way into the user's network."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
from urllib.parse import urlsplit

from studio.store import Store

log = logging.getLogger(__name__)
BACKOFF_S = (0.5, 2.0, 8.0)  # waits before the 2nd, 3rd and 4th attempts
TIMEOUT_S = 10.0


class CallbackRefused(ValueError):
    pass


def check_url(url: str, allow_private: bool) -> str:
    """The URL when Studio may call it; CallbackRefused saying why otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("callback_url must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise CallbackRefused("callback_url must not carry a user name or password")
    if allow_private:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        raise CallbackRefused(f"callback_url's host cannot be resolved ({exc.strerror or exc})") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast \
                or ip.is_unspecified:
            raise CallbackRefused("callback_url points at a loopback or private address; allow those in the "
                                  "settings (api_private_callbacks) if you mean it")
    return url


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _record(store: Store, job_id: str, status: str, attempt: int, http_status: int | None, error: str | None) -> None:
    with store.tx() as conn:
        conn.execute("INSERT INTO webhook_deliveries(job_id, status, attempt, at, http_status, error) "
                     "VALUES (?,?,?,?,?,?)", (job_id, status, attempt, time.time(), http_status, error))


def deliveries(store: Store, job_id: str) -> list[dict]:
    rows = store.query("SELECT status, attempt, at, http_status, error FROM webhook_deliveries WHERE job_id = ? "
                       "ORDER BY id", (job_id,))
    return [dict(r) for r in rows]


def deliver(store: Store, job_id: str, status: str, payload: dict, url: str, secret: str,
            backoff: tuple[float, ...] = BACKOFF_S) -> bool:
    """POST the payload until a 2xx answer or the attempts run out; True when delivered."""
    import httpx

    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Studio-Signature": sign(body, secret),
               "X-Studio-Event": f"job.{status}", "User-Agent": "Studio-Webhook/1"}
    for attempt in range(1, len(backoff) + 2):
        try:
            # no redirects: a redirect could lead where check_url would not have allowed
            r = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_S, follow_redirects=False)
            ok = 200 <= r.status_code < 300
            _record(store, job_id, status, attempt, r.status_code, None if ok else f"HTTP {r.status_code}")
            if ok:
                return True
        except httpx.HTTPError as exc:
            _record(store, job_id, status, attempt, None, type(exc).__name__)
        if attempt <= len(backoff):
            time.sleep(backoff[attempt - 1])
    log.warning("webhook for job %s not delivered", job_id)
    return False


def deliver_later(store: Store, job_id: str, status: str, payload: dict, url: str, secret: str) -> threading.Thread:
    """deliver() on its own thread (the store gives each thread its own connection): the
    worker never waits."""
    t = threading.Thread(target=deliver, args=(store, job_id, status, payload, url, secret),
                         name=f"webhook-{job_id}", daemon=True)
    t.start()
    return t
