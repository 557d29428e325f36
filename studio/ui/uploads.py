"""The one rule for files the page reads on a visitor's behalf: only files Studio itself
received through the page's upload route while this server runs (and the sample photo it
made itself). A path a request names is never opened, wherever it lies.

Provenance, not location: a mounted Gradio app skips Gradio's own allowed-path check (it
returns early while `blocks.has_launched` is False), and Gradio copies whatever path a
request names into its upload cache before a handler sees it, so "it is in the cache"
proves nothing. What proves an upload is the upload route's own answer, which
`RecordUploads` (ASGI, around the page) writes down here.

Every page endpoint that takes a file or a path asks `page_file`; its refusal is the same
sentence whether the path exists, is a folder, or is not a photo, so it says nothing
about the disk."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

UPLOAD_ROUTE = "/gradio_api/upload"
MAX_ANSWER = 1024 * 1024  # the upload route answers with a short list of paths

log = logging.getLogger(__name__)
_lock = threading.Lock()
_received: set[str] = set()


class NotUploaded(ValueError):
    """A path the page was given but did not receive itself."""


def _key(path: str | Path) -> str:
    return os.path.realpath(os.fspath(path))


def receive(paths: Iterable[str | Path]) -> None:
    """Remember files Studio received through its upload route (or made itself for the page)."""
    with _lock:
        _received.update(_key(p) for p in paths)


def received(path: str | Path) -> bool:
    try:
        key = _key(path)
    except (TypeError, ValueError):  # not a path at all (a number, a NUL byte)
        return False
    with _lock:
        return key in _received


def refusal(ask: str = "Upload the photo on this page") -> str:
    return f"{ask}: the page opens only files uploaded to it."


def page_file(path: object, ask: str = "Upload the photo on this page") -> Path:
    """`path` when the page received it itself; NotUploaded saying `ask` otherwise (the
    same whatever is or is not at that path)."""
    if not isinstance(path, str | Path) or not str(path) or not received(path):
        raise NotUploaded(refusal(ask))
    return Path(path)


def quiet_gradio_refusals() -> None:
    """Gradio refuses a file a request names but did not upload before any handler runs,
    and prints a full traceback for each (with the path, as Gradio resolved it): one log
    line instead, and the visitor gets the page's one sentence, which names no path."""
    import gradio as gr
    from gradio import processing_utils
    from gradio.exceptions import InvalidPathError

    check = processing_utils._check_allowed
    if getattr(check, "studio_quiet", False):
        return

    def quiet(path, check_in_upload_folder: bool):
        try:
            check(path, check_in_upload_folder)
        except InvalidPathError:
            if not check_in_upload_folder:  # a file the app itself returns: a bug worth its traceback
                raise
            log.warning("page: refused a file a request named but did not upload: %.200r", str(path))
            raise gr.Error(refusal("Upload the file on this page"), print_exception=False) from None

    quiet.studio_quiet = True
    processing_utils._check_allowed = quiet  # looked up in the module at each call


class RecordUploads:
    """ASGI middleware: writes down the files Gradio's upload route says it stored."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive_, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != UPLOAD_ROUTE:
            await self.app(scope, receive_, send)
            return
        status, body = 0, bytearray()

        async def watching(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and len(body) < MAX_ANSWER:
                body.extend(message.get("body", b""))
                if not message.get("more_body") and status == 200:
                    _record_answer(bytes(body))
            await send(message)

        await self.app(scope, receive_, watching)


def _record_answer(body: bytes) -> None:
    try:
        paths = json.loads(body)
    except ValueError:
        return
    if isinstance(paths, list):
        receive(p for p in paths if isinstance(p, str))
