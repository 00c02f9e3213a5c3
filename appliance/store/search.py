"""Finding calls: the filters of the calls page and the API, checked, turned into SQL that stays
fast on a million calls, and paged with a cursor (keyset on started_at, rowid; never OFFSET).

How each filter is served (EXPLAIN QUERY PLAN is checked in tests/test_search.py):
- no filter, a date range, line (+ dates), status, direction, held: walk an index on
  (column, started_at) in the page's order and stop after one page (held: a partial index);
- a number prefix: a range on the remote_number and dialed indexes (not LIKE);
- a number that contains 3+ characters: the trigram full-text index calls_fts; two digits are
  in most numbers, so those are a filter on the walk above (1-2 characters with + * # in them
  are rare: a scan of the small number indexes finds them).
A number that matches few calls (fewer than SPARSE_LIMIT) is fetched through its index and
sorted; one that matches many calls is a filter on the ordered walk instead, which finds a page
of them after a short stretch.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import sqlite_utils

from . import catalog, times
from .kinds import SEARCH_STATUSES, Status

MATCHES = ("prefix", "contains")
DIRECTIONS = ("inbound", "outbound")
STATUSES = SEARCH_STATUSES
ORDERS = ("newest", "oldest")
MAX_LIMIT = 500
MAX_LINE = 64
MAX_NUMBER = 32
SPARSE_LIMIT = 10000     # a number matching fewer calls than this is looked up, then sorted

# The query-string keys parse_query reads: links and cursors carry these and nothing else.
QUERY_KEYS = ("date_from", "date_to", "number", "match", "line", "direction", "status", "held", "order", "limit",
              "after")

_NUMBER = re.compile(r"[0-9+*#]+")
_NUMBER_NOISE = re.compile(r"[\s\-.()]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class QueryError(ValueError):
    """A search filter that cannot be used; .field names it, .message says how to fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CallQuery:
    start: str | None = None        # UTC ISO, inclusive
    end: str | None = None          # UTC ISO, exclusive
    number: str | None = None       # digits, +, *, #
    match: str = "contains"         # prefix | contains
    line: int | None = None
    direction: str | None = None    # inbound | outbound
    status: str | None = None       # complete | recovered | discarded | recording | deleted
    held: bool | None = None
    order: str = "newest"           # newest | oldest
    limit: int = 50                 # 1..MAX_LIMIT
    after: str | None = None        # cursor from the previous page


# -- reading a query string ---------------------------------------------------------------------------
def parse_query(args: Mapping[str, str], tz: tzinfo) -> CallQuery:
    """A CallQuery from the calls page's or the API's query string (dates in the box's zone tz).
    Unknown keys are ignored, empty values mean "not set"; a bad value raises QueryError."""
    def get(key: str) -> str | None:
        value = args.get(key)
        if value is None:
            return None
        value = str(value).strip()
        return value or None

    fields: dict[str, Any] = {}
    day_from, day_to = _day(get("date_from"), "date_from"), _day(get("date_to"), "date_to")
    if day_from and day_to and day_to < day_from:
        raise QueryError("date_to", "is before date_from: swap them")
    if day_from:
        fields["start"] = _local_midnight(day_from, tz)
    if day_to:
        fields["end"] = _local_midnight(day_to + timedelta(days=1), tz)

    number = get("number")
    if number is not None:
        fields["number"] = _number(_NUMBER_NOISE.sub("", number))
    match = get("match")
    if match is not None:
        fields["match"] = _choice(match.lower(), MATCHES, "match")
    line = get("line")
    if line is not None:
        fields["line"] = _int(line, "line", 1, MAX_LINE, f"use a line number from 1 to {MAX_LINE}")
    direction = get("direction")
    if direction is not None:
        fields["direction"] = _choice(direction.lower(), DIRECTIONS, "direction")
    status = get("status")
    if status is not None:
        fields["status"] = _choice(status.lower(), STATUSES, "status")
    held = get("held")
    if held is not None:
        if held.lower() in ("1", "true", "yes", "on"):
            fields["held"] = True
        elif held.lower() in ("0", "false", "no", "off"):
            fields["held"] = False
        else:
            raise QueryError("held", "use 1 (only kept calls) or 0 (only calls not kept)")
    order = get("order")
    if order is not None:
        fields["order"] = _choice(order.lower(), ORDERS, "order")
    limit = get("limit")
    if limit is not None:
        fields["limit"] = _int(limit, "limit", 1, MAX_LIMIT, f"use a number of calls per page from 1 to {MAX_LIMIT}")
    after = get("after")
    if after is not None:
        fields["after"] = after
    query = CallQuery(**fields)
    if query.after is not None:
        _decode_cursor(_checked(query))     # refuse a bad cursor now, not on the page after
    return query


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
        raise QueryError(field, "use YYYY-MM-DD, e.g. 2024-05-31") from None
    return day


