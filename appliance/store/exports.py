"""The catalog's side of USB export (appliance/export/): the recordings an export may take, and
which call each stick has already taken (the `exported` table, migration v8)."""
from __future__ import annotations

from typing import Any

import sqlite_utils

from . import db as dbmod, times
from .kinds import WITH_FILE, placeholders


def recordings(db: sqlite_utils.Database, *, since: str | None = None, until: str | None = None,
               line: int | None = None) -> list[dict[str, Any]]:
    """The calls with a recording (complete or recovered, a file and its SHA-256) that started
    in [since, until) (UTC ISO; None: no bound), on one line or all, oldest first."""
    where = [f"status IN ({placeholders(WITH_FILE)})", "path IS NOT NULL", "sha256 IS NOT NULL"]
    params: list[Any] = [*WITH_FILE]
    for clause, value in (("started_at >= ?", since), ("started_at < ?", until), ("line = ?", line)):
        if value is not None:
            where.append(clause)
            params.append(value)
    return list(db.query(f"SELECT * FROM calls WHERE {' AND '.join(where)} ORDER BY started_at, part, rowid",
                         params))


def taken_by(db: sqlite_utils.Database, stick: str) -> set[str]:
    """The ids of the calls an earlier export copied (and verified) onto this stick."""
    return {r[0] for r in db.execute("SELECT call_id FROM exported WHERE stick = ?", [stick])}


def mark_taken(db: sqlite_utils.Database, stick: str, call_id: str, file: str, sha256: str) -> None:
    """This call is now on this stick, verified, as `file` (under Hookline/)."""
    with dbmod.immediate(db):
        db.execute("INSERT OR REPLACE INTO exported (stick, call_id, file, sha256, at) VALUES (?, ?, ?, ?, ?)",
                   [stick, call_id, file, sha256, times.now()])


def line_free_since(db: sqlite_utils.Database, call: dict[str, Any]) -> str | None:
    """When the call's line last ended another call before this one started (None: never): the
    line's events before then belong to that call, not to this one (the access package)."""
    row = db.execute("SELECT max(ended_at) FROM calls WHERE line = ? AND id != ? AND started_at < ? "
                     "AND ended_at IS NOT NULL AND ended_at <= ?",
                     [call["line"], call["id"], call["started_at"], call["started_at"]]).fetchone()
    return row[0] if row else None
