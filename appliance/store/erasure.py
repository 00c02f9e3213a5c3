"""Erasure by number (GDPR Art. 17): every call that involves a number goes, as far as the law
and the owner's holds allow.

For each call (store.by_number): its recording and waveform are deleted through
removal.delete_calls (rule 'erasure': so a call on hold, one younger than its line's minimum
age, or one still recording is refused, and listed), and the person's data is cleared from its
row (number, name, dialed digits, the owner's note) and from its events (caller ID, digits). A
call already deleted has only its row and events cleared. Caller-ID events heard while the
phone rang, naming the number but no call, are cleared too.

What stays, as proof: each row (id, line, time, length, size and SHA-256 of the deleted file,
status 'deleted'), its 'deleted' event with rule 'erasure' and who asked, and one audit entry
(written by the caller: the web page or the command) with who, when, how many calls, which,
and the SHA-256 of the number's one form (number_hash) — never the number itself. A phone
number's hash can be matched by trying every number: it proves which number was erased to
whoever already knows it, and tells no one else at a glance.

SQLite's secure_delete is on for the erasure, so the cleared text is overwritten in the file,
not just unlinked from it, and the search index is merged so that its old segments go too.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from . import ages as agesmod, by_number, db as dbmod
from .kinds import FINISHED, Event, Status, placeholders
from .removal import delete_calls, refusal_of

RULE = "erasure"
CLEARED_KEYS = ("$.number", "$.name", "$.digit", "$.digits", "$.dialed", "$.raw")


@dataclass
class Plan:
    number_hash: str
    calls: list[dict[str, Any]]                                   # every call with the number
    refused: dict[str, str] = field(default_factory=dict)         # call id -> why it stays

    @property
    def erasable(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["id"] not in self.refused]


def number_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def plan(db: sqlite_utils.Database, number: str, region: str) -> Plan:
    """What erasing this number would do, changing nothing (NumberError: not a number)."""
    calls = by_number.calls_with_number(db, number, region)
    out = Plan(number_hash(by_number.key_of(number, region)), calls)
    ages, now = agesmod.load(db), time.time()
    for call in calls:
        if call["status"] == Status.DELETED:
            continue                    # its file is gone: only its row is cleared
        refusal = refusal_of(db, call, now, ages)     # the checks delete_calls makes
        if refusal is not None:
            out.refused[call["id"]] = str(refusal)
    return out


def erase(db: sqlite_utils.Database, data_dir: str | Path, number: str, region: str, by: str) -> Plan:
    """Erase every call with this number that may be erased; returns the plan as carried out
    (refused: what stays, and why, including any refused at the last moment)."""
    done = plan(db, number, region)
    deletable = [c["id"] for c in done.erasable if c["status"] in FINISHED]
    db.execute("PRAGMA secure_delete = ON")
    try:
        _, refused = delete_calls(db, data_dir, deletable, "erased on request: every call with one number",
                                  by, rule=RULE, number_hash=done.number_hash)
        done.refused.update({call_id: str(e) for call_id, e in refused.items()})
        _clear(db, [c["id"] for c in done.erasable], by_number.loose_callerid_events(db, number, region))
        # The search index only marks the cleared rows' trigrams deleted, beside the segments that
        # still hold them (and the digits can be pieced together from them): merge them away.
        db.execute("INSERT INTO calls_fts(calls_fts) VALUES ('optimize')")
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        db.execute("PRAGMA secure_delete = OFF")
    return done


def _clear(db: sqlite_utils.Database, call_ids: list[str], loose_events: list[int]) -> None:
    """Clear the person's data from these calls' rows and events, and from these loose events."""
    removed = ", ".join("?" * len(CLEARED_KEYS))
    with dbmod.immediate(db):
        for start in range(0, len(call_ids), 500):
            chunk = call_ids[start:start + 500]
            marks = placeholders(chunk)
            db.execute(f"UPDATE calls SET remote_number = NULL, remote_name = NULL, dialed = NULL, note = NULL "
                       f"WHERE id IN ({marks}) AND status = ?", [*chunk, Status.DELETED])
            db.execute(f"UPDATE call_events SET detail = json_remove(detail, {removed}) WHERE call_id IN ({marks}) "
                       f"AND kind IN (?, ?)", [*CLEARED_KEYS, *chunk, Event.CALLERID, Event.DIGIT])
        for start in range(0, len(loose_events), 500):
            chunk = loose_events[start:start + 500]
            db.execute(f"UPDATE call_events SET detail = json_remove(detail, {removed}) WHERE id IN "
                       f"({placeholders(chunk)})", [*CLEARED_KEYS, *chunk])

