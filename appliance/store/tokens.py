"""API tokens: random, shown once, kept only as their SHA-256, each bound to one user row.

The table's own work, by user id (appliance.store.users resolves names and checks who may have
one, as sessions.py is to web logins). A token works while it is not revoked and its user is
enabled; disabling a user, a new password and removing a user revoke (or delete) them for good.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import sqlite_utils

from . import db as dbmod
from .times import iso, seconds

TOKEN_PREFIX = "hl_"
TOKEN_TOUCH_S = 60            # last_used_at is written at most this often per token
MAX_TOKEN = 200               # longer is not one of ours: not even hashed

_SELECT = ("SELECT t.id, u.name AS user, t.name, t.prefix, t.created_at, t.last_used_at, t.revoked_at "
           "FROM tokens t JOIN users u ON u.id = t.user_id")


def _token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _now() -> float:
    return time.time()


def add(db: sqlite_utils.Database, user_id: int, label: str) -> tuple[int, str]:
    """A new token for this user: (token id, the token), inside the caller's transaction. The
    token is not kept: show it now."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    cursor = db.execute("INSERT INTO tokens (user_id, name, prefix, token_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                        [user_id, label, token[:8], _token_hash(token), iso(_now())])
    return cursor.lastrowid, token


def user_id_for(db: sqlite_utils.Database, plaintext: Any) -> int | None:
    """The id of the enabled user whose unrevoked token this is, or None. Notes that it was used
    (at most every TOKEN_TOUCH_S), in a transaction of its own."""
    if not isinstance(plaintext, str) or not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > MAX_TOKEN:
        return None
    digest = _token_hash(plaintext)
    rows = list(db.query("SELECT t.id, t.user_id, t.token_hash, t.last_used_at FROM tokens t "
                         "JOIN users u ON u.id = t.user_id "
                         "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.disabled = 0", [digest]))
    if not rows or not hmac.compare_digest(rows[0]["token_hash"], digest):
        return None
    row = rows[0]
    now = _now()
    if row["last_used_at"] is None or now - seconds(row["last_used_at"]) >= TOKEN_TOUCH_S:
        with dbmod.immediate(db):
            db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", [iso(now), row["id"]])
    return row["user_id"]


def _token_dict(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "user": row["user"], "label": row["name"], "name": row["name"],
            "prefix": row["prefix"], "created_at": row["created_at"], "last_used_at": row["last_used_at"],
            "revoked_at": row["revoked_at"]}


def list_tokens(db: sqlite_utils.Database, user_id: int | None = None) -> list[dict[str, Any]]:
    """Tokens (never the token itself), every user's or one user's: id, user (the name), label
    (also as name), prefix, created_at, last_used_at, revoked_at; newest first."""
    if user_id is None:
        rows = db.query(_SELECT + " ORDER BY t.id DESC")
    else:
        rows = db.query(_SELECT + " WHERE t.user_id = ? ORDER BY t.id DESC", [user_id])
    return [_token_dict(r) for r in rows]


def get_token(db: sqlite_utils.Database, token_id: int) -> dict[str, Any] | None:
    rows = list(db.query(_SELECT + " WHERE t.id = ?", [token_id]))
    return _token_dict(rows[0]) if rows else None


def revoke_token(db: sqlite_utils.Database, token_id: int) -> bool:
    """Revoke a token: True if it was in use until now, False if unknown or revoked already."""
    with dbmod.immediate(db):
        cursor = db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                            [iso(_now()), token_id])
    return cursor.rowcount == 1


def revoke_all(db: sqlite_utils.Database, user_id: int) -> int:
    """Inside the caller's transaction: revoke every token of this user; how many were in use."""
    return db.execute("UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                      [iso(_now()), user_id]).rowcount


def delete_all(db: sqlite_utils.Database, user_id: int) -> None:
    """Inside the caller's transaction: forget every token of this user (the user is removed)."""
    db.execute("DELETE FROM tokens WHERE user_id = ?", [user_id])
