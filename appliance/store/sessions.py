"""Web logins kept on the box: each session is a random key, bound to one user row, that the
signed cookie carries. Only the key's SHA-256 is stored, so a copy of the catalog opens no
session. A session ends at logout, when it expires (an absolute lifetime, however busy it is),
when its user's password changes, and when the user is disabled or removed; nothing a removed
user held can ever name another user.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlite_utils

from . import db as dbmod
from .times import iso

LIFETIME_S = 12 * 3600        # a login lasts this long, then the person logs in again
TOUCH_S = 60                  # last_seen_at is written at most this often per session
KEY_BYTES = 32
MAX_KEY = 100                 # longer is not one of ours: not even hashed
USER_AGENT_MAX = 200


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> float:
    return time.time()


def start(db: sqlite_utils.Database, user_id: int, *, remote_addr: str | None = None,
          user_agent: str | None = None, lifetime_s: float = LIFETIME_S) -> str:
    """A new session for this user; returns its key (for the cookie only: it is not kept).
    Sessions past their end are cleared out on the way. Runs inside the caller's transaction when
    one is open (users.check_login starts one where it saw the password right)."""
    key = secrets.token_urlsafe(KEY_BYTES)
    now = _now()
    agent = (user_agent or "")[:USER_AGENT_MAX] or None
    with _transaction(db):
        db.execute("DELETE FROM sessions WHERE expires_at <= ?", [iso(now)])
        db.execute("INSERT INTO sessions (key_hash, user_id, created_at, expires_at, last_seen_at, remote_addr, "
                   "user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [_key_hash(key), user_id, iso(now), iso(now + lifetime_s), iso(now),
                    remote_addr, agent])
    return key


@contextmanager
def _transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """The caller's open transaction, or a write transaction of our own."""
    if db.conn.in_transaction:
        yield
    else:
        with dbmod.immediate(db):
            yield


def user_id_for(db: sqlite_utils.Database, key: Any, *, touch: bool = True) -> int | None:
    """The id of the enabled user whose live session this key is, or None. touch: note that it
    was seen (at most every TOUCH_S), in a transaction of its own."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        return None
    now = _now()
    rows = list(db.query("SELECT s.id, s.user_id, s.expires_at, s.last_seen_at FROM sessions s "
                         "JOIN users u ON u.id = s.user_id WHERE s.key_hash = ? AND u.disabled = 0",
                         [_key_hash(key)]))
    if not rows or rows[0]["expires_at"] <= iso(now):
        return None
    row = rows[0]
    if touch and row["last_seen_at"] <= iso(now - TOUCH_S):
        with dbmod.immediate(db):
            db.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", [iso(now), row["id"]])
    return row["user_id"]


def end(db: sqlite_utils.Database, key: Any) -> bool:
    """End one session (logout): True if it was live."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        return False
    with dbmod.immediate(db):
        return db.execute("DELETE FROM sessions WHERE key_hash = ?", [_key_hash(key)]).rowcount == 1


def end_all(db: sqlite_utils.Database, user_id: int, *, keep: str | None = None) -> int:
    """End every session of this user but `keep` (a key); returns how many ended. Runs inside the
    caller's transaction when one is open, so it commits with the change that caused it."""
    sql, params = "DELETE FROM sessions WHERE user_id = ?", [user_id]
    if keep:
        sql += " AND key_hash != ?"
        params.append(_key_hash(keep))
    with _transaction(db):
        return db.execute(sql, params).rowcount


def list_for(db: sqlite_utils.Database, user_id: int, *, current: str | None = None) -> list[dict[str, Any]]:
    """The user's live sessions, newest first: id, created_at, last_seen_at, expires_at,
    remote_addr, user_agent, current (this request's own)."""
    mine = _key_hash(current) if isinstance(current, str) and current else None
    rows = db.query("SELECT id, key_hash, created_at, last_seen_at, expires_at, remote_addr, user_agent "
                    "FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY id DESC",
                    [user_id, iso(_now())])
    return [{**{k: v for k, v in r.items() if k != "key_hash"}, "current": r["key_hash"] == mine} for r in rows]
