"""Small pieces of plain English shared by the sentences the pages and the CLI show: counts with
their nouns, lengths of time, a call's running time, and who did something."""
from __future__ import annotations

from typing import Any


def as_number(value: Any) -> float | None:
    """A figure from an event's detail, or None when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def plural(n: int, one: str, many: str | None = None) -> str:
    """1 -> '1 second', 3 -> '3 seconds' ('1 day', '2 days'; many for irregular nouns)."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def size(n: int | None) -> str:
    """Bytes as people read them: '1.5 MB', '12 KB'."""
    if n is None:
        return ""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if unit != "KB" else f"{n / scale:.0f} KB"
    return f"{n} B"


def times_word(n: int) -> str:
    """How often, as people say it: 'once', 'twice', '3 times'."""
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def clock(seconds: float | None) -> str:
    """A running time as a player shows it: 65.4 -> '1:05', 3725 -> '1:02:05'; '—' for none."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def seconds_text(seconds: float, places: int = 1) -> str:
    """Under a minute, to a tenth where it matters: '1 second', '1.5 seconds', '0.25 seconds'."""
    value = round(float(seconds), places)
    if value == int(value):
        return plural(int(value), "second")
    return f"{value:.{places}f}".rstrip("0") + " seconds"


def span(seconds: float) -> str:
    """A length of time in words: '2 seconds', '1 minute 5 seconds', '1 hour', '2 hours 30 minutes'."""
    if seconds < 60:
        return seconds_text(seconds)
    total = int(round(seconds))
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return plural(minutes, "minute") + (f" {plural(secs, 'second')}" if secs else "")
    hours, minutes = divmod(total // 60, 60)
    return plural(hours, "hour") + (f" {plural(minutes, 'minute')}" if minutes else "")


def first_upper(text: str) -> str:
    """'recorder stopped' -> 'Recorder stopped' (the rest as it was: names and codes keep their case)."""
    return text[:1].upper() + text[1:] if text else text


def person(user: str | None) -> str:
    """Who did it, as the audit log names them: 'alice'; 'console:root' -> 'root at the console'."""
    if not user:
        return "someone"
    if user.startswith("console:"):
        return f"{user[len('console:'):] or 'someone'} at the console"
    return user


# A call's direction and status as the lists say them (the catalog keeps inbound/outbound and
# complete/recovered/discarded/deleted/recording; JSON and the filters' values stay those).
DIRECTIONS = {"inbound": "incoming", "outbound": "outgoing"}
STATUSES = {"complete": "recorded", "recovered": "recorded after a restart", "discarded": "not kept",
            "deleted": "deleted", "recording": "recording now"}


def direction(value: str | None) -> str:
    """'inbound' -> 'incoming'; a line that cannot tell -> 'direction not known'."""
    return DIRECTIONS.get(value or "", "direction not known")


def status(value: str | None) -> str:
    """'complete' -> 'recorded', 'discarded' -> 'not kept', ..."""
    return STATUSES.get(value or "", value or "")
