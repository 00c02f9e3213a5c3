"""What an owner does to a finished call: delete it, put it on hold (keep), or note something.

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
from pathlib import Path
from typing import Any

import sqlite_utils

from . import catalog, db as dbmod
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


def delete_call(db: sqlite_utils.Database, data_dir: str | Path, call_id: str, reason: str,
                by: str | None = None, **rule: Any) -> dict[str, Any]:
    """Delete a finished call's file and peaks and mark its row 'deleted'; returns the row.

    Refused (RemovalError) for an unknown call, one still recording, one already deleted, one
    on hold, and one whose path lies outside DATA/recordings. A file that is already gone is
    logged and the row is marked all the same. The file is removed inside the transaction,
    before it commits: if the commit fails the row still names the missing file, and deleting
    it again completes the job (nothing is ever left on disk that the catalog calls deleted).
    `rule` (e.g. rule="retention", days=90) goes into the event beside the reason, for the pages.
    """
    data_dir = Path(data_dir)
    now = time.time()
    with dbmod.immediate(db):
        row = _row(db, call_id)
        status = row["status"]
        if status == Status.DELETED:
            raise RemovalError(f"call {call_id} is already deleted (at {row.get('deleted_at')})")
        if status == Status.RECORDING:
            raise RemovalError(f"call {call_id} is still recording: it can be deleted once it is finished")
        if row.get("held"):
            raise RemovalError(f"call {call_id} is on hold: release the hold first")
        if status not in DELETABLE:
            raise RemovalError(f"call {call_id} has status {status!r} and cannot be deleted")
        target = _file_to_remove(data_dir, row["path"]) if row.get("path") else None
        deleted_at = iso(now)
        db.execute("UPDATE calls SET status = ?, deleted_at = ?, path = NULL, spool_path = NULL WHERE id = ?",
                   [Status.DELETED, deleted_at, call_id])
        delete_peaks(db, call_id)
        _insert_event(db, row["line"], call_id, Event.DELETED, now, reason=reason, by=by, **rule)
        if target is not None:
            try:
                os.unlink(target)
            except FileNotFoundError:
                log.warning("call %s: its file %s was already gone; marking it deleted", call_id, row["path"])
    log.info("call %s deleted (%s%s)%s", call_id, reason, f", by {by}" if by else "",
             f": removed {row['path']}" if target is not None else "")
    row.update(status=Status.DELETED, deleted_at=deleted_at, path=None, spool_path=None)
    return row


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
