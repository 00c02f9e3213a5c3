"""Finding calls: a CallQuery (appliance.store.call_query) turned into SQL that stays fast on a
million calls, paged with a cursor (keyset on the sort key and rowid; never OFFSET).

Calls sort by time (started_at) or by duration (ifnull(duration_s, -1): a call still being
recorded has none and counts as the shortest). Every filter has an index on (column, key) for
both keys (held and noted: partial indexes), so:
- no filter, a date range (by time), line, status, direction, held, noted: walk the index of
  the filter that usually leaves the fewest calls, in the page's order, and stop after a page;
- a number prefix: a range on the remote_number and dialed indexes (not LIKE);
- a number containing 3+ characters, and words of names and notes: the trigram full-text
  index calls_fts; two digits are in most numbers, so those are a filter on the walk above
  (1-2 characters with + * # in them are rare: a scan of the small number indexes finds them);
- a date range sorted by duration: the calls_started range.
A lookup that finds few calls (fewer than SPARSE_LIMIT) is fetched and sorted; one that finds
many is a filter on the ordered walk instead, which finds a page of them after a short stretch.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import tzinfo
from typing import Any

import sqlite_utils

from . import call_query, catalog
from .call_query import (  # noqa: F401  (the names callers know search by)
    DIRECTIONS,
    MATCHES,
    MAX_LIMIT,
    ORDERS,
    QUERY_KEYS,
    REVERSED,
    STATUSES,
    CallQuery,
    QueryError,
    checked,
    fail,
    has_filters,
)
from .kinds import Status

SPARSE_LIMIT = 10000     # a lookup finding fewer calls than this is fetched, then sorted
DURATION_KEY = "ifnull(c.duration_s, -1)"      # as the duration indexes are made (store/db.py)


def parse_query(args: Mapping[str, str], tz: tzinfo, region: str = "US") -> CallQuery:
    """call_query.parse_query, and a cursor that is not this search's is refused now, not on
    the page after."""
    query = call_query.parse_query(args, tz, region)
    if query.after is not None:
        _decode_cursor(checked(query))
    return query


def _key(q: CallQuery) -> str:
    return "c.started_at" if q.by_time else DURATION_KEY


def _descending(q: CallQuery) -> bool:
    return q.order in ("newest", "longest")


# -- the cursor ---------------------------------------------------------------------------------------
def _fingerprint(q: CallQuery) -> str:
    """What a cursor belongs to: the filters and order (not the page size)."""
    filters = {k: v for k, v in asdict(q).items() if k not in ("limit", "after")}
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:12]


def _encode_cursor(q: CallQuery, key: str | float, rowid: int) -> str:
    payload = json.dumps([key, rowid, _fingerprint(q)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _good_key(q: CallQuery, key: Any) -> bool:
    if q.by_time:
        return isinstance(key, str) and 0 < len(key) <= 40 and key.isprintable()
    return type(key) in (int, float) and -1 <= key < 1e9


def _decode_cursor(q: CallQuery) -> tuple[str | float, int]:
    """(sort key, rowid) of the last call of the previous page; QueryError if it is not a cursor
    this search handed out."""
    text = q.after or ""
    try:
        if len(text) > 200 or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
            raise ValueError
        key, rowid, fingerprint = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if (not _good_key(q, key) or type(rowid) is not int or not 0 < rowid < 2 ** 63
                or not isinstance(fingerprint, str)):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise fail("after") from None
    if fingerprint != _fingerprint(replace(q, after=None)):
        raise fail("after_other", "after")
    return key, rowid


# -- lookups --------------------------------------------------------------------------------------------
def _quoted(text: str) -> str:
    """An FTS5 phrase: + * # " and FTS5 keywords lose any special meaning."""
    return '"' + text.replace('"', '""') + '"'


def _fts_phrase(number: str) -> str:
    """An FTS5 query for the number as a substring of remote_number or dialed."""
    return "{remote_number dialed} : " + _quoted(number)


def _fts_words(text: str) -> str:
    """An FTS5 query for every word of 3+ characters as a substring of one of the indexed
    columns (numbers, name, note), in any case. Shorter words are left out: the trigram index
    cannot find them, and the longer ones already narrow the search."""
    words = dict.fromkeys(w for w in text.split() if len(w) >= call_query.MIN_WORD)
    return " AND ".join(_quoted(w) for w in words)


def _prefix_bounds(number: str) -> tuple[str, str]:
    """[low, high): every text starting with number (BINARY collation: code point order)."""
    return number, number[:-1] + chr(ord(number[-1]) + 1)


