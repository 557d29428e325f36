"""Who may call the job API, and how much a request may carry: the bearer key (a
route's dependency, and the guard's check before a body is read), the stand-in key
for this computer when keys are off there, and the body limit of each route."""

from __future__ import annotations

import secrets
import time

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from studio.api import keys as api_keys
from studio.api.errors import ApiError
from studio.store import Store

LOOPBACK = ("127.0.0.1", "::1")
NEEDS_NO_KEY = ("/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs")
MB = 1024 * 1024

bearer = HTTPBearer(auto_error=False, scheme_name="bearerAuth",
                    description="An API key: `studio api-key create NAME` (or Settings → Job API keys).")


def key_of(store: Store, token: str, client_host: str, keys_on_loopback: bool) -> api_keys.ApiKey:
    """The key a call was made with; from this computer, when the settings say keys are
    not needed there, a stand-in key. ApiError 401 otherwise."""
    if token:
        key = api_keys.verify(store, token)
        if key is None:
            raise ApiError(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        return key
    if client_host in LOOPBACK and not keys_on_loopback:
        return _loopback_key(store)
    raise ApiError(401, "an API key is needed: Authorization: Bearer <key> (studio api-key create NAME)",
                   headers={"WWW-Authenticate": "Bearer"})


def caller(request: Request,
           credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> api_keys.ApiKey:  # noqa: B008
    """The key the call was made with (a route's dependency)."""
    from studio.config import load_settings

    client = request.client.host if request.client else ""
    token = credentials.credentials.strip() if credentials else ""
    return key_of(request.app.state.store, token, client, load_settings().api_keys_on_loopback)


def key_problem(store: Store, path: str, headers: dict, client_host: str, keys_on_loopback: bool
                ) -> tuple[int, str] | None:
    """For the server's guard, before a body is read: (401, why) when a job-API call
    lacks a valid key."""
    if not path.startswith("/api/v1/") or path in NEEDS_NO_KEY:
        return None
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    try:
        key_of(store, token.strip() if scheme.lower() == "bearer" else "", client_host, keys_on_loopback)
    except ApiError as exc:
        return exc.status, exc.message
    return None


def admission(store: Store, path: str, method: str, headers: dict, client_host: str, keys_on_loopback: bool,
              depth: int) -> tuple[int, str, dict] | None:
    """For the server's guard, before a body is read: (429 or 507, why, headers) when a
    submission's key has no room left in its queue (`studio.api.admission`)."""
    from studio.api.admission import admission_problem, submits
    from studio.config import data_dir

    if not submits(path, method):
        return None
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    try:
        key = key_of(store, token.strip() if scheme.lower() == "bearer" else "", client_host, keys_on_loopback)
    except ApiError:
        return None  # the key's own check answers
    return admission_problem(store, key.id, path, method, depth, data_dir())


def route_limit(path: str, limits) -> int:
    """The most bytes a request's body may have: a batch's photos (or a page upload of
    several), a shoot's photo with its backdrop and reference, or a JSON call."""
    if path == "/api/v1/batches" or path.startswith("/gradio_api/upload"):
        return limits.max_batch_bytes
    if path in ("/api/v1/shoots", "/api/v1/cutouts"):
        return 3 * limits.max_upload_bytes + MB
    if path.startswith("/api/v1/"):
        return MB
    return 32 * MB


_LOOPBACK_KEY_NAME = "(this computer)"


def _loopback_key(store: Store) -> api_keys.ApiKey:
    """The stand-in key for calls from this computer when keys are off there: a real row
    (jobs need an owner) that no bearer token matches."""
    row = store.one("SELECT id, name, webhook_secret FROM api_keys WHERE name = ? AND hash = ?",
                    (_LOOPBACK_KEY_NAME, "loopback"))
    if row is None:
        with store.tx() as conn:
            conn.execute("INSERT OR IGNORE INTO api_keys(id, name, hash, webhook_secret, created_at) VALUES (?,?,?,?,?)",
                         ("loopback", _LOOPBACK_KEY_NAME, "loopback", "whsec_" + secrets.token_urlsafe(24),
                          time.time()))
        row = store.one("SELECT id, name, webhook_secret FROM api_keys WHERE id = 'loopback'")
    return api_keys.ApiKey(row["id"], row["name"], row["webhook_secret"])
