"""Start the app: bind, auth, limits, the files it may serve."""

from __future__ import annotations

import os
import sys

from studio.ui.served import blocked_paths, served_dirs


class ServeError(ValueError):
    pass


def resolve_bind(listen: bool, auth: str | None) -> tuple[str, tuple[str, str] | None]:
    """Loopback by default; a LAN bind only with a username and password."""
    auth = auth or os.environ.get("STUDIO_AUTH") or None
    creds = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise ServeError("--auth must be user:password")
        creds = (user, password)
    if listen and creds is None:
        raise ServeError("--listen shares Studio on your network; give --auth user:password (or STUDIO_AUTH) too.")
    return ("0.0.0.0" if listen else "127.0.0.1"), creds


class Running:
    """The app being served: its address, its job worker, and `close()`."""

    def __init__(self, server, thread, worker, url: str):
        self.server, self.thread, self.studio_worker, self.local_url = server, thread, worker, url

    def close(self) -> None:
        self.studio_worker.stop()
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def block_thread(self) -> None:
        try:
            while self.thread.is_alive():
                self.thread.join(timeout=0.5)
        finally:
            self.close()


def trusted_hosts(listen: bool) -> set[str]:
    from studio.api.guard import own_names
    from studio.config import load_settings

    names = {h.strip().lower() for h in load_settings().trusted_hosts}
    return names | own_names() if listen else names


def check_gradio_fetches() -> None:
    """Gradio fetches URLs itself (`/gradio_api/file=<URL>`, a FileData whose path is a
    URL) through safehttpx, whose check lets shared 100.64/10 and IPv6 forms of loopback
    through and asks dns.google when the local answer is not public. Studio's one rule
    for user-given URLs replaces it: every address the name resolves to here is public
    (`webhooks.public_address`), and the connection goes to the one checked."""
    import asyncio
    import ipaddress
    import socket

    import safehttpx

    from studio.api.webhooks import public_address

    async def validate(hostname: str) -> str:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
            addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        except (OSError, UnicodeError, ValueError) as exc:
            raise ValueError(f"{hostname} cannot be resolved") from exc
        if not addresses or not all(public_address(a) for a in addresses):
            raise ValueError(f"{hostname} is not a public address")
        return str(addresses[0])

    safehttpx.async_validate_url = validate  # read from the module at each call, by Gradio and safehttpx alike


def build_server(listen: bool = False, auth: tuple[str, str] | None = None):
    """The outer ASGI app: the guard (host, origin, sizes, key first) around CORS for the
    listed origins, the job API at /api/v1 and the page at /. Returns (app, store)."""
    import gradio as gr
    from fastapi import FastAPI
    from starlette.middleware.cors import CORSMiddleware

    from studio.api.access import admission, key_problem, route_limit
    from studio.api.guard import Guard, Policy
    from studio.api.routes import build_api
    from studio.app.context import open_store
    from studio.config import load_settings
    from studio.ui.app import CSS, build_app, theme, theme_js
    from studio.ui.uploads import RecordUploads, quiet_gradio_refusals

    settings = load_settings()
    store = open_store()
    hosts = trusted_hosts(listen)

    def policy() -> Policy:  # read for each request: a change in Settings applies at once
        s = load_settings()
        return Policy(trusted_hosts=hosts | {h.strip().lower() for h in s.trusted_hosts},
                      allowed_origins=list(s.allowed_origins),
                      body_limit=lambda method, path: route_limit(path, s.limits),
                      key_problem=lambda path, method, headers, client: key_problem(
                          store, path, headers, client, s.api_keys_on_loopback),
                      admission=lambda path, method, headers, client: admission(
                          store, path, method, headers, client, s.api_keys_on_loopback, s.api_queue_depth))

    outer = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # Gradio grants CORS to any page of its own accord unless the parent app configures
    # CORS; this one allows nothing, and the guard grants it to the listed origins (live)
    outer.add_middleware(CORSMiddleware, allow_origins=[])
    outer.add_middleware(RecordUploads)  # what the page received itself: the files it may read (ui/uploads.py)
    outer.add_middleware(Guard, policy=policy)  # added last: the outermost layer
    outer.mount("/api/v1", build_api(store))  # before the page's catch-all mount at /
    blocks = build_app()
    blocks.queue(default_concurrency_limit=2)
    gr.mount_gradio_app(
        outer, blocks, path="", auth=auth, max_file_size=settings.limits.max_upload_bytes,
        allowed_paths=[str(p) for p in served_dirs()], blocked_paths=[str(p) for p in blocked_paths()],
        show_error=False, theme=theme(), css_paths=[CSS], js=theme_js(settings.theme), footer_links=["api"])
    # Gradio checks that a FileData a request names was uploaded only once the Blocks has
    # "launched", which a mounted app never does; our own rule (ui/uploads.py) decides what a
    # handler opens, and this keeps Gradio from copying a named file into its cache first
    blocks.has_launched = True
    quiet_gradio_refusals()
    check_gradio_fetches()
    return outer, store