def _number_by_index(q: CallQuery) -> bool:
    """Whether the number has an index to be looked up by: a prefix (its range on the number
    indexes), 3+ characters (the trigram index), or 1-2 characters with + * or # in them (rare:
    a scan of the small number indexes). Two digits are in most numbers: no index helps."""
    return q.number is not None and (q.match == "prefix" or len(q.number) >= 3 or not q.number.isdigit())


def _number_lookup(q: CallQuery) -> tuple[str, list[Any]]:
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


def _lookups(q: CallQuery, for_count: bool) -> list[tuple[str, str, list[Any]]]:
    """The lookups that may find the calls more directly than an ordered walk: (what, subquery
    of rowids as rid, parameters)."""
    found = []
    if _number_by_index(q):
        found.append(("number", *_number_lookup(q)))
    if q.text is not None:
        found.append(("text", "SELECT rowid AS rid FROM calls_fts WHERE calls_fts MATCH ?", [_fts_words(q.text)]))
    if not q.by_time and not for_count and (q.start is not None or q.end is not None):
        found.append(("dates", "SELECT rowid AS rid FROM calls WHERE started_at >= ? AND started_at < ?",
                      [q.start or "", q.end or "~"]))
    return found


def _matches(db: sqlite_utils.Database, sub: str, params: list[Any], limit: int) -> int:
    """How many rowids a lookup finds, counted up to limit."""
    return db.execute(f"SELECT count(*) FROM ({sub} LIMIT ?)", params + [limit]).fetchone()[0]


def _lookup(db: sqlite_utils.Database, q: CallQuery, for_count: bool) -> tuple[str, str, list[Any]] | None:
    """The lookup to fetch the calls by, or None: walk an index in the page's order."""
    found = _lookups(q, for_count)
    if for_count and len(found) == 1 and not _narrowed_otherwise(q, found[0][0]):
        return found[0]      # every match counts: the cap stops it
    for lookup in found:
        if _matches(db, lookup[1], lookup[2], SPARSE_LIMIT) < SPARSE_LIMIT:
            return lookup
    return None


def _narrowed_otherwise(q: CallQuery, by: str) -> bool:
    others = replace(q, number=None) if by == "number" else replace(q, text=None)
    return has_filters(others)


# -- SQL ------------------------------------------------------------------------------------------------
def _driving_column(q: CallQuery) -> str | None:
    """The filter whose (column, key) index walks the calls when no lookup does: the one that
    usually leaves the fewest calls. The others are written +c.column (SQLite then cannot use
    their index), so the planner, which has no statistics, does not guess."""
    if q.held:
        return "held"
    if q.noted:
        return "noted"
    if q.status is not None and q.status != Status.COMPLETE:
        return "status"
    for column in ("line", "direction", "status"):
        if getattr(q, column) is not None:
            return column
    return None


def _where(q: CallQuery, by: str | None) -> tuple[list[str], list[Any]]:
    """WHERE terms and parameters: every filter but the one the lookup `by` already applied."""
    where: list[str] = []
    params: list[Any] = []
    dates = "c.started_at" if by is not None or q.by_time else "+c.started_at"  # not an index to sort by duration
    for bound, op in ((q.start, ">="), (q.end, "<")):
        if bound is not None:
            where.append(f"{dates} {op} ?")
            params.append(bound)
    driving = _driving_column(q) if by is None else None
    for column in ("line", "direction", "status"):
        if getattr(q, column) is not None:
            where.append(f"{'' if column == driving else '+'}c.{column} = ?")
            params.append(getattr(q, column))
    if q.held is not None:
        # Literally "held = 1" / "note IS NOT NULL" when it leads: only then can SQLite use the
        # partial index.
        where.append("c.held = 1" if driving == "held" else f"+c.held = {int(q.held)}")
    if q.noted is not None:
        where.append("c.note IS NOT NULL" if driving == "noted" else
                     f"+c.note IS {'NOT ' if q.noted else ''}NULL")
    if q.number is not None and by != "number":
        if q.match == "prefix":
            where.append("(substr(c.remote_number, 1, ?) = ? OR substr(c.dialed, 1, ?) = ?)")
            params += [len(q.number), q.number, len(q.number), q.number]
        else:
            where.append("(instr(c.remote_number, ?) > 0 OR instr(c.dialed, ?) > 0)")
            params += [q.number, q.number]
    if q.text is not None and by != "text":
        # Evaluated once into a set of rowids; + keeps it from becoming the walk.
        where.append("+c.rowid IN (SELECT rowid FROM calls_fts WHERE calls_fts MATCH ?)")
        params.append(_fts_words(q.text))
    return where, params