def _local_midnight(day: date, tz: tzinfo) -> str:
    return times.iso_of(datetime(day.year, day.month, day.day, tzinfo=tz))


def _number(text: str) -> str:
    if not text:
        raise QueryError("number", "type some digits of the number")
    if len(text) > MAX_NUMBER:
        raise QueryError("number", f"at most {MAX_NUMBER} digits")
    if not _NUMBER.fullmatch(text):
        raise QueryError("number", "use only digits, +, * and # (spaces, dashes, dots and brackets are ignored)")
    return text


def _choice(value: Any, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise QueryError(field, f"use {', '.join(choices[:-1])} or {choices[-1]}")
    return value


def _int(text: Any, field: str, lo: int, hi: int, message: str) -> int:
    if isinstance(text, bool):
        raise QueryError(field, message)
    if isinstance(text, int):
        value = text
    elif isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 6:
        value = int(text)
    else:
        raise QueryError(field, message)
    if not lo <= value <= hi:
        raise QueryError(field, message)
    return value


def _utc(text: Any, field: str) -> str | None:
    """A UTC instant written as the catalog writes started_at (…T…:…:….mmmZ)."""
    if text is None:
        return None
    try:
        moment = times.parse(str(text))
    except ValueError:
        raise QueryError(field, "use an ISO date and time, e.g. 2024-05-31T22:00:00Z") from None
    return times.iso_of(moment)      # without a zone: UTC


def _checked(q: CallQuery) -> CallQuery:
    """The query with every field checked (a CallQuery may be built in code, not by parse_query)."""
    if q.number is not None:
        _number(q.number)
    _choice(q.match, MATCHES, "match")
    if q.line is not None:
        _int(q.line, "line", 1, MAX_LINE, f"use a line number from 1 to {MAX_LINE}")
    if q.direction is not None:
        _choice(q.direction, DIRECTIONS, "direction")
    if q.status is not None:
        _choice(q.status, STATUSES, "status")
    if q.held is not None and not isinstance(q.held, bool):
        raise QueryError("held", "use 1 (only kept calls) or 0 (only calls not kept)")
    _choice(q.order, ORDERS, "order")
    _int(q.limit, "limit", 1, MAX_LIMIT, f"use a number of calls per page from 1 to {MAX_LIMIT}")
    return replace(q, start=_utc(q.start, "start"), end=_utc(q.end, "end"))


# -- the cursor ---------------------------------------------------------------------------------------
def _fingerprint(q: CallQuery) -> str:
    """What a cursor belongs to: the filters and order (not the page size)."""
    filters = {k: v for k, v in asdict(q).items() if k not in ("limit", "after")}
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:12]


