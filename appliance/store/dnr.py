"""The do-not-record list: numbers whose calls are never recorded (a doctor, the union, a
helpline), each with a label, who added it and when.

A pattern is an exact number ('+1 415 555 0123'), a prefix ending in `*` ('555*', '+1415555*')
or either with `?` standing for any one digit ('+1415555????'). Digits, `#` and the star key
(a `*` that is not the last character: '*67') are literal. Spaces, dashes, dots and parentheses
are dropped. A pattern needs at least MIN_DIGITS digits: '*' alone, or '+1*', would silently stop
the recording of nearly every call, so it is refused rather than confirmed.

Numbers are compared in one form (present.numbers.international_digits, in the box's phone
region): caller ID '4155550123' is the listed '+1 415 555 0123', and so are the dialed digits
'14155550123'. A switchboard's outside-line digit (9) is not guessed away: in North America 9
also begins area codes (941, 949), so guessing would stop recording calls to them. Behind such
a switchboard, list the number as it is dialed ('9 1 415 555 0123').
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlite_utils

from ..present.numbers import PUNCTUATION, international_digits, without_keyed_codes
from . import db as dbmod, times

MIN_DIGITS = 3
PATTERN_MAX = 24         # E.164 numbers have at most 15 digits; room for a trunk or outside-line prefix
LABEL_MAX = 40
_SHAPE = re.compile(r"\+?[0-9#*?]+")


class DnrError(ValueError):
    """A pattern or label refused, or an entry that is not there; str() says why and what to do."""


@dataclass(frozen=True)
class Entry:
    pattern: str
    label: str
    added_at: str
    added_by: str | None

    @property
    def named(self) -> str:
        """'+14155550123 (Doctor)', for messages."""
        return f"{self.pattern} ({self.label})" if self.label else self.pattern

    def as_dict(self) -> dict:
        return {"pattern": self.pattern, "label": self.label, "added_at": self.added_at, "added_by": self.added_by}


def clean_pattern(text: object) -> str:
    """The pattern as stored (punctuation dropped), or DnrError saying what is wrong with it."""
    if not isinstance(text, str):
        raise DnrError(f"{text!r} is not a number or pattern")
    pattern = PUNCTUATION.sub("", text)
    if not pattern:
        raise DnrError("the number is empty: give a number (+1 415 555 0123), a prefix (555*) "
                       "or a pattern with ? for one digit (415555????)")
    if not _SHAPE.fullmatch(pattern):
        wrong = sorted({c for c in pattern if not (c.isascii() and c in "0123456789#*?+")})
        problem = f"{' '.join(repr(c) for c in wrong)} cannot be in a number" if wrong else \
            "a + may only begin the number"
        raise DnrError(f"{text!r}: {problem}; use digits, a leading +, ? for any one digit and a final * "
                       "for any ending")
    if len(pattern) > PATTERN_MAX:
        raise DnrError(f"{text!r} is too long ({len(pattern)} characters; at most {PATTERN_MAX})")
    if sum(c.isdigit() for c in pattern) < MIN_DIGITS:
        raise DnrError(f"{text!r} would match nearly every call: give at least {MIN_DIGITS} digits "
                       "(? and * do not count)")
    return pattern


def clean_label(text: object) -> str:
    label = "" if text is None else text.strip() if isinstance(text, str) else None
    if label is None or not label.isprintable():
        raise DnrError("the label must be plain text (letters, digits, spaces, punctuation)")
    if len(label) > LABEL_MAX:
        raise DnrError(f"the label is too long ({len(label)} characters; at most {LABEL_MAX})")
    return label


def _regex(pattern: str, region: str) -> re.Pattern:
    prefix = pattern.endswith("*")
    body = international_digits(pattern[:-1] if prefix else pattern, region)
    return re.compile("".join("[0-9]" if c == "?" else re.escape(c) for c in body) + (".*" if prefix else ""))


class Listed:
    """The list, ready to match numbers against (what a line holds)."""

    def __init__(self, entries: list[Entry], region: str, keep_number: bool = False) -> None:
        self.region = region
        self.keep_number = keep_number       # dnr_keep_number: a matched call's row still names its number
        self._rules = [(_regex(e.pattern, region), e) for e in entries]

    def __len__(self) -> int:
        return len(self._rules)

    def match(self, number: str | None) -> Entry | None:
        """The first entry that the number (caller ID or dialed digits, in any form, with or
        without a star code keyed before it or a '#' after it) is on."""
        if not number or not self._rules:
            return None
        forms = {international_digits(number, self.region),
                 international_digits(without_keyed_codes(number), self.region)}
        for regex, entry in self._rules:
            if any(regex.fullmatch(digits) for digits in forms):
                return entry
        return None


NOTHING_LISTED = Listed([], "US")


def entries(db: sqlite_utils.Database) -> list[Entry]:
    return [Entry(*row) for row in db.execute("SELECT pattern, label, added_at, added_by FROM dnr ORDER BY pattern")]


def changes(db: sqlite_utils.Database) -> int:
    """A counter that moves on every change of the list (the recorder polls it)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'dnr_changes'").fetchone()
    return int(row[0]) if row else 0


def _same(db: sqlite_utils.Database, pattern: str, region: str) -> Entry | None:
    """The entry that is this pattern in another form ('4155550123' for '+1 415 555 0123')."""
    wanted = _form(pattern, region)
    return next((e for e in entries(db) if _form(e.pattern, region) == wanted), None)


def _form(pattern: str, region: str) -> str:
    return (international_digits(pattern[:-1], region) + "*") if pattern.endswith("*") else \
        international_digits(pattern, region)


def add(db: sqlite_utils.Database, pattern: str, label: str | None, added_by: str | None, region: str) -> Entry:
    pattern, label = clean_pattern(pattern), clean_label(label)
    there = _same(db, pattern, region)
    if there is not None:
        raise DnrError(f"{pattern} is on the list already, as {there.named}")
    entry = Entry(pattern, label, times.now(), added_by)
    db["dnr"].insert({"pattern": pattern, "label": label, "added_at": entry.added_at, "added_by": added_by})
    return entry


def remove(db: sqlite_utils.Database, pattern: str, region: str) -> Entry:
    """Take the entry off the list (written in any form of the same number); DnrError if none is."""
    there = _same(db, clean_pattern(pattern), region)
    if there is None:
        raise DnrError(f"{pattern} is not on the do-not-record list (hookline dnr list shows it)")
    db.execute("DELETE FROM dnr WHERE pattern = ?", (there.pattern,))
    return there


def load(db: sqlite_utils.Database, region: str, keep_number: bool) -> Listed:
    return Listed(entries(db), region, keep_number)


def hide_call_number(db: sqlite_utils.Database, call_id: str) -> None:
    """A call found on the list: its row and its caller-ID and digit events stop naming the number
    (the digits dialed before the match were stored as they came)."""
    with dbmod.immediate(db):
        db.execute("UPDATE calls SET remote_number = NULL, remote_name = NULL, dialed = NULL WHERE id = ?",
                   (call_id,))
        db.execute("DELETE FROM call_events WHERE call_id = ? AND kind IN ('digit', 'callerid')", (call_id,))


def hidden_caller_id(report: dict, listed: Listed) -> dict:
    """A caller-ID report as its event stores it: without number, name and modem lines when the
    number is on the list (and dnr_keep_number is off)."""
    if listed.keep_number or listed.match(report.get("number")) is None:
        return report
    return {**{k: v for k, v in report.items() if k not in ("number", "name", "raw")}, "hidden": "do-not-record"}