def _source(db: sqlite_utils.Database, q: CallQuery, for_count: bool) -> tuple[str, list[str], list[Any]]:
    """FROM clause, WHERE terms and their parameters."""
    lookup = _lookup(db, q, for_count)
    where, params = _where(q, lookup[0] if lookup else None)
    if lookup:
        # CROSS JOIN keeps the lookup as the outer loop: each call found by rowid.
        return f"({lookup[1]}) AS m CROSS JOIN calls AS c ON c.rowid = m.rid", where, lookup[2] + params
    return "calls AS c", where, params


def _page_sql(db: sqlite_utils.Database, q: CallQuery, after: tuple[str | float, int] | None) -> tuple[str, list[Any]]:
    source, where, params = _source(db, q, for_count=False)
    key, desc = _key(q), _descending(q)
    if after is not None:
        cmp = "<" if desc else ">"
        where.append(f"{key} {cmp}= ? AND ({key} {cmp} ? OR c.rowid {cmp} ?)")
        params += [after[0], after[0], after[1]]
    direction = "DESC" if desc else "ASC"
    sql = f"SELECT c.rowid AS _rowid, {key} AS _key, c.* FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {key} {direction}, c.rowid {direction} LIMIT ?"
    return sql, params + [q.limit + 1]


def _count_sql(db: sqlite_utils.Database, q: CallQuery, cap: int) -> tuple[str, list[Any]]:
    q = replace(q, order="newest")
    lookup = _lookup(db, q, for_count=True)
    if lookup and not _where(q, lookup[0])[0]:
        return f"SELECT count(*) FROM ({lookup[1]} LIMIT ?)", lookup[2] + [cap]     # the rowids alone
    source, where, params = _source(db, q, for_count=True)
    inner = f"SELECT 1 FROM {source}" + (" WHERE " + " AND ".join(where) if where else "")
    return f"SELECT count(*) FROM ({inner} LIMIT ?)", params + [cap]


# -- the public calls ---------------------------------------------------------------------------------
def search(db: sqlite_utils.Database, q: CallQuery) -> tuple[list[dict[str, Any]], str | None]:
    """One page of calls (catalog.public_call dicts) and the cursor of the next page (None: last)."""
    q = checked(q)
    after = _decode_cursor(q) if q.after is not None else None
    rows = list(db.query(*_page_sql(db, q, after)))
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    cursor = _encode_cursor(replace(q, after=None), rows[-1]["_key"], rows[-1]["_rowid"]) if more else None
    return [catalog.public_call(r) for r in rows], cursor


def count(db: sqlite_utils.Database, q: CallQuery, cap: int = 10000) -> tuple[int, bool]:
    """How many calls match (the cursor is ignored), counted up to cap: (n, n >= cap)."""
    q = replace(checked(q), after=None)
    sql, params = _count_sql(db, q, max(1, int(cap)))
    n = db.execute(sql, params).fetchone()[0]
    return n, n >= cap


def every(db: sqlite_utils.Database, q: CallQuery, cap: int) -> tuple[list[dict[str, Any]], bool]:
    """The calls that match, in the query's order, up to cap of them; and whether there are more."""
    q = replace(checked(q), after=None, limit=MAX_LIMIT)
    found: list[dict[str, Any]] = []
    while len(found) <= cap:
        rows, q_after = search(db, q)
        found += rows
        if q_after is None:
            break
        q = replace(q, after=q_after)
    return found[:cap], len(found) > cap


def neighbours(db: sqlite_utils.Database, q: CallQuery, call_id: str) -> tuple[str | None, str | None]:
    """The ids of the calls before and after this one in the list q gives (None: it is the
    first, or the last)."""
    q = replace(checked(q), after=None, limit=1)
    row = db.execute(f"SELECT c.rowid, {_key(q)} FROM calls AS c WHERE c.id = ?", [call_id]).fetchone()
    if row is None:
        return None, None
    around = []
    for order in (REVERSED[q.order], q.order):
        found = next(iter(db.query(*_page_sql(db, replace(q, order=order), (row[1], row[0])))), None)
        around.append(found["id"] if found else None)
    return around[0], around[1]


def explain(db: sqlite_utils.Database, q: CallQuery, for_count: bool = False) -> list[str]:
    """EXPLAIN QUERY PLAN of the page (or count) query, one step per line: for tests and the bench."""
    q = checked(q)
    if for_count:
        sql, params = _count_sql(db, q, 10000)
    else:
        sql, params = _page_sql(db, q, _decode_cursor(q) if q.after is not None else None)
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]
