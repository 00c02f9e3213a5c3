"""Finding calls: a CallQuery (appliance.store.call_query) turned into SQL that stays fast on a
million calls, paged with a cursor (keyset on the sort key and rowid; never OFFSET).

Calls sort by time (started_at) or by duration (ifnull(duration_s, -1): a call still being
recorded has none and counts as the shortest). Every filter has an index on (column, key) for
both keys (held and noted: partial indexes), so with no lookup a page is a short walk of the
index of the filter that usually leaves the fewest calls, in the page's order. Numbers, words and
(sorted by duration) date ranges may be looked up instead: appliance/store/search_plan.py
chooses. Counts stop at a cap ("more than 10,000").
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
from .search_plan import (  # noqa: F401  (fts_phrase, forget_plans: tests and benches)
    Lookup,
    driving_column,
    forget_plans,
    fts_phrase,
    fts_words,
    matches,
    plan,
    run,
)

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


# -- SQL ------------------------------------------------------------------------------------------------
def _where(q: CallQuery, by: str | None, for_count: bool = False) -> tuple[list[str], list[Any]]:
    """WHERE terms and parameters: every filter but the one the lookup `by` already applied."""
    if by == "number+filters":
        return [], []
    where: list[str] = []
    params: list[Any] = []
    dates = "c.started_at" if by is not None or q.by_time else "+c.started_at"  # not an index to sort by duration
    for bound, op in ((q.start, ">="), (q.end, "<")):
        if bound is not None:
            where.append(f"{dates} {op} ?")
            params.append(bound)
    driving = driving_column(q) if by is None else None
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
        text_where, text_params = _text_filter(q.text, by_rowid=for_count)
        where.append(text_where)
        params += text_params
    return where, params


def _text_filter(text: str, by_rowid: bool) -> tuple[str, list[Any]]:
    """The words as a test of each walked call. A page reads its calls' rows anyway: for words in
    ASCII, instr() on the lowered columns, what the trigram index finds for them. A count, which
    reads only an index, and words whose case only the index folds: the set of rowids the index
    finds, made once (+ keeps it from becoming the walk)."""
    words = list(dict.fromkeys(w.lower() for w in text.split() if len(w) >= call_query.MIN_WORD))
    if by_rowid or not all(w.isascii() for w in words):
        return "+c.rowid IN (SELECT rowid FROM calls_fts WHERE calls_fts MATCH ?)", [fts_words(text)]
    columns = ("c.remote_number", "c.dialed", "c.remote_name", "c.note")
    one = "(" + " OR ".join(f"instr(lower({column}), ?) > 0" for column in columns) + ")"
    return " AND ".join([one] * len(words)), [w for w in words for _ in columns]


def _source(q: CallQuery, lookup: Lookup | None, for_count: bool) -> tuple[str, list[str], list[Any]]:
    """FROM clause, WHERE terms and their parameters."""
    where, params = _where(q, lookup[0] if lookup else None, for_count)
    if lookup:
        # CROSS JOIN keeps the lookup as the outer loop: each call found by rowid.
        return f"({lookup[1]}) AS m CROSS JOIN calls AS c ON c.rowid = m.rid", where, lookup[2] + params
    if for_count and driving_column(q) == "noted":
        # The planner would count through a noted index that does not hold the other columns.
        return "calls AS c INDEXED BY calls_noted_filters", where, params
    return "calls AS c", where, params


def _page_sql(q: CallQuery, after: tuple[str | float, int] | None, lookup: Lookup | None) -> tuple[str, list[Any]]:
    source, where, params = _source(q, lookup, for_count=False)
    key, desc = _key(q), _descending(q)
    if after is not None:
        cmp = "<" if desc else ">"
        where.append(f"{key} {cmp}= ? AND ({key} {cmp} ? OR c.rowid {cmp} ?)")
        params += [after[0], after[0], after[1]]
    direction = "DESC" if desc else "ASC"
    where_sql = " WHERE " + " AND ".join(where) if where else ""
    if lookup is None:      # the walk: in the index's order, a page and stop
        return (f"SELECT c.rowid AS _rowid, {key} AS _key, c.* FROM {source}{where_sql} "
                f"ORDER BY {key} {direction}, c.rowid {direction} LIMIT ?", params + [q.limit + 1])
    # What a lookup finds is sorted by its key alone, then the page's rows are read: sorting whole
    # rows would take longer than finding them.
    return (f"SELECT c.rowid AS _rowid, p.k AS _key, c.* FROM (SELECT c.rowid AS rid, {key} AS k FROM {source}"
            f"{where_sql} ORDER BY k {direction}, rid {direction} LIMIT ?) AS p CROSS JOIN calls AS c "
            f"ON c.rowid = p.rid ORDER BY p.k {direction}, p.rid {direction}", params + [q.limit + 1])


def _count_sql(q: CallQuery, lookup: Lookup | None) -> tuple[str, list[Any]]:
    """A row for each matching call."""
    if lookup and not _where(q, lookup[0])[0]:
        return lookup[1], lookup[2]     # the rowids alone
    source, where, params = _source(q, lookup, for_count=True)
    return f"SELECT 1 FROM {source}" + (" WHERE " + " AND ".join(where) if where else ""), params


# -- the public calls ---------------------------------------------------------------------------------
def search(db: sqlite_utils.Database, q: CallQuery) -> tuple[list[dict[str, Any]], str | None]:
    """One page of calls (catalog.public_call dicts) and the cursor of the next page (None: last)."""
    q = checked(q)
    after = _decode_cursor(q) if q.after is not None else None
    rows = run(db, q, False, lambda lookup: _page_sql(q, after, lookup), lambda sql: list(db.query(*sql)))
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    cursor = _encode_cursor(replace(q, after=None), rows[-1]["_key"], rows[-1]["_rowid"]) if more else None
    return [catalog.public_call(r) for r in rows], cursor


def count(db: sqlite_utils.Database, q: CallQuery, cap: int = 10000) -> tuple[int, bool]:
    """How many calls match (the cursor is ignored), counted up to cap: (n, n >= cap)."""
    q = replace(checked(q), after=None, order="newest")
    cap = max(1, int(cap))
    # Counted as the plan counts a lookup's matches: a lookup counted to decide is not counted again.
    n = run(db, q, True, lambda lookup: _count_sql(q, lookup), lambda sql: matches(db, sql[0], sql[1], cap))
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
        way = replace(q, order=order)
        found = run(db, way, False, lambda lookup, way=way: _page_sql(way, (row[1], row[0]), lookup),
                     lambda sql: next(iter(db.query(*sql)), None))
        around.append(found["id"] if found else None)
    return around[0], around[1]


def explain(db: sqlite_utils.Database, q: CallQuery, for_count: bool = False) -> list[str]:
    """EXPLAIN QUERY PLAN of the page (or count) query, one step per line: for tests and the bench."""
    q = checked(q)
    if for_count:
        q = replace(q, order="newest")
        sql, params = _count_sql(q, plan(db, q, True).lookup)
        sql, params = f"SELECT count(*) FROM ({sql} LIMIT ?)", params + [10000]
    else:
        sql, params = _page_sql(q, _decode_cursor(q) if q.after is not None else None, plan(db, q, False).lookup)
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]
