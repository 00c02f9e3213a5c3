"""Every call that involves one phone number, by caller ID or dialed digits, however each was
written ('(415) 555-0123', '4155550123', '+1 415 555 0123' are one number on a US box): the
selection that erasure by number (store.erasure) and the access package for the same number
(USB export) share.

The trigram index finds the calls whose number or digits contain the number's national digits;
present.numbers.international_digits (the do-not-record list's one form) then keeps those that are
the same number, not merely contain it; dialed digits count with a star code keyed before the
number ('*67') or a '#' after it.
"""
from __future__ import annotations

import re
from typing import Any

import sqlite_utils

from ..present.numbers import PUNCTUATION, core_digits, international_digits, without_keyed_codes
from .kinds import Event
from .search_plan import fts_phrase

MIN_DIGITS = 3          # what the trigram index can find; shorter numbers are scanned for


class NumberError(ValueError):
    """Text that is not a number to look for; str() is the message for the person."""


def key_of(number: str, region: str) -> str:
    """The number's one form ('14155550123'); refused unless it is digits (at least three), with
    spaces, dashes, dots, parentheses and a leading '+' at most."""
    bare = PUNCTUATION.sub("", number.strip())
    if not re.fullmatch(r"\+?[0-9*#]+", bare) or len(re.sub(r"\D", "", bare)) < MIN_DIGITS:
        raise NumberError(f"{number!r} is not a phone number: give its digits (at least {MIN_DIGITS}), "
                          "written any way: (415) 555-0123, +1 415 555 0123")
    return international_digits(bare, region)


def _same(stored: str | None, key: str, region: str) -> bool:
    return bool(stored) and key in (international_digits(stored, region),
                                     international_digits(without_keyed_codes(stored), region))


def calls_with_number(db: sqlite_utils.Database, number: str, region: str) -> list[dict[str, Any]]:
    """Every call (all statuses, every part) whose caller ID or dialed digits are this number,
    oldest first."""
    key = key_of(number, region)
    core = core_digits(number, region)
    if len(core) >= MIN_DIGITS:
        rows = db.execute("SELECT c.* FROM calls c WHERE c.rowid IN (SELECT rowid FROM calls_fts WHERE "
                          "calls_fts MATCH ?) ORDER BY c.started_at, c.rowid", [fts_phrase(core)])
    else:
        rows = db.execute("SELECT * FROM calls WHERE instr(remote_number, ?) > 0 OR instr(dialed, ?) > 0 "
                          "ORDER BY started_at, rowid", [core, core])
    columns = [d[0] for d in rows.description]
    found = [dict(zip(columns, r)) for r in rows.fetchall()]
    return [row for row in found
            if _same(row.get("remote_number"), key, region) or _same(row.get("dialed"), key, region)]


def loose_callerid_events(db: sqlite_utils.Database, number: str, region: str) -> list[int]:
    """The ids of caller-ID events that name this number but no call (heard while it rang)."""
    key, core = key_of(number, region), core_digits(number, region)
    rows = db.execute("SELECT id, json_extract(detail, '$.number') FROM call_events WHERE kind = ? AND "
                      "call_id IS NULL AND instr(json_extract(detail, '$.number'), ?) > 0",
                      [Event.CALLERID, core]).fetchall()
    return [event_id for event_id, said in rows if _same(said, key, region)]
