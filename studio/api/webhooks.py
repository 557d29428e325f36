"""Calling a client back when its job ends: the job's JSON, POSTed to the job's
callback URL, signed, retried with backoff, each attempt recorded.

The signature: `X-Studio-Signature: sha256=<hex>`, HMAC-SHA256 under the key's webhook
secret of `<X-Studio-Timestamp>.<X-Studio-Delivery>.<body>`. A receiver recomputes it,
refuses a timestamp more than `TOLERANCE_S` from its clock, and remembers delivery ids
it has seen (retries of one delivery share its id): a captured callback cannot be
replayed later or twice.

Only http(s) to global addresses (not loopback, private, shared CGNAT/Tailscale
100.64/10, link-local, reserved, multicast) unless the settings allow private ones
(`api_private_callbacks`): the server must not be a way into the user's network. The
host is resolved once per attempt, checked, and the connection goes to exactly the
address that was checked (a name that rebinds after the check gains nothing)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from studio.store import Store

log = logging.getLogger(__name__)
BACKOFF_S = (0.5, 2.0, 8.0)  # waits before the 2nd, 3rd and 4th attempts
TIMEOUT_S = 10.0
TOLERANCE_S = 300  # what receivers should accept between the timestamp and their clock
MAX_URL = 2048


class CallbackRefused(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    """A callback URL and the one address it is connected to."""

    url: str
    scheme: str
    host: str
    port: int
    ip: str


def _parse(url: str) -> tuple[str, str, int]:
    if not isinstance(url, str) or len(url) > MAX_URL:
        raise CallbackRefused(f"callback_url must be a URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a bad port (99999, -1), an unclosed or invalid [IPv6]
        raise CallbackRefused(f"callback_url is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("callback_url must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise CallbackRefused("callback_url must not carry a user name or password")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


# IPv6 forms Python's `is_global` passes (3.11) that are not a plain global address:
# IPv4-compatible ::a.b.c.d (deprecated), site-local fec0::/10 (deprecated, routed inside a
# site), and the local-use translation prefix 64:ff9b:1::/48
_NOT_GLOBAL_V6 = tuple(ipaddress.ip_network(n) for n in ("::/96", "fec0::/10", "64:ff9b:1::/48"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: the IPv4 address is the last 32 bits


def public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether Studio may connect to `ip` for a user-given URL: a global unicast address,
    and an IPv6 form that carries an IPv4 address (mapped, NAT64, 6to4) only when that
    IPv4 address is global too (`[::ffff:127.0.0.1]`, `[64:ff9b::7f00:1]` and
    `[2002:7f00:1::1]` all reach 127.0.0.1)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return public_address(ip.ipv4_mapped)
        if ip in _NAT64:
            return public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not public_address(ip.sixtofour):
            return False
        if ip.teredo is not None or any(ip in net for net in _NOT_GLOBAL_V6):
            return False
    return ip.is_global and not ip.is_multicast


def resolve(url: str, allow_private: bool) -> Target:
    """The URL and the address to connect to, when Studio may call it; CallbackRefused
    saying why otherwise (a malformed URL, a name that does not resolve, an address that
    is not global)."""
    scheme, host, port = _parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a label over 63 characters
        raise CallbackRefused(f"callback_url's host cannot be resolved ({getattr(exc, 'strerror', None) or exc})") \
            from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise CallbackRefused("callback_url's host has no address")
    if not allow_private and not all(public_address(ip) for ip in addresses):
        raise CallbackRefused("callback_url points at a loopback, private or otherwise non-public address; allow "
                              "those in the settings (api_private_callbacks) if you mean it")
    return Target(url, scheme, host, port, str(addresses[0]))


def check_url(url: str, allow_private: bool) -> str:
    """The URL when Studio may call it now; CallbackRefused saying why otherwise."""
    return resolve(url, allow_private).url


def sign(body: bytes, secret: str, timestamp: str, delivery: str) -> str:
    message = timestamp.encode() + b"." + delivery.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _send(target: Target, body: bytes, headers: dict):
    """POST to the checked address itself: the URL names the IP, the Host header (and
    for https the TLS server name, whose certificate is verified) the host."""
    import httpx

    parts = urlsplit(target.url)
    ip = f"[{target.ip}]" if ":" in target.ip else target.ip
    direct = urlunsplit((parts.scheme, f"{ip}:{target.port}", parts.path or "/", parts.query, ""))
    default = 443 if target.scheme == "https" else 80
    host = target.host if target.port == default else f"{target.host}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    # no redirects: a redirect could lead where the check would not have allowed
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False, trust_env=False) as client:
        return client.request("POST", direct, content=body, headers={**headers, "Host": host},
                              extensions=extensions)


def _record(store: Store, job_id: str, status: str, attempt: int, http_status: int | None, error: str | None) -> None:
    with store.tx() as conn:
        conn.execute("INSERT INTO webhook_deliveries(job_id, status, attempt, at, http_status, error) "
                     "VALUES (?,?,?,?,?,?)", (job_id, status, attempt, time.time(), http_status, error))


def deliveries(store: Store, job_id: str) -> list[dict]:
    rows = store.query("SELECT status, attempt, at, http_status, error FROM webhook_deliveries WHERE job_id = ? "
                       "ORDER BY id", (job_id,))
    return [dict(r) for r in rows]


def deliver(store: Store, job_id: str, status: str, payload: dict, url: str, secret: str,
            backoff: tuple[float, ...] = BACKOFF_S, allow_private: bool | None = None) -> bool:
    """POST the payload until a 2xx answer or the attempts run out; True when delivered."""
    import httpx

    if allow_private is None:
        from studio.config import load_settings

        allow_private = load_settings().api_private_callbacks
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    delivery = uuid.uuid4().hex  # one id for every attempt of this delivery
    for attempt in range(1, len(backoff) + 2):
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Studio-Signature": sign(body, secret, timestamp, delivery),
                   "X-Studio-Timestamp": timestamp, "X-Studio-Delivery": delivery,
                   "X-Studio-Event": f"job.{status}", "User-Agent": "Studio-Webhook/1"}
        try:
            r = _send(resolve(url, allow_private), body, headers)
            ok = 200 <= r.status_code < 300
            _record(store, job_id, status, attempt, r.status_code, None if ok else f"HTTP {r.status_code}")
            if ok:
                return True
        except CallbackRefused as exc:  # the name now points somewhere it may not: no more attempts
            _record(store, job_id, status, attempt, None, f"refused: {exc}")
            break
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
