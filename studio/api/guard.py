"""The server's front door: checks made on every request before any route runs or any
byte of its body is read.

- **Host.** The request must name this server: 127.0.0.1, localhost, any IP address,
  or a name in `trusted_hosts` (with `--listen`, this machine's own names too). A
  foreign name means DNS rebinding: a web page's own domain pointed at this machine so
  that the browser treats the server as part of that page.
- **Origin.** CORS (a browser page reading the answers) only for the origins listed
  in `allowed_origins`, read live from the settings. A state-changing request (anything but GET, HEAD, OPTIONS) that a browser
  sends from another web page carries that page's Origin: it is refused unless it is
  the server's own origin or listed in `allowed_origins`. Requests without an Origin
  (curl, scripts, gradio_client) are not browsers' cross-site requests.
- **Size, and the key first.** A body over its route's limit is refused from its
  Content-Length, or as soon as the streamed bytes pass it; a job-API POST without a
  valid key, or one whose key's queue is full, is refused before its upload is read.
- **Every refusal reaches its client.** A server that answers and closes with a body
  still unread makes the kernel reset the connection, and the client may lose the
  answer with it. So a refusal made before the body was read first reads (and drops)
  a body within the route's limit, and keeps the connection; a larger one, one that
  does not arrive in time, or one the client has not sent yet because it asked
  `Expect: 100-continue` (uvicorn says "100 Continue" only when the body is first
  read: so that client uploads nothing) is answered with `Connection: close`.

Pure ASGI, so it sits outside everything (Gradio's routes and the job API alike)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
MB = 1024 * 1024
# a refused body is read (and dropped) while it keeps coming: not once it stalls this
# long (a client that declared a body and waits), nor past this long in all
DRAIN_IDLE_S = 2.0
DRAIN_TIMEOUT_S = 30.0


def host_name(host_header: str) -> str:
    """The name part of a Host header (`example.com:7860` → `example.com`, `[::1]:80` → `::1`)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def own_names() -> set[str]:
    """This machine's names and its address on the network (for `--listen`)."""
    names = set()
    try:
        name = socket.gethostname().lower()
        names |= {name, f"{name}.local", socket.getfqdn().lower()}
    except OSError:
        pass
    return {n for n in names if n}


def _origin_key(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url.strip().lower())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port


@dataclass
class Policy:
    """What the guard allows; built from the settings when the server starts, and read
    again for each request where the settings say so (`live`)."""

    trusted_hosts: set[str] = field(default_factory=set)
    allowed_origins: list[str] = field(default_factory=list)
    # (method, path) -> the most bytes its body may have
    body_limit: Callable[[str, str], int] = lambda method, path: MB
    # (path, method, headers, client host) -> an error message when the call needs a key it lacks
    key_problem: Callable[[str, str, dict, str], tuple[int, str] | None] = lambda *a: None
    # (path, method, headers, client host) -> (status, message, headers) when a submission cannot be queued now
    admission: Callable[[str, str, dict, str], tuple[int, str, dict] | None] = lambda *a: None

    def host_ok(self, host_header: str) -> bool:
        name = host_name(host_header)
        return bool(name) and (name in LOOPBACK_NAMES or is_ip(name) or name in self.trusted_hosts)

    def listed(self, origin: str) -> bool:
        key = _origin_key(origin)
        return key is not None and key in {_origin_key(o) for o in self.allowed_origins}

    def origin_ok(self, origin: str, host_header: str, scheme: str) -> bool:
        """The page's own origin (same scheme, host and port as the request) or a listed one."""
        key = _origin_key(origin)
        if key is None:  # "null" (a sandboxed page, a file://) and anything unreadable
            return False
        return key == _origin_key(f"{scheme}://{host_header}") or self.listed(origin)


