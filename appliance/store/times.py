"""UTC timestamps as the catalog writes them: ISO 8601 with milliseconds and a Z
('2026-03-15T14:12:00.500Z'), made from POSIX seconds or a datetime and read back.

Every timestamp in the catalog (calls, events, settings, users, sessions, tokens, the audit log)
is written by iso() or iso_of(), so they sort as text in time order and compare with `<` in SQL.
"""
from __future__ import annotations

from datetime import datetime, timezone


def iso(ts: float) -> str:
    """POSIX seconds -> UTC ISO-8601 with milliseconds and a Z, as every timestamp in the catalog."""
    return iso_of(datetime.fromtimestamp(ts, timezone.utc))


def iso_of(moment: datetime) -> str:
    """A datetime in the catalog's form (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> str:
    """The current time in the catalog's form."""
    return iso_of(datetime.now(timezone.utc))


def parse(text: str) -> datetime:
    """'…Z' (or any ISO 8601 text) -> a datetime, aware when the text has a zone; ValueError if it
    is not a date and time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def seconds(text: str) -> float:
    """'…Z' -> POSIX seconds (text without a zone is local time, as datetime reads it)."""
    return parse(text).timestamp()
