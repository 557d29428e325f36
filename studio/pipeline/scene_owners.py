"""Who a backdrop scene made from job-API uploads belongs to (the `scene_owners` table):
one row per key that sent its photo. A scene without a row is the seller's own (made on
the page, by the CLI, or written by hand): every key may shoot on it, and no retention
rule ever removes it."""

from __future__ import annotations

import json
import sqlite3
import time

from studio.store import Store


def add_owner(conn: sqlite3.Connection, scene_id: str, key_id: str) -> None:
    """`key_id` owns `scene_id` too (in the caller's transaction: it is undone with it)."""
    conn.execute("INSERT OR IGNORE INTO scene_owners(scene_id, key_id, created_at) VALUES (?,?,?)",
                 (scene_id, key_id, time.time()))


def owners(store: Store, scene_id: str) -> set[str]:
    return {r["key_id"] for r in store.query("SELECT key_id FROM scene_owners WHERE scene_id = ?", (scene_id,))}


def all_owned(store: Store) -> dict[str, set[str]]:
    """Every scene made from API uploads: its owners' key ids."""
    out: dict[str, set[str]] = {}
    for r in store.query("SELECT scene_id, key_id FROM scene_owners"):
        out.setdefault(r["scene_id"], set()).add(r["key_id"])
    return out


def owned_since(store: Store) -> dict[str, float]:
    """Each API-made scene: when its newest owner row was made."""
    return {r["scene_id"]: r["at"] for r in
            store.query("SELECT scene_id, MAX(created_at) AS at FROM scene_owners GROUP BY scene_id")}


def scene_use(store: Store) -> tuple[dict[str, float], set[str]]:
    """(when a job last used each scene, the scenes a job or catalog batch that has not
    ended uses)."""
    last: dict[str, float] = {}
    live: set[str] = set()
    for r in store.query("SELECT params, status, created_at FROM jobs WHERE recipe = 'shoot'"):
        scene = json.loads(r["params"]).get("scene")
        if not isinstance(scene, str):
            continue
        last[scene] = max(last.get(scene, 0.0), r["created_at"])
        if r["status"] not in ("done", "failed", "cancelled"):
            live.add(scene)
    # a catalog batch that has not ended: its items not yet made into jobs will use theirs
    for r in store.query("SELECT b.options, i.spec FROM batch_items i JOIN batches b ON b.id = i.batch_id "
                         "WHERE i.status = 'pending' AND b.status NOT IN ('done', 'cancelled')"):
        for text in (r["spec"], r["options"]):
            scene = json.loads(text).get("scene")
            if isinstance(scene, str):
                live.add(scene)
    return last, live


def drop(store: Store, scene_id: str) -> None:
    with store.tx() as conn:
        conn.execute("DELETE FROM scene_owners WHERE scene_id = ?", (scene_id,))
