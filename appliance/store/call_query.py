"""What a search of the calls asks for (CallQuery), read from the calls page's or the API's query
string and checked: every bad value is a QueryError naming the field, with a message in plain
words that says how to write it right. appliance.store.search turns a CallQuery into SQL."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from appliance.present.numbers import search_digits

from . import times
from .kinds import SEARCH_STATUSES

MATCHES = ("prefix", "contains")
DIRECTIONS = ("inbound", "outbound")
STATUSES = SEARCH_STATUSES
ORDERS = ("newest", "oldest", "longest", "shortest")
BY_TIME = ("newest", "oldest")
REVERSED = {"newest": "oldest", "oldest": "newest", "longest": "shortest", "shortest": "longest"}
MAX_LIMIT = 500
MAX_LINE = 64
MAX_NUMBER = 32
MAX_TEXT = 100
MIN_WORD = 3         # the full-text index finds pieces of 3 characters or more

# The query-string keys parse_query reads: links and cursors carry these and nothing else.
QUERY_KEYS = ("q", "date_from", "date_to", "number", "match", "line", "direction", "status", "held", "noted",
              "order", "limit", "after")
# What the calls page says for each key when its value cannot be used.
MESSAGES = {
    "date_from": "Enter the start date as YYYY-MM-DD, e.g. 2026-03-04.",
    "date_to": "Enter the end date as YYYY-MM-DD, e.g. 2026-03-04.",
    "dates": "The end date is before the start date: swap them.",
    "q": "Type at least 3 letters of a name or a note, or some digits of a number.",
    "q_long": f"Search for at most {MAX_TEXT} characters.",
    "q_number": "Search either in the search box or by number, not both at once.",
    "number": "Type some digits of the number.",
    "number_long": f"A number has at most {MAX_NUMBER} digits.",
    "number_chars": "A number has only digits, +, * and # (spaces, dashes, dots and brackets are fine).",
    "match": "Choose how the number matches: contains or prefix (starts with).",
    "line": f"Choose a line from 1 to {MAX_LINE}.",
    "direction": "Choose inbound or outbound.",
    "status": f"Choose one of these statuses: {', '.join(STATUSES[:-1])} or {STATUSES[-1]}.",
    "held": "Use 1 for kept calls only, or 0 for calls not kept.",
    "noted": "Use 1 for calls with a note only, or 0 for calls without one.",
    "order": "Sort by newest, oldest, longest or shortest.",
    "limit": f"Show from 1 to {MAX_LIMIT} calls per page.",
    "after": "This page link is not valid any more: start again from the first page.",
    "after_other": "This page link belongs to a different search: start again from the first page.",
    "start": "Use an ISO date and time, e.g. 2026-03-04T09:00:00Z.",
    "end": "Use an ISO date and time, e.g. 2026-03-04T09:00:00Z.",
}

_NUMBER = re.compile(r"[0-9+*#]+")
_NUMBER_NOISE = re.compile(r"[\s\-.()/]")
_LOOKS_LIKE_NUMBER = re.compile(r"\+?[\s\-.()/0-9*#]*[0-9*#][\s\-.()/0-9*#]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class QueryError(ValueError):
    """A search filter that cannot be used; .field names it (the query-string key), .message
    says in plain words how to write it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def fail(key: str, field: str | None = None) -> QueryError:
    return QueryError(field or key, MESSAGES[key])


@dataclass(frozen=True)
class CallQuery:
    start: str | None = None        # UTC ISO, inclusive
    end: str | None = None          # UTC ISO, exclusive
    number: str | None = None       # digits, +, *, #
    match: str = "contains"         # prefix | contains
    text: str | None = None         # words to find in names, notes and numbers (each 3+ characters)
    line: int | None = None
    direction: str | None = None    # inbound | outbound
    status: str | None = None       # complete | recovered | discarded | recording | deleted
    held: bool | None = None
    noted: bool | None = None       # True: only calls with a note
    order: str = "newest"           # newest | oldest | longest | shortest
    limit: int = 50                 # 1..MAX_LIMIT
    after: str | None = None        # cursor from the previous page

    @property
    def by_time(self) -> bool:
        return self.order in BY_TIME