KEEP_ALIVE_S = 75  # nginx's default


def _more_open_files() -> None:
    """A burst of clients is a connection each: the soft limit on open files raised to the
    hard one (often 1024 of 4096 or more) where the system has such limits."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 65536 if hard == resource.RLIM_INFINITY else hard
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):  # Windows has no such limit; a refused raise changes nothing
        pass


def launch(port: int = 7860, listen: bool = False, auth: str | None = None, open_browser: bool = False,
           block: bool = True) -> Running:
    """Build and start the app; with block=False return it running (for tests and
    embedding). Raises ServeError for a LAN bind without credentials, a taken port or a
    data dir that cannot be used."""
    import threading
    import time

    import uvicorn

    host, creds = resolve_bind(listen, auth)
    from studio.config import data_dir
    from studio.store import StoreError

    # Gradio keeps uploads and outputs in its cache: put it inside the data dir's cache,
    # one of the few folders the app serves files from
    os.environ["GRADIO_TEMP_DIR"] = str(data_dir() / "cache" / "gradio")
    import sqlite3

    from studio.store import explain

    try:
        outer, store = build_server(listen, creds)
        from studio.api.server import attach

        worker = attach(store)  # runs the job API's jobs (and takes up those a stopped server left)
    except StoreError as exc:
        raise ServeError(str(exc)) from exc
    except sqlite3.DatabaseError as exc:  # damage found past opening
        raise ServeError(explain(exc, data_dir())) from exc
    _more_open_files()
    # An idle connection is kept longer than clients keep theirs (httpx: 5 s, uvicorn's
    # default too): a server closing one just as its client reuses it resets a request.
    server = uvicorn.Server(uvicorn.Config(outer, host=host, port=port, log_level="warning",
                                           timeout_keep_alive=KEEP_ALIVE_S))
    server.install_signal_handlers = lambda: None  # the main thread's Ctrl-C stops us (block_thread)
    thread = threading.Thread(target=server.run, name="studio-http", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            worker.stop()
            raise ServeError(f"port {port} on {host} is taken (or cannot be used); try --port {port + 1}")
        time.sleep(0.01)
    url = f"http://{'127.0.0.1' if host == '127.0.0.1' else host}:{port}"
    running = Running(server, thread, worker, url + "/")
    print(f"studio: serving on {url}  (data: {data_dir()})", flush=True)
    print(f"studio: job API on {url}/api/v1 (docs: /api/v1/docs)", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(f"http://127.0.0.1:{port}/")
    if block:
        running.block_thread()
    return running


def serve(port: int = 7860, listen: bool = False, auth: str | None = None, open_browser: bool = True) -> int:
    try:
        launch(port, listen, auth, open_browser)
    except KeyboardInterrupt:
        return 0
    except ServeError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    return 0
