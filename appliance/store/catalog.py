"""The catalog of calls and the line events log: the queries everything else uses."""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from typing import Any

import sqlite_utils

from . import db as dbmod

# The fields of `hookline calls --json` (spec/scenario.md), in order.
CALL_FIELDS = ("id", "line", "direction", "started_at", "ended_at", "duration_s", "remote_number",
               "remote_name", "remote_withheld", "dialed", "status", "path", "size_bytes", "sha256",
               "preroll_s")
EXTRA_FIELDS = ("part", "previous_id", "audio_s", "clock_synced", "sample_rate", "bitrate_kbps",
                "held", "note", "deleted_at")


def iso(ts: float) -> str:
    """UTC ISO-8601 with milliseconds and a Z, as every timestamp in the catalog."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_call_id() -> str:
    return secrets.token_hex(5)


def create_call(db: sqlite_utils.Database, row: dict[str, Any]) -> None:
    row = dict(row)
    row.setdefault("created_at", iso(datetime.now(timezone.utc).timestamp()))
    columns = ", ".join(f'"{name}"' for name in row)
    with dbmod.immediate(db):
        db.execute(f"INSERT INTO calls ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def update_call(db: sqlite_utils.Database, call_id: str, **fields: Any) -> None:
    assignments = ", ".join(f'"{name}" = ?' for name in fields)
    with dbmod.immediate(db):
        db.execute(f"UPDATE calls SET {assignments} WHERE id = ?", [*fields.values(), call_id])


def get_call(db: sqlite_utils.Database, call_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM calls WHERE id = ?", [call_id]))
    return rows[0] if rows else None


def unfinished_calls(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM calls WHERE status = 'recording' ORDER BY started_at"))


def public_call(row: dict[str, Any]) -> dict[str, Any]:
    """A catalog row as `hookline calls --json` shows it."""
    out = {k: row.get(k) for k in CALL_FIELDS}
    out["remote_withheld"] = bool(row.get("remote_withheld"))
    for k in EXTRA_FIELDS:
        out[k] = row.get(k)
    out["clock_synced"] = bool(row.get("clock_synced"))
    out["held"] = bool(row.get("held"))
    return out


def list_calls(db: sqlite_utils.Database, line: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM calls"
    params: list[Any] = []
    if line is not None:
        sql += " WHERE line = ?"
        params.append(line)
    sql += " ORDER BY started_at, part, rowid"   # rowid: the order the calls were recorded in
    return [public_call(r) for r in db.query(sql, params)]


def log_event(db: sqlite_utils.Database, line: int | None, kind: str, at: float,
              call_id: str | None = None, **detail: Any) -> None:
    db["call_events"].insert({"line": line, "call_id": call_id, "at": iso(at), "kind": kind,
                              "detail": json.dumps(detail, sort_keys=True)})


def list_events(db: sqlite_utils.Database, line: int | None = None,
                call_id: str | None = None) -> list[dict[str, Any]]:
    where, params = [], []
    if line is not None:
        where.append("line = ?")
        params.append(line)
    if call_id is not None:
        where.append("call_id = ?")
        params.append(call_id)
    sql = "SELECT line, call_id, at, kind, detail FROM call_events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY at, id"
    return [{**r, "detail": json.loads(r["detail"])} for r in db.query(sql, params)]
