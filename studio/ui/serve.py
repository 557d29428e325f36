"""Start the app: bind, auth, limits."""

from __future__ import annotations

import os
import sys


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


def serve(port: int = 7860, listen: bool = False, auth: str | None = None, open_browser: bool = True) -> int:
    try:
        host, creds = resolve_bind(listen, auth)
    except ServeError as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 2
    from studio.config import data_dir, load_settings
    from studio.ui.app import build_app

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
        allowed_paths=[str(data_dir())],
        show_error=False,
        quiet=True,
    )
    return 0