def _with_cors(send, origin: str):
    """`send` that lets a listed web page read the answer (CORS, no credentials)."""
    async def sending(message):
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"access-control-allow-origin"]
            headers += [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _refusal(status: int, message: str, headers: dict | None = None) -> tuple[dict, dict]:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http.response.start", "status": status, "headers": raw}, \
        {"type": "http.response.body", "body": body}


async def _drained(scope, receive, limit: int) -> bool:
    """Read and drop the request's body when it is within `limit` bytes and arrives in
    time: True when the whole of it was read (or there was none), so the connection can
    carry the next request. Not when the client waits for "100 Continue": it has sent
    nothing, and reading would ask it to upload what is refused."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    length = headers.get("content-length", "")
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    if not chunked and length in ("", "0"):
        return True
    if headers.get("expect", "").lower() == "100-continue":
        return False
    if not chunked and (not length.isdigit() or int(length) > limit):
        return False

    async def drain() -> bool:
        seen = 0
        while True:
            message = await asyncio.wait_for(receive(), DRAIN_IDLE_S)
            if message["type"] != "http.request":
                return False  # the client went away
            seen += len(message.get("body", b""))
            if seen > limit:
                return False
            if not message.get("more_body", False):
                return True

    try:
        return await asyncio.wait_for(drain(), DRAIN_TIMEOUT_S)
    except TimeoutError:
        return False


class Guard:
    """ASGI middleware enforcing `Policy` (see the module's text)."""

    def __init__(self, app, policy: Callable[[], Policy]):
        self.app = app
        self.policy = policy

    async def _refuse(self, scope, receive, send, status: int, message: str, headers: dict | None = None,
                      limit: int = MB) -> None:
        """Answer `status` before the app saw the request; its body read first when it
        is within `limit`, else the connection closed after the answer."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = dict(headers or {})
        if not await _drained(scope, receive, limit):
            headers["Connection"] = "close"
        start, body = _refusal(status, message, headers)
        await send(start)
        await send(body)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        policy = self.policy()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        limit = policy.body_limit(method, path)

        async def refuse(status: int, message: str, extra: dict | None = None) -> None:
            await self._refuse(scope, receive, send, status, message, extra, limit)

        host = headers.get("host", "")
        if not policy.host_ok(host):
            await refuse(400, f"this server does not answer to the host {host_name(host)!r}; "
                         "add it to trusted_hosts in the settings if it is this machine's name")
            return
        origin = headers.get("origin")
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        if origin is not None and (method not in SAFE_METHODS or scope["type"] == "websocket") \
                and not policy.origin_ok(origin, host, scheme):
            await refuse(403, f"requests from the web page {origin[:100]!r} are not allowed; "
                         "list it in allowed_origins in the settings if you trust it")
            return
        if origin is not None and scope["type"] == "http" and policy.listed(origin):
            if method == "OPTIONS" and "access-control-request-method" in headers:
                await self._preflight(send, origin)
                return
            send = _with_cors(send, origin)
        if scope["type"] == "websocket" or method in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("", 0))[0]
        problem = policy.key_problem(path, method, headers, client)
        if problem is not None:
            await refuse(problem[0], problem[1], {"WWW-Authenticate": "Bearer"})
            return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await refuse(400, "Content-Length is not a number")
                return
            if int(length) > limit:
                await refuse(413, f"the request is over the {limit / MB:.0f} MB this route takes")
                return
        full = policy.admission(path, method, headers, client)
        if full is not None:
            await refuse(*full)
            return
        await self._limited(scope, receive, send, limit)

    @staticmethod
    async def _preflight(send, origin: str) -> None:
        """A browser asking whether a listed web page may call: yes, without cookies."""
        headers = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin"),
                   (b"access-control-allow-methods", b"GET, POST"),
                   (b"access-control-allow-headers", CORS_HEADERS.encode()),
                   (b"access-control-max-age", b"600"), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _limited(self, scope, receive, send, limit: int) -> None:
        """Pass the body on while it stays under `limit`; past it, end the body (the
        route fails to parse it) and answer 413 instead of whatever the route says."""
        seen = 0
        over = False
        started = False

        async def counted():
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def answer(message):
            nonlocal started
            if over:
                if not started and message["type"] == "http.response.start":
                    started = True
                    start, body = _refusal(413, f"the request is over the {limit / MB:.0f} MB this route takes",
                                           {"Connection": "close"})  # the rest of it is not read
                    await send(start)
                    await send(body)
                return  # whatever the route says after the body was cut off
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, answer)
        except Exception:
            if not over:
                raise
            if not started:
                start, body = _refusal(413, f"the request is over the {limit / MB:.0f} MB this route takes",
                                       {"Connection": "close"})
                await send(start)
                await send(body)
