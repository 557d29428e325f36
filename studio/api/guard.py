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
  valid key is refused before its upload is read.

Pure ASGI, so it sits outside everything (Gradio's routes and the job API alike)."""

from __future__ import annotations

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


class Guard:
    """ASGI middleware enforcing `Policy` (see the module's text)."""

    def __init__(self, app, policy: Callable[[], Policy]):
        self.app = app
        self.policy = policy

    async def _refuse(self, scope, send, status: int, message: str, headers: dict | None = None) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        start, body = _refusal(status, message, headers)
        await send(start)
        await send(body)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        policy = self.policy()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not policy.host_ok(host):
            await self._refuse(scope, send, 400, f"this server does not answer to the host {host_name(host)!r}; "
                               "add it to trusted_hosts in the settings if it is this machine's name")
            return
        method = scope.get("method", "GET")
        origin = headers.get("origin")
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        if origin is not None and (method not in SAFE_METHODS or scope["type"] == "websocket") \
                and not policy.origin_ok(origin, host, scheme):
            await self._refuse(scope, send, 403, f"requests from the web page {origin[:100]!r} are not allowed; "
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
        path = scope.get("path", "")
        client = (scope.get("client") or ("", 0))[0]
        problem = policy.key_problem(path, method, headers, client)
        if problem is not None:
            await self._refuse(scope, send, problem[0], problem[1], {"WWW-Authenticate": "Bearer"})
            return
        limit = policy.body_limit(method, path)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await self._refuse(scope, send, 400, "Content-Length is not a number")
                return
            if int(length) > limit:
                await self._refuse(scope, send, 413, f"the request is over the {limit / MB:.0f} MB this route takes")
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
                    start, body = _refusal(413, f"the request is over the {limit / MB:.0f} MB this route takes")
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
                start, body = _refusal(413, f"the request is over the {limit / MB:.0f} MB this route takes")
                await send(start)
                await send(body)