def _encode_cursor(q: CallQuery, started_at: str, rowid: int) -> str:
    payload = json.dumps([started_at, rowid, _fingerprint(q)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode_cursor(q: CallQuery) -> tuple[str, int]:
    """(started_at, rowid) of the last call of the previous page; QueryError if it is not a cursor
    this search handed out."""
    text = q.after or ""
    try:
        if len(text) > 200 or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
            raise ValueError
        started_at, rowid, fingerprint = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if (not isinstance(started_at, str) or not 0 < len(started_at) <= 40 or not started_at.isprintable()
                or type(rowid) is not int or not 0 < rowid < 2 ** 63 or not isinstance(fingerprint, str)):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise QueryError("after", "not a valid page link: start again from the first page") from None
    if fingerprint != _fingerprint(replace(q, after=None)):
        raise QueryError("after", "this page link belongs to a different search: start again from the first page")
    return started_at, rowid


# -- SQL ------------------------------------------------------------------------------------------------
def _fts_phrase(number: str) -> str:
    """An FTS5 query for the number as a substring of remote_number or dialed (a quoted phrase:
    + * # and quotes lose any special meaning)."""
    return '{remote_number dialed} : "' + number.replace('"', '""') + '"'


def _prefix_bounds(number: str) -> tuple[str, str]:
    """[low, high): every text starting with number (BINARY collation: code point order)."""
    return number, number[:-1] + chr(ord(number[-1]) + 1)


def _number_by_index(q: CallQuery) -> bool:
    """Whether the number has an index to be looked up by: a prefix (its range on the number
    indexes), 3+ characters (the trigram index), or 1-2 characters with + * or # in them (rare:
    a scan of the small number indexes). Two digits are in most numbers: no index helps."""
    return q.number is not None and (q.match == "prefix" or len(q.number) >= 3 or not q.number.isdigit())


def _candidates(q: CallQuery) -> tuple[str, list[Any]]:
    """A subquery of the rowids (as rid) whose number matches, each once, through the number
    indexes; UNION ALL (the second part leaves out what the first found) streams, so a LIMIT
    stops it early."""
    if q.match == "contains" and len(q.number) >= 3:
        return "SELECT rowid AS rid FROM calls_fts WHERE calls_fts MATCH ?", [_fts_phrase(q.number)]
    if q.match == "prefix":
        low, high = _prefix_bounds(q.number)
        return ("SELECT rowid AS rid FROM calls WHERE remote_number >= ? AND remote_number < ? "
                "UNION ALL SELECT rowid FROM calls WHERE dialed >= ? AND dialed < ? "
                "AND (remote_number IS NULL OR remote_number < ? OR remote_number >= ?)",
                [low, high, low, high, low, high])
    # >= '': every number, so the search walks the covering index rather than the table.
    return ("SELECT rowid AS rid FROM calls WHERE remote_number >= '' AND instr(remote_number, ?) > 0 "
            "UNION ALL SELECT rowid FROM calls WHERE dialed >= '' AND instr(dialed, ?) > 0 "
            "AND (remote_number IS NULL OR instr(remote_number, ?) = 0)", [q.number] * 3)


def _number_matches(db: sqlite_utils.Database, q: CallQuery, limit: int) -> int:
    """How many calls the number alone matches, counted up to limit."""
    sub, params = _candidates(q)
    return db.execute(f"SELECT count(*) FROM ({sub} LIMIT ?)", params + [limit]).fetchone()[0]


def _driving_column(q: CallQuery) -> str | None:
    """The filter whose (column, started_at) index walks the calls when the number does not:
    the one that usually leaves the fewest calls. The others are written +c.column (SQLite then
    cannot use their index), so the planner, which has no statistics, does not guess."""
    if q.held:
        return "held"
    if q.status is not None and q.status != Status.COMPLETE:
        return "status"
    for column in ("line", "direction", "status"):
        if getattr(q, column) is not None:
            return column
    return None


def _where(q: CallQuery, number_as_filter: bool) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if q.start is not None:
        where.append("c.started_at >= ?")
        params.append(q.start)
    if q.end is not None:
        where.append("c.started_at < ?")
        params.append(q.end)
    driving = _driving_column(q) if number_as_filter else None
    for column in ("line", "direction", "status"):
        if getattr(q, column) is not None:
            where.append(f"{'' if column == driving else '+'}c.{column} = ?")
            params.append(getattr(q, column))
    if q.held is not None:
        # Literally "held = 1" when it leads: only then can SQLite use the partial index.
        where.append("c.held = 1" if driving == "held" else f"+c.held = {int(q.held)}")
    if q.number is not None and number_as_filter:
        if q.match == "prefix":
            where.append("(substr(c.remote_number, 1, ?) = ? OR substr(c.dialed, 1, ?) = ?)")
            params += [len(q.number), q.number, len(q.number), q.number]
        else:
            where.append("(instr(c.remote_number, ?) > 0 OR instr(c.dialed, ?) > 0)")
            params += [q.number, q.number]
    return where, params


def _has_other_filters(q: CallQuery) -> bool:
    return any(v is not None for v in (q.start, q.end, q.line, q.direction, q.status, q.held))


def _use_number_index(db: sqlite_utils.Database, q: CallQuery, for_count: bool) -> bool:
    if not _number_by_index(q):
        return False
    if for_count and not _has_other_filters(q):
        return True      # every number match counts: the cap stops it
    return _number_matches(db, q, SPARSE_LIMIT) < SPARSE_LIMIT


def _source(db: sqlite_utils.Database, q: CallQuery, for_count: bool) -> tuple[str, list[str], list[Any]]:
    """FROM clause, WHERE terms and their parameters."""
    by_number = _use_number_index(db, q, for_count)
    where, params = _where(q, number_as_filter=not by_number)
    if by_number:
        sub, sub_params = _candidates(q)
        # CROSS JOIN keeps the candidates as the outer loop: look each one up by rowid.
        return f"({sub}) AS m CROSS JOIN calls AS c ON c.rowid = m.rid", where, sub_params + params
    return "calls AS c", where, params


def _page_sql(db: sqlite_utils.Database, q: CallQuery) -> tuple[str, list[Any]]:
    source, where, params = _source(db, q, for_count=False)
    if q.after is not None:
        started_at, rowid = _decode_cursor(q)
        cmp = "<" if q.order == "newest" else ">"
        where.append(f"c.started_at {cmp}= ? AND (c.started_at {cmp} ? OR c.rowid {cmp} ?)")
        params += [started_at, started_at, rowid]
    direction = "DESC" if q.order == "newest" else "ASC"
    sql = f"SELECT c.rowid AS _rowid, c.* FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY c.started_at {direction}, c.rowid {direction} LIMIT ?"
    return sql, params + [q.limit + 1]


def _count_sql(db: sqlite_utils.Database, q: CallQuery, cap: int) -> tuple[str, list[Any]]:
    source, where, params = _source(db, q, for_count=True)
    inner = f"SELECT 1 FROM {source}" + (" WHERE " + " AND ".join(where) if where else "")
    return f"SELECT count(*) FROM ({inner} LIMIT ?)", params + [cap]


# -- the public calls ---------------------------------------------------------------------------------
def search(db: sqlite_utils.Database, q: CallQuery) -> tuple[list[dict[str, Any]], str | None]:
    """One page of calls (catalog.public_call dicts) and the cursor of the next page (None: last)."""
    q = _checked(q)
    sql, params = _page_sql(db, q)
    rows = list(db.query(sql, params))
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    cursor = _encode_cursor(replace(q, after=None), rows[-1]["started_at"], rows[-1]["_rowid"]) if more else None
    return [catalog.public_call(r) for r in rows], cursor


def count(db: sqlite_utils.Database, q: CallQuery, cap: int = 10000) -> tuple[int, bool]:
    """How many calls match (the cursor is ignored), counted up to cap: (n, n >= cap)."""
    q = replace(_checked(q), after=None)
    sql, params = _count_sql(db, q, max(1, int(cap)))
    n = db.execute(sql, params).fetchone()[0]
    return n, n >= cap


def explain(db: sqlite_utils.Database, q: CallQuery, for_count: bool = False) -> list[str]:
    """EXPLAIN QUERY PLAN of the page (or count) query, one step per line: for tests and the bench."""
    q = _checked(q)
    sql, params = _count_sql(db, q, 10000) if for_count else _page_sql(db, q)
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]
