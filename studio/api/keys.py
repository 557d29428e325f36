"""API keys: made once and shown once; only their SHA-256 is stored. Each key has its
own webhook secret, which signs the callbacks of the jobs submitted with it."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from studio.store import Store

PREFIX = "sk_studio_"
TOUCH_S = 60.0


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    webhook_secret: str


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create(store: Store, name: str) -> tuple[str, str, str]:
    """(id, key, webhook secret) of a new key named `name`. The key is not kept."""
    name = name.strip()
    if not name or len(name) > 80:
        raise ValueError("a key needs a name of 1 to 80 characters")
    key = PREFIX + secrets.token_urlsafe(32)
    key_id, secret = secrets.token_hex(6), "whsec_" + secrets.token_urlsafe(24)
    with store.tx() as conn:
        conn.execute("INSERT INTO api_keys(id, name, hash, webhook_secret, created_at) VALUES (?,?,?,?,?)",
                     (key_id, name, _hash(key), secret, time.time()))
    return key_id, key, secret


def verify(store: Store, key: str) -> ApiKey | None:
    """The key's record when it is known and not revoked (looked up by hash)."""
    if not key.startswith(PREFIX):
        return None
    row = store.one("SELECT id, name, webhook_secret, last_used_at FROM api_keys WHERE hash = ? AND "
                    "revoked_at IS NULL", (_hash(key),))
    if row is None:
        return None
    now = time.time()
    # a write takes the database's lock, which the server's event loop would wait on behind
    # every job being queued: "last used" is kept to the minute
    if (row["last_used_at"] or 0) < now - TOUCH_S:
        store.conn.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, row["id"]))
    return ApiKey(row["id"], row["name"], row["webhook_secret"])


def list_keys(store: Store) -> list[dict]:
    """Every key's id, name and dates: never the key, its hash or its secret."""
    rows = store.query("SELECT id, name, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at")
    return [dict(r) for r in rows]


def revoke(store: Store, key_id: str) -> bool:
    with store.tx() as conn:
        cur = conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                           (time.time(), key_id))
    return cur.rowcount > 0