# -- reading a query string ---------------------------------------------------------------------------
def parse_query(args: Mapping[str, str], tz: tzinfo, region: str = "US") -> CallQuery:
    """A CallQuery from the calls page's or the API's query string (dates in the box's zone tz,
    numbers as written in its phone region). Unknown keys are ignored, empty values mean "not
    set"; a bad value raises QueryError."""
    def get(key: str) -> str | None:
        value = args.get(key)
        if value is None:
            return None
        value = str(value).strip()
        return value or None

    fields: dict[str, Any] = {}
    day_from, day_to = _day(get("date_from"), "date_from"), _day(get("date_to"), "date_to")
    if day_from and day_to and day_to < day_from:
        raise fail("dates", "date_to")
    if day_from:
        fields["start"] = _local_midnight(day_from, tz)
    if day_to:
        fields["end"] = _local_midnight(day_to + timedelta(days=1), tz)
    for key, choices in (("match", MATCHES), ("direction", DIRECTIONS), ("status", STATUSES), ("order", ORDERS)):
        if get(key) is not None:
            fields[key] = _choice(get(key).lower(), choices, key)
    if get("number") is not None:
        fields["number"] = _number(_NUMBER_NOISE.sub("", get("number")))
    if get("q") is not None:
        fields.update(_search_box(get("q"), fields.get("match", "contains"), region))
        if "number" in fields and get("number") is not None:
            raise fail("q_number", "q")
    if get("line") is not None:
        fields["line"] = _int(get("line"), "line", 1, MAX_LINE)
    for key in ("held", "noted"):
        if get(key) is not None:
            fields[key] = _yes_no(get(key), key)
    if get("limit") is not None:
        fields["limit"] = _int(get("limit"), "limit", 1, MAX_LIMIT)
    if get("after") is not None:
        fields["after"] = get("after")
    return CallQuery(**fields)


def _search_box(text: str, match: str, region: str) -> dict[str, str]:
    """What the one search box means: a number in any form people write one ('(415) 555-01',
    '+44 20 7946'), else words of a name or a note."""
    if len(text) > MAX_TEXT:
        raise fail("q_long", "q")
    if _LOOKS_LIKE_NUMBER.fullmatch(text):
        digits = search_digits(text, region)
        # A number abroad kept as typed for "starts with" (+44 is the UK, 44 may be a local area
        # code); "contains" without the + finds it however it was stored.
        if match == "prefix" and text.startswith("+") and digits == re.sub(r"[^0-9*#]", "", text):
            digits = "+" + digits
        return {"number": _number(digits, "q")}
    return {"text": _text(text)}


def _text(text: str) -> str:
    if not text.isprintable() or not any(len(w) >= MIN_WORD for w in text.split()):
        raise fail("q")
    return " ".join(text.split())


def _yes_no(text: str, field: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise fail(field)


def _day(text: str | None, field: str) -> date | None:
    if text is None:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        day = date.fromisoformat(text)
        if not 1970 <= day.year <= 9998:
            raise ValueError
    except ValueError:
        raise fail(field) from None
    return day


def _local_midnight(day: date, tz: tzinfo) -> str:
    return times.iso_of(datetime(day.year, day.month, day.day, tzinfo=tz))


def _number(text: str, field: str = "number") -> str:
    if not text:
        raise fail("number", field)
    if len(text) > MAX_NUMBER:
        raise fail("number_long", field)
    if not _NUMBER.fullmatch(text):
        raise fail("number_chars", field)
    return text


def _choice(value: Any, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise fail(field)
    return value


def _int(text: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(text, bool):
        raise fail(field)
    if isinstance(text, int):
        value = text
    elif isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 6:
        value = int(text)
    else:
        raise fail(field)
    if not lo <= value <= hi:
        raise fail(field)
    return value


def _utc(text: Any, field: str) -> str | None:
    """A UTC instant written as the catalog writes started_at (…T…:…:….mmmZ)."""
    if text is None:
        return None
    try:
        moment = times.parse(str(text))
    except ValueError:
        raise fail(field) from None
    return times.iso_of(moment)      # without a zone: UTC


def checked(q: CallQuery) -> CallQuery:
    """The query with every field checked (a CallQuery may be built in code, not by parse_query)."""
    if q.number is not None:
        _number(q.number)
    if q.text is not None:
        if not isinstance(q.text, str) or len(q.text) > MAX_TEXT:
            raise fail("q_long", "q")
        q = replace(q, text=_text(q.text))
    _choice(q.match, MATCHES, "match")
    if q.line is not None:
        _int(q.line, "line", 1, MAX_LINE)
    if q.direction is not None:
        _choice(q.direction, DIRECTIONS, "direction")
    if q.status is not None:
        _choice(q.status, STATUSES, "status")
    for key in ("held", "noted"):
        if getattr(q, key) is not None and not isinstance(getattr(q, key), bool):
            raise fail(key)
    _choice(q.order, ORDERS, "order")
    _int(q.limit, "limit", 1, MAX_LIMIT)
    return replace(q, start=_utc(q.start, "start"), end=_utc(q.end, "end"))


def has_filters(q: CallQuery) -> bool:
    """Whether the query narrows the calls (more than an order, a page size and a cursor)."""
    return any(v is not None for v in (q.start, q.end, q.number, q.text, q.line, q.direction, q.status,
                                       q.held, q.noted))
