"""Start the app: bind, auth, limits, the files it may serve."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from studio.paths import inside


class ServeError(ValueError):
    pass


# What the page needs from the data dir: exported files, batch outputs, and the cache
# (Gradio's upload cache, scene and batch thumbnails). Never `secrets/`, `settings.json`,
# `studio.db`, `artifacts/`, `models/` or `uploads/`.
SERVED = ("exports", "batches", "cache")
NEVER = ("secrets", "settings.json", "studio.db", "studio.db-wal", "studio.db-shm", "artifacts", "models", "uploads",
         "backups")


def served_dirs() -> list[Path]:
    from studio.config import data_dir

    root = data_dir()
    for name in SERVED:
        (root / name).mkdir(parents=True, exist_ok=True)
    return [root / name for name in SERVED]


def blocked_paths() -> list[Path]:
    """Blocked even if a served folder were a link into them (Gradio checks these first)."""
    from studio.config import data_dir

    root = data_dir()
    return [root / name for name in NEVER]


def is_served(path: Path) -> bool:
    return any(inside(path, d) for d in served_dirs())


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


def launch(port: int = 7860, listen: bool = False, auth: str | None = None, open_browser: bool = False,
           block: bool = True):
    """Build and start the app; with block=False return it running (for tests and
    embedding). Raises ServeError for a LAN bind without credentials."""
    host, creds = resolve_bind(listen, auth)
    from studio.config import data_dir, load_settings

    # Gradio keeps uploads and outputs in its cache: put it inside the data dir's cache,
    # one of the few folders the app serves files from
    os.environ["GRADIO_TEMP_DIR"] = str(data_dir() / "cache" / "gradio")
    from studio.ui.app import CSS, build_app, theme, theme_js

    settings = load_settings()
    app = build_app()
    app.queue(default_concurrency_limit=2)
    print(f"studio: serving on http://{host}:{port}  (data: {data_dir()})", flush=True)
    app.launch(
        server_name=host,
        server_port=port,
        auth=creds,
        inbrowser=open_browser,
        max_file_size=settings.limits.max_upload_bytes,
        allowed_paths=[str(p) for p in served_dirs()],
        blocked_paths=[str(p) for p in blocked_paths()],
        show_error=False,
        quiet=True,
        theme=theme(),
        css_paths=[CSS],
        js=theme_js(settings.theme),
        footer_links=["api"],
        prevent_thread_lock=True,
    )
    # the job API (/api/v1) and the worker that runs its jobs, on the same server
    from studio.api.server import attach
    from studio.app.context import open_store

    app.studio_worker = worker = attach(app, open_store())
    close = app.close

    def close_and_stop(*args, **kwargs):  # closing the app (tests, embedding) stops its worker too
        worker.stop()
        return close(*args, **kwargs)

    app.close = close_and_stop
    print(f"studio: job API on http://{host}:{port}/api/v1 (docs: /api/v1/docs)", flush=True)
    if block:
        try:
            app.block_thread()
        finally:
            app.studio_worker.stop()
    return app


def serve(port: int = 7860, listen: bool = False, auth: str | None = None, open_browser: bool = True) -> int:
    try:
        launch(port, listen, auth, open_browser)
    except ServeError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    return 0
