"""Which recordings an export takes: the calls with a recording that started between two dates
(days in the box's zone, both included), on one line, with one number (store.by_number, the
selection erasure and the access package share), only the calls chosen by id (a selection on the
web page), and with --new only those no earlier export took to this stick."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import sqlite_utils

from ..store import by_number, exports, times


class SelectionError(ValueError):
    """A date or number that cannot select anything; str() is the message for the person."""


@dataclass(frozen=True)
class Selection:
    since: date | None = None
    until: date | None = None          # included: the whole day
    line: int | None = None
    number: str | None = None
    new: bool = False
    call_ids: tuple[str, ...] = ()     # only these calls (empty: no such limit)

    def __post_init__(self) -> None:
        if self.since and self.until and self.until < self.since:
            raise SelectionError(f"--until {self.until} is before --since {self.since}")

    def describe(self) -> dict[str, Any]:
        """What the audit entry and the summary say was asked for."""
        return {"since": self.since and self.since.isoformat(), "until": self.until and self.until.isoformat(),
                "line": self.line, "number": self.number, "new": self.new,
                **({"chosen_calls": len(self.call_ids)} if self.call_ids else {})}


def parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise SelectionError(f"{text!r} is not a date: write it as YYYY-MM-DD (2026-03-04)") from None


def _midnight(day: date | None, zone: tzinfo) -> str | None:
    """The UTC moment the day starts in the box's zone; None (no bound) for none, or for a day at
    the calendar's ends whose moment the clock cannot hold (until 9999-12-31, since 0001-01-01
    east of UTC): every call is within those."""
    try:
        return times.iso_of(datetime.combine(day, time(0), zone)) if day else None
    except OverflowError:
        return None


def _day_after(day: date | None) -> date | None:
    return day + timedelta(days=1) if day and day < date.max else None


def calls(db: sqlite_utils.Database, sel: Selection, zone: tzinfo, region: str,
          stick: str | None) -> list[dict[str, Any]]:
    """The calls to export, oldest first (stick: the target's id, for --new)."""
    found = exports.recordings(db, since=_midnight(sel.since, zone), until=_midnight(_day_after(sel.until), zone),
                               line=sel.line)
    if sel.number is not None:
        try:
            wanted = {c["id"] for c in by_number.calls_with_number(db, sel.number, region)}
        except by_number.NumberError as e:
            raise SelectionError(str(e)) from None
        found = [c for c in found if c["id"] in wanted]
    if sel.call_ids:
        chosen = set(sel.call_ids)
        found = [c for c in found if c["id"] in chosen]
    if sel.new and stick is not None:
        taken = exports.taken_by(db, stick)
        found = [c for c in found if c["id"] not in taken]
    return found
