"""What an owner does to a finished call: delete it, put it on hold (keep), or note something.

Every deletion, by a person or by a rule (the web page, the CLI, retention, the disk guard,
erasure), goes through delete_call or delete_calls, so what they refuse nobody can do: a call on
hold, or one younger than its line's minimum age (min_age_days), is never deleted.

Deleting removes the MP3 and its waveform peaks but keeps the catalog row, marked 'deleted'
with when, and with its size and SHA-256, so the history still proves what existed; a
'deleted' call event says why and who. A call on hold is never deleted, by a person or by
retention: the hold must be released first.

Only files inside DATA/recordings are ever removed: a catalog row whose path points anywhere
else (a tampered row: '../../etc/passwd', an absolute path, a symlink out) is refused.
Each change runs in one BEGIN IMMEDIATE transaction that re-reads the row, so a hold set at
the same moment from the web page is either seen or waits. The web page writes the audit log
entries; these functions do not.
"""
from __future__ import annotations

import json
import logging
import os
import time
import unicodedata
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import sqlite_utils

from . import ages as agesmod, box, catalog, db as dbmod
from .kinds import FINISHED, Event, Status
from .peaks import delete_peaks
from .times import iso

log = logging.getLogger("hookline.removal")

RECORDINGS = "recordings"
NOTE_MAX_CHARS = 2000
DELETABLE = FINISHED


class RemovalError(ValueError):
    """A call that cannot be deleted, held or noted; str() is the message for the person."""


def _row(db: sqlite_utils.Database, call_id: str) -> dict[str, Any]:
    row = catalog.get_call(db, call_id)
    if row is None:
        raise RemovalError(f"no call with id {call_id!r}")
    return row


def _file_to_remove(data_dir: Path, rel: str) -> Path:
    """The absolute path of a call's file, refused unless it lies inside DATA/recordings
    (after resolving '..' and symlinks)."""
    recordings = (data_dir / RECORDINGS).resolve()
    target = (data_dir / rel).resolve()
    if target == recordings or not target.is_relative_to(recordings):
        raise RemovalError(f"the catalog gives this call the path {rel!r}, which is outside "
                           f"{RECORDINGS}/: nothing deleted (check the catalog for tampering)")
    if target.is_dir():
        raise RemovalError(f"the catalog gives this call the path {rel!r}, which is a folder, "
                           "not a recording: nothing deleted (check the catalog for tampering)")
    return target


def _insert_event(db: sqlite_utils.Database, line: int | None, call_id: str | None, kind: str,
                  at: float, **detail: Any) -> None:
    """catalog.log_event as a plain statement, so it joins the caller's open transaction."""
    db.execute("INSERT INTO call_events (line, call_id, at, kind, detail) VALUES (?, ?, ?, ?, ?)",
               [line, call_id, iso(at), kind, json.dumps(detail, sort_keys=True)])


class Protected(RemovalError):
    """A call younger than its line's minimum age (min_age_days): nobody may delete it yet."""

    def __init__(self, call_id: str, until: float, days: int, zone: tzinfo) -> None:
        self.until, self.days = until, days
        date = datetime.fromtimestamp(until, zone).strftime("%Y-%m-%d")
        super().__init__(f"call {call_id} is protected until {date} by the minimum age of {days} "
                         f"day{'s' if days != 1 else ''}")


def _zone(db: sqlite_utils.Database) -> tzinfo:
    from ..present.zone import box_zone  # the box's zone, for the dates people read
    return box_zone(box.facts(db).timezone)


def refusal_of(db: sqlite_utils.Database, row: dict[str, Any], now: float,
             ages: agesmod.Ages) -> RemovalError | None:
    """Why this call may not be deleted now (None: it may)."""
    call_id, status = row["id"], row["status"]
    if status == Status.DELETED:
        return RemovalError(f"call {call_id} is already deleted (at {row.get('deleted_at')})")
    if status == Status.RECORDING:
        return RemovalError(f"call {call_id} is still recording: it can be deleted once it is finished")
    if row.get("held"):
        return RemovalError(f"call {call_id} is on hold: release the hold first")
    if status not in DELETABLE:
        return RemovalError(f"call {call_id} has status {status!r} and cannot be deleted")
    until = ages.protected_until(row["line"], row["started_at"])
    if until is not None and now < until:
        return Protected(call_id, until, ages.min_days(row["line"]), _zone(db))
    return None


def _mark_deleted(db: sqlite_utils.Database, data_dir: Path, row: dict[str, Any], now: float,
                  ages: agesmod.Ages, reason: str, by: str | None, rule: dict[str, Any]) -> Path | None:
    """Inside the caller's transaction: check the call, mark its row deleted, drop its peaks and
    log its 'deleted' event; returns the file to remove (refused: RemovalError)."""
    refusal = refusal_of(db, row, now, ages)
    if refusal:
        raise refusal
    target = _file_to_remove(data_dir, row["path"]) if row.get("path") else None
    db.execute("UPDATE calls SET status = ?, deleted_at = ?, path = NULL, spool_path = NULL WHERE id = ?",
               [Status.DELETED, iso(now), row["id"]])
    delete_peaks(db, row["id"])
    _insert_event(db, row["line"], row["id"], Event.DELETED, now, reason=reason, by=by, **rule)
    return target


