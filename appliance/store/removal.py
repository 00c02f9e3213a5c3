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
import stat
import time
import unicodedata
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import sqlite_utils

from . import ages as agesmod, box, catalog, db as dbmod
from .kinds import FINISHED, Event, Status
from .peaks import delete_peaks_of
from .times import iso

log = logging.getLogger("hookline.removal")

RECORDINGS = "recordings"
NOTE_MAX_CHARS = 2000
DELETABLE = FINISHED
BATCH = 500            # rows read at a time (SQLite's limit on parameters)
YIELD_EVERY = 25       # calls checked between two offers of the interpreter to other threads


class RemovalError(ValueError):
    """A call that cannot be deleted, held or noted; str() is the message for the person."""


def _row(db: sqlite_utils.Database, call_id: str) -> dict[str, Any]:
    row = catalog.get_call(db, call_id)
    if row is None:
        raise RemovalError(f"no call with id {call_id!r}")
    return row


class _Files:
    """Where calls' files are, each refused unless it lies inside DATA/recordings (after
    resolving '..' and symlinks). A batch resolves each folder once: a sweep of 100,000 calls
    spends its time deleting, not resolving the same day's folder again for every call."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.recordings = (data_dir / RECORDINGS).resolve()
        self._folders: dict[str, Path | None] = {}     # folder as written -> resolved (None: outside)

    def target(self, rel: str) -> Path:
        head, _, name = rel.rpartition("/")
        if head not in self._folders:
            folder = (self.data_dir / head).resolve()
            self._folders[head] = folder if folder.is_relative_to(self.recordings) else None
        folder = self._folders[head]
        if folder is not None and name not in ("", ".", ".."):
            target = folder / name
            try:
                mode = os.lstat(target).st_mode
            except FileNotFoundError:
                return target           # inside recordings/ by construction; gone already
            if stat.S_ISREG(mode):
                return target
        return self._checked(rel)       # a link counts by where it leads; the rest is refused below

    def _checked(self, rel: str) -> Path:
        target = (self.data_dir / rel).resolve()
        if target == self.recordings or not target.is_relative_to(self.recordings):
            raise RemovalError(f"the catalog gives this call the path {rel!r}, which is outside "
                               f"{RECORDINGS}/: nothing deleted (check the catalog for tampering)")
        if target.is_dir():
            raise RemovalError(f"the catalog gives this call the path {rel!r}, which is a folder, "
                               "not a recording: nothing deleted (check the catalog for tampering)")
        return target


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


def _check(db: sqlite_utils.Database, files: _Files, row: dict[str, Any], now: float,
           ages: agesmod.Ages) -> Path | None:
    """The file to remove for a call that may be deleted now (refused: RemovalError)."""
    refusal = refusal_of(db, row, now, ages)
    if refusal:
        raise refusal
    return files.target(row["path"]) if row.get("path") else None


def _unlink(call_id: str, target: Path | None) -> None:
    if target is None:
        return
    try:
        os.unlink(target)
    except FileNotFoundError:
        log.warning("call %s: its file was already gone; marking it deleted", call_id)


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
    batch, not once per call), with the same checks and guarantees call by call: each row marked
    deleted with its own 'deleted' event, its peaks dropped, its file removed before the commit.
    Returns the rows deleted (in order) and {call id: why it was refused} for the others."""
    now = time.time()
    files = _Files(Path(data_dir))
    deleted: list[dict[str, Any]] = []
    refused: dict[str, RemovalError] = {}
    gone: list[tuple[str, Path | None]] = []
    detail = json.dumps({"reason": reason, "by": by, **rule}, sort_keys=True)
    stamp = iso(now)
    with dbmod.immediate(db):
        ages = agesmod.load(db)
        rows = {r["id"]: r for start in range(0, len(call_ids), BATCH)
                for r in catalog.get_calls(db, call_ids[start:start + BATCH])}
        for n, call_id in enumerate(call_ids, 1):
            if n % YIELD_EVERY == 0:
                time.sleep(0)        # let a line's capture thread have the interpreter: it must not fall behind
            try:
                if call_id not in rows:
                    raise RemovalError(f"no call with id {call_id!r}")
                target = _check(db, files, rows[call_id], now, ages)
            except RemovalError as e:
                refused[call_id] = e
                continue
            row = rows[call_id]
            gone.append((call_id, target))
            row.update(status=Status.DELETED, deleted_at=stamp, path=None, spool_path=None)
            deleted.append(row)
        ids = [row["id"] for row in deleted]
        db.conn.executemany("UPDATE calls SET status = ?, deleted_at = ?, path = NULL, spool_path = NULL "
                            "WHERE id = ?", [(Status.DELETED, stamp, call_id) for call_id in ids])
        delete_peaks_of(db, ids)
        db.conn.executemany("INSERT INTO call_events (line, call_id, at, kind, detail) VALUES (?, ?, ?, ?, ?)",
                            [(row["line"], row["id"], stamp, Event.DELETED, detail) for row in deleted])
        for call_id, target in gone:      # before the commit: see delete_call
            _unlink(call_id, target)
    # The call by its id, not its file: the file's name holds the caller's number, which an
    # erasure must leave in no log line.
    for call_id, target in gone:
        log.info("call %s deleted (%s%s)%s", call_id, reason, f", by {by}" if by else "",
                 ": its file removed" if target is not None else "")
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
