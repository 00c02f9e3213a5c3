"""The catalog of calls and the line events log: the queries everything else uses."""
from __future__ import annotations

import json
import secrets
from typing import Any

import sqlite_utils

from . import db as dbmod, times
from .kinds import LINE_CONTEXT, NOT_KEPT_BECAUSE, WITH_FILE, Status, placeholders
from .times import iso  # also as catalog.iso, for the line code and the CLI

# The fields of `hookline calls --json` (spec/scenario.md), in order.
CALL_FIELDS = ("id", "line", "direction", "started_at", "ended_at", "duration_s", "remote_number",
               "remote_name", "remote_withheld", "dialed", "status", "path", "size_bytes", "sha256",
               "preroll_s")
EXTRA_FIELDS = ("part", "previous_id", "audio_s", "clock_synced", "sample_rate", "bitrate_kbps",
                "held", "note", "deleted_at", "cut_short")


def new_call_id() -> str:
    return secrets.token_hex(5)


def create_call(db: sqlite_utils.Database, row: dict[str, Any]) -> None:
    row = dict(row)
    row.setdefault("created_at", times.now())
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


def get_calls(db: sqlite_utils.Database, call_ids: list[str]) -> list[dict[str, Any]]:
    """The calls with these ids, in the order given (unknown ids are left out)."""
    rows = {r["id"]: r for r in db.query(f"SELECT * FROM calls WHERE id IN ({placeholders(call_ids)})", call_ids)}
    return [rows[i] for i in call_ids if i in rows]


def unfinished_calls(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM calls WHERE status = ? ORDER BY started_at", [Status.RECORDING]))


def next_part(db: sqlite_utils.Database, call_id: str) -> dict[str, Any] | None:
    """The part that continues this call (split by max_call_s or an outage), or None."""
    rows = list(db.query("SELECT * FROM calls WHERE previous_id = ? LIMIT 1", [call_id]))
    return rows[0] if rows else None


def line_ids(db: sqlite_utils.Database) -> list[int]:
    """The lines that have calls: a skip through the (line, started_at) index, not a scan of a
    million rows."""
    return [r[0] for r in db.execute(
        "WITH RECURSIVE l(n) AS (SELECT min(line) FROM calls UNION ALL "
        "SELECT (SELECT min(line) FROM calls WHERE line > n) FROM l WHERE n IS NOT NULL) "
        "SELECT n FROM l WHERE n IS NOT NULL")]


def calls_since(db: sqlite_utils.Database, since: str, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """Calls that started at or after `since` (UTC ISO): how many, and the newest `limit` of them."""
    count = db.execute("SELECT count(*) FROM calls WHERE started_at >= ?", [since]).fetchone()[0]
    rows = db.query("SELECT * FROM calls WHERE started_at >= ? ORDER BY started_at DESC, rowid DESC LIMIT ?",
                    [since, limit])
    return count, [public_call(r) for r in rows]


def recorded_since(db: sqlite_utils.Database, since: str) -> tuple[int, str | None]:
    """The bytes of the recordings (complete or recovered) of the calls that started at or after
    `since`, and when the first of them started (None: there are none)."""
    row = db.execute(f"SELECT coalesce(sum(size_bytes), 0), min(started_at) FROM calls "
                     f"WHERE started_at >= ? AND status IN ({placeholders(WITH_FILE)})",
                     [since, *WITH_FILE]).fetchone()
    return row[0], row[1]


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


def _detail(text: str) -> dict[str, Any]:
    """An event's detail as a dict; {} when a row holds anything else (a tampered catalog)."""
    try:
        detail = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return detail if isinstance(detail, dict) else {}


def reasons_not_kept(db: sqlite_utils.Database, call_ids: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """call id -> (kind, detail) of the 'discard' or 'deleted' event that says why it has no
    recording (the last one that gives a reason; present.reasons words it); calls with no reason
    are left out. One query for all of them."""
    reasons: dict[str, tuple[str, dict[str, Any]]] = {}
    if not call_ids:
        return reasons
    for row in db.query(f"SELECT call_id, kind, detail FROM call_events WHERE kind IN "
                        f"({placeholders(NOT_KEPT_BECAUSE)}) AND call_id IN ({placeholders(call_ids)}) ORDER BY id",
                        [*NOT_KEPT_BECAUSE, *call_ids]):
        detail = _detail(row["detail"])
        if detail.get("reason") or detail.get("rule"):
            reasons[row["call_id"]] = (row["kind"], detail)
    return reasons


LEAD_IN_S = 45.0   # rings and caller ID up to this long before the off-hook belong to a call's story


def call_timeline(db: sqlite_utils.Database, call: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """A call's own events, with its line's rings, caller ID and device events from LEAD_IN_S
    before it started until it ended (until `now` while it goes on), in time order."""
    start = times.seconds(call["started_at"]) - LEAD_IN_S
    rows = db.query(
        "SELECT line, call_id, at, kind, detail FROM call_events WHERE call_id = ? "
        "UNION ALL SELECT line, call_id, at, kind, detail FROM call_events INDEXED BY call_events_line_at "
        f"WHERE line = ? AND call_id IS NULL AND at >= ? AND at <= ? AND kind IN ({placeholders(LINE_CONTEXT)}) "
        "ORDER BY at",
        [call["id"], call["line"], iso(start), call.get("ended_at") or iso(now), *LINE_CONTEXT])
    return [{**r, "detail": _detail(r["detail"])} for r in rows]