def _unlink(call_id: str, target: Path | None, rel: str | None) -> None:
    if target is None:
        return
    try:
        os.unlink(target)
    except FileNotFoundError:
        log.warning("call %s: its file %s was already gone; marking it deleted", call_id, rel)


def delete_call(db: sqlite_utils.Database, data_dir: str | Path, call_id: str, reason: str,
                by: str | None = None, **rule: Any) -> dict[str, Any]:
    """Delete a finished call's file and peaks and mark its row 'deleted'; returns the row.

    Refused (RemovalError) for an unknown call, one still recording, one already deleted, one
    on hold, one younger than its line's minimum age (Protected), and one whose path lies outside
    DATA/recordings. A file that is already gone is logged and the row is marked all the same.
    The file is removed inside the transaction, before it commits: if the commit fails the row
    still names the missing file, and deleting it again completes the job (nothing is ever left
    on disk that the catalog calls deleted).
    `rule` (e.g. rule="retention", days=90) goes into the event beside the reason, for the pages.
    """
    deleted, refused = delete_calls(db, data_dir, [call_id], reason, by, **rule)
    if call_id in refused:
        raise refused[call_id]
    return deleted[0]


def delete_calls(db: sqlite_utils.Database, data_dir: str | Path, call_ids: list[str], reason: str,
                 by: str | None = None, **rule: Any) -> tuple[list[dict[str, Any]], dict[str, RemovalError]]:
    """delete_call for a batch, in one transaction (a sweep of 100,000 calls commits once per
    batch, not once per call), with the same checks and guarantees call by call. Returns the rows
    deleted (in order) and {call id: why it was refused} for the others."""
    data_dir = Path(data_dir)
    now = time.time()
    deleted: list[dict[str, Any]] = []
    refused: dict[str, RemovalError] = {}
    files: list[tuple[str, Path | None, str | None]] = []
    with dbmod.immediate(db):
        ages = agesmod.load(db)
        for call_id in call_ids:
            try:
                row = _row(db, call_id)
                target = _mark_deleted(db, data_dir, row, now, ages, reason, by, rule)
            except RemovalError as e:
                refused[call_id] = e
                continue
            files.append((call_id, target, row.get("path")))
            row.update(status=Status.DELETED, deleted_at=iso(now), path=None, spool_path=None)
            deleted.append(row)
        for call_id, target, rel in files:      # before the commit: see delete_call
            _unlink(call_id, target, rel)
    for call_id, target, rel in files:
        log.info("call %s deleted (%s%s)%s", call_id, reason, f", by {by}" if by else "",
                 f": removed {rel}" if target is not None else "")
    return deleted, refused


def protected_until(db: sqlite_utils.Database, row: dict[str, Any]) -> float | None:
    """Until when a call is protected by its line's minimum age (None: not, or no longer)."""
    until = agesmod.load(db).protected_until(row.get("line"), row.get("started_at"))
    return until if until is not None and time.time() < until else None


def set_hold(db: sqlite_utils.Database, call_id: str, held: bool) -> dict[str, Any]:
    """Put a call on hold (never deleted, by anyone or by retention) or release it; returns the row."""
    with dbmod.immediate(db):
        row = _row(db, call_id)
        if row["status"] == Status.DELETED:
            raise RemovalError(f"call {call_id} is deleted: there is nothing left to hold")
        db.execute("UPDATE calls SET held = ? WHERE id = ?", [int(bool(held)), call_id])
    row["held"] = int(bool(held))
    return row


def clean_note(note: str | None) -> str | None:
    """A note as it is stored: line ends made \\n, stripped, None when empty. Refused when longer
    than NOTE_MAX_CHARS or holding control characters other than newline and tab."""
    if note is None:
        return None
    if not isinstance(note, str):
        raise RemovalError("a note must be text")
    note = note.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not note:
        return None
    if len(note) > NOTE_MAX_CHARS:
        raise RemovalError(f"a note can be at most {NOTE_MAX_CHARS} characters (this one has {len(note)})")
    for ch in note:
        if ch not in "\n\t" and unicodedata.category(ch) == "Cc":
            raise RemovalError(f"a note cannot contain the control character U+{ord(ch):04X} "
                               "(only newlines and tabs)")
    return note


def set_note(db: sqlite_utils.Database, call_id: str, note: str | None) -> dict[str, Any]:
    """Set (or with None or blank text, clear) a call's note; returns the row."""
    note = clean_note(note)
    with dbmod.immediate(db):
        row = _row(db, call_id)
        if row["status"] == Status.DELETED:
            raise RemovalError(f"call {call_id} is deleted: its note can no longer be changed")
        db.execute("UPDATE calls SET note = ? WHERE id = ?", [note, call_id])
    row["note"] = note
    return row
