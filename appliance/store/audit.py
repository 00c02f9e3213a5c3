"""The audit log: who listened to, downloaded, deleted, held or changed what, and when.

Append-only (triggers refuse UPDATE and DELETE) and hash-chained: each entry stores the SHA-256
of the previous entry's hash and its own canonical content, so an entry edited or deleted behind
the triggers' back shows up in verify() as the first entry whose hash no longer matches.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import sqlite_utils

from . import db as dbmod
from .times import iso

# The actions written by Hookline (the web app and the `hookline` command).
ACTIONS = ("login", "login-failed", "logout", "listen", "download", "delete", "hold", "release", "note",
           "settings", "user-add", "user-change", "user-remove", "token-create", "token-revoke", "export",
           "evidence-export",
           "recover", "dnr-add", "dnr-remove", "announcement", "pause", "resume", "erase",
           "export-cancel", "store-repair")

GENESIS = "0" * 64          # the prev_hash of the first entry
MAX_LIMIT = 1000


def _detail_text(detail: dict[str, Any] | None) -> str:
    if detail is not None and not isinstance(detail, dict):
        raise TypeError("audit detail must be a dict")
    # default=str: a date or a Path in the detail is written as its text rather than refused.
    return json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, at: str, user: str | None, action: str, target: str | None,
               detail_text: str, remote_addr: str | None) -> str:
    """SHA-256 (hex) over the previous hash and a canonical JSON of the entry's content."""
    canonical = json.dumps({"at": at, "user": user, "action": action, "target": target,
                            "detail": json.loads(detail_text), "remote_addr": remote_addr},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def append(db: sqlite_utils.Database, action: str, *, user: str | None = None, target: str | None = None,
           detail: dict[str, Any] | None = None, remote_addr: str | None = None,
           at: float | None = None) -> int:
    """Add an entry (user: a web user's name, "console:OS-USER" for the `hookline` command, None for
    the box itself); returns its id.

    Runs in its own BEGIN IMMEDIATE transaction, or inside the caller's if one is open (so a
    change and its audit entry can commit together: open it with dbmod.immediate)."""
    if not isinstance(action, str) or not action:
        raise ValueError("audit action must be a non-empty string")
    detail_text = _detail_text(detail)
    stamp = iso(time.time() if at is None else at)
    if db.conn.in_transaction:
        return _append(db, action, user, target, detail_text, remote_addr, stamp)
    with dbmod.immediate(db):
        return _append(db, action, user, target, detail_text, remote_addr, stamp)


def _append(db, action, user, target, detail_text, remote_addr, stamp) -> int:
    last = db.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev_hash = last[0] if last else GENESIS
    digest = entry_hash(prev_hash, stamp, user, action, target, detail_text, remote_addr)
    cursor = db.execute("INSERT INTO audit (at, user, action, target, detail, remote_addr, prev_hash, hash) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [stamp, user, action, target, detail_text, remote_addr, prev_hash, digest])
    return cursor.lastrowid


def entries(db: sqlite_utils.Database, *, user: str | None = None, action: str | None = None,
            target: str | None = None, before_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Entries newest first, optionally only one user's, action's or target's; page with
    before_id = the last id of the previous page."""
    where, params = [], []
    for column, value in (("user", user), ("action", action), ("target", target)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if before_id is not None:
        where.append("id < ?")
        params.append(int(before_id))
    sql = "SELECT id, at, user, action, target, detail, remote_addr, prev_hash, hash FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(max(1, min(int(limit), MAX_LIMIT)))
    return [{**r, "detail": json.loads(r["detail"])} for r in db.query(sql, params)]


def entries_naming(db: sqlite_utils.Database, call_ids: list[str]) -> list[dict[str, Any]]:
    """The entries whose target is one of these calls or whose detail names one (an export's or a
    batch delete's list of ids), oldest first, stored as they are (their hashes still check)."""
    if not call_ids:
        return []
    ids = json.dumps(sorted(set(call_ids)))
    sql = ("SELECT id, at, user, action, target, detail, remote_addr, prev_hash, hash FROM audit WHERE "
           "target IN (SELECT value FROM json_each(?)) OR EXISTS (SELECT 1 FROM json_each(?) j "
           "WHERE instr(audit.detail, '\"' || j.value || '\"') > 0) ORDER BY id")
    return [{**r, "detail": json.loads(r["detail"])} for r in db.query(sql, [ids, ids])]


def count(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM audit").fetchone()[0]


def verify(db: sqlite_utils.Database) -> int | None:
    """The id of the first entry that does not match the chain (edited, or the one after a
    deleted entry), or None when the whole chain is intact."""
    expected_prev = GENESIS
    for row in db.execute("SELECT id, at, user, action, target, detail, remote_addr, prev_hash, hash "
                          "FROM audit ORDER BY id"):
        entry_id, at, user, action, target, detail_text, remote_addr, prev_hash, digest = row
        try:
            computed = entry_hash(prev_hash, at, user, action, target, detail_text, remote_addr)
        except (TypeError, ValueError):          # detail no longer JSON, or a value of the wrong type
            return entry_id
        if prev_hash != expected_prev or computed != digest:
            return entry_id
        expected_prev = digest
    return None


def entry_summary(db: sqlite_utils.Database, entry_id: int) -> tuple[str, str, str | None] | None:
    """An entry's (at, action, target), to name it in a message; None when there is no such entry."""
    row = db.execute("SELECT at, action, target FROM audit WHERE id = ?", [entry_id]).fetchone()
    return tuple(row) if row else None
