"""How a search finds its calls, and the SQL of its lookups (appliance/store/search.py writes
the rest). With no lookup, a walk of one index in the page's order, the other filters a test of
each call it visits. Lookups:
- a number prefix: a range on the remote_number and dialed indexes (not LIKE);
- a number containing 3+ characters, and words of names and notes: the trigram full-text
  index calls_fts; two digits are in most numbers, so those are a test on the walk
  (1-2 characters with + * # in them are rare: a scan of the small number indexes finds them);
- a date range sorted by duration: the calls_started range.
A lookup that finds few calls (fewer than SPARSE_LIMIT) is fetched and sorted; one that finds
many is a test on the walk, which soon finds a page of them, unless other filters make the walk
long (plan() says when, and run() gives way to the lookup after a budget).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

import sqlite_utils

from . import call_query
from .call_query import CallQuery, has_filters
from .kinds import Status

SPARSE_LIMIT = 10000     # a lookup finding fewer calls than this is fetched, then sorted
LOOKUP_CAP = 30000       # with other filters, a lookup finding fewer than this may still be fetched
STEPS_PER_CALL = 20      # SQLite VM instructions a walk takes per call it visits (measured: 9 to 19)


# -- lookups --------------------------------------------------------------------------------------------
def _quoted(text: str) -> str:
    """An FTS5 phrase: + * # " and FTS5 keywords lose any special meaning."""
    return '"' + text.replace('"', '""') + '"'


def fts_phrase(number: str) -> str:
    """An FTS5 query for the number as a substring of remote_number or dialed."""
    return "{remote_number dialed} : " + _quoted(number)


def fts_words(text: str) -> str:
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


def _number_lookup(q: CallQuery, filtered: bool = False) -> tuple[str, list[Any]]:
    """A subquery of the rowids (as rid) whose number matches, each once, through the number
    indexes; UNION ALL (the second part leaves out what the first found) streams, so a LIMIT
    stops it early. filtered: the other filters too, which those indexes carry (a count reads
    nothing else)."""
    if q.match == "contains" and len(q.number) >= 3:
        return "SELECT rowid AS rid FROM calls_fts WHERE calls_fts MATCH ?", [fts_phrase(q.number)]
    more, more_params = _indexed_filters(q) if filtered else ("", [])
    if q.match == "prefix":
        low, high = _prefix_bounds(q.number)
        return (f"SELECT rowid AS rid FROM calls WHERE remote_number >= ? AND remote_number < ?{more} "
                f"UNION ALL SELECT rowid FROM calls WHERE dialed >= ? AND dialed < ? "
                f"AND (remote_number IS NULL OR remote_number < ? OR remote_number >= ?){more}",
                [low, high, *more_params, low, high, low, high, *more_params])
    # >= '': every number, so the search walks the covering index rather than the table.
    return (f"SELECT rowid AS rid FROM calls WHERE remote_number >= '' AND instr(remote_number, ?) > 0{more} "
            f"UNION ALL SELECT rowid FROM calls WHERE dialed >= '' AND instr(dialed, ?) > 0 "
            f"AND (remote_number IS NULL OR instr(remote_number, ?) = 0){more}",
            [q.number, *more_params, q.number, q.number, *more_params])


def _indexed_filters(q: CallQuery) -> tuple[str, list[Any]]:
    """The filters on columns the number indexes hold, as terms that do not choose an index (+)."""
    terms, params = [], []
    for bound, op in ((q.start, ">="), (q.end, "<")):
        if bound is not None:
            terms.append(f" AND +started_at {op} ?")
            params.append(bound)
    for column in ("line", "direction", "status"):
        if getattr(q, column) is not None:
            terms.append(f" AND +{column} = ?")
            params.append(getattr(q, column))
    if q.held is not None:
        terms.append(f" AND +held = {int(q.held)}")
    return "".join(terms), params


def _lookups(q: CallQuery, for_count: bool) -> list[tuple[str, str, list[Any]]]:
    """The lookups that may find the calls more directly than an ordered walk: (what, subquery
    of rowids as rid, parameters)."""
    found = []
    if for_count and q.number is not None and q.text is None and q.noted is None and not (
            q.match == "contains" and len(q.number) >= 3):
        return [("number+filters", *_number_lookup(q, filtered=True))]      # counted in the index alone
    if _number_by_index(q) or (for_count and q.number is not None and not _narrowed_otherwise(q, "number")):
        found.append(("number", *_number_lookup(q)))
    if q.text is not None:
        found.append(("text", "SELECT rowid AS rid FROM calls_fts WHERE calls_fts MATCH ?", [fts_words(q.text)]))
    if not q.by_time and not for_count and (q.start is not None or q.end is not None):
        found.append(("dates", "SELECT rowid AS rid FROM calls WHERE started_at >= ? AND started_at < ?",
                      [q.start or "", q.end or "~"]))
    return found


def forget_plans(db: sqlite_utils.Database) -> None:
    """Forget the counts plan() remembered on this connection (a benchmark that times a query
    again and again on one connection wants each run to plan afresh)."""
    db.__dict__.pop("_hookline_matches", None)


def matches(db: sqlite_utils.Database, sub: str, params: list[Any], limit: int) -> int:
    """How many rows sub gives, counted up to limit. Remembered on the connection until the
    catalog changes (a page, its count and its neighbours ask the same)."""
    memo = db.__dict__.setdefault("_hookline_matches", {})
    version = (db.execute("PRAGMA data_version").fetchone()[0], db.conn.total_changes)
    if memo.get("version") != version or len(memo) > 64:
        memo.clear()
        memo["version"] = version
    key = (sub, tuple(params), limit)
    if key not in memo:
        memo[key] = db.execute(f"SELECT count(*) FROM ({sub} LIMIT ?)", params + [limit]).fetchone()[0]
    return memo[key]


Lookup = tuple[str, str, list[Any]]


class Plan(NamedTuple):
    lookup: Lookup | None = None      # fetch the calls by this; None: walk an index in order
    way_out: Lookup | None = None     # ... unless the walk takes more than `steps`: then by this
    steps: int = 0


def plan(db: sqlite_utils.Database, q: CallQuery, for_count: bool) -> Plan:
    """How to find the calls. A lookup that finds few is fetched and sorted. One that finds many
    is a test on the walk, which soon finds a page of them, if they are spread over the walk. But
    they may not be: a caller who called often two years ago and never since, or a name with a
    filter that leaves few of its calls. So a lookup of fewer than LOOKUP_CAP calls is the way
    out of a walk that could visit more calls than the lookup finds: once the walk has visited
    half as many as the lookup would fetch, it gives way."""
    found = _lookups(q, for_count)
    if for_count and len(found) == 1 and (found[0][0] == "number+filters" or not _narrowed_otherwise(q, found[0][0])):
        return Plan(found[0])      # every match counts: the cap stops it
    for lookup in found:
        if matches(db, lookup[1], lookup[2], SPARSE_LIMIT) < SPARSE_LIMIT:
            return Plan(lookup)
    for lookup in found:
        if lookup[0] != "dates":
            n = matches(db, lookup[1], lookup[2], LOOKUP_CAP)
            if n < LOOKUP_CAP and _walk_length(db, q, n + 1) > n:
                # A count walks on to its cap (or the end): the lookup is the shorter way.
                return Plan(lookup) if for_count else Plan(None, lookup, n * STEPS_PER_CALL // 2)
    return Plan()


class _OverBudget(Exception):
    pass


def _within(db: sqlite_utils.Database, steps: int, job: Callable[[], Any]) -> Any:
    """job(), interrupted (_OverBudget) after about `steps` SQLite VM instructions: a measure of
    the calls a walk has visited that does not depend on the machine or its load."""
    left = [steps // 1000]

    def tick() -> bool:
        left[0] -= 1
        return left[0] < 0

    db.conn.set_progress_handler(tick, 1000)
    try:
        return job()
    except sqlite3.OperationalError as e:
        if left[0] < 0:
            raise _OverBudget from e
        raise
    finally:
        db.conn.set_progress_handler(None, 1000)


def run(db: sqlite_utils.Database, q: CallQuery, for_count: bool, sql: Callable[[Lookup | None], tuple[str, list]],
         fetch: Callable[[tuple[str, list]], Any]) -> Any:
    """fetch(sql(lookup)) as the plan says; a walk over its budget gives way to the way out."""
    how = plan(db, q, for_count)
    if how.way_out is None:
        return fetch(sql(how.lookup))
    try:
        return _within(db, how.steps, lambda: fetch(sql(None)))
    except _OverBudget:
        return fetch(sql(how.way_out))


def _walk_length(db: sqlite_utils.Database, q: CallQuery, cap: int) -> int:
    """How many calls a walk visits at most (counted up to cap): those of its driving filter,
    within the dates when it walks in time order."""
    where, params = [], []
    driving = driving_column(q)
    if driving == "held":
        where.append("held = 1")
    elif driving == "noted":
        where.append("note IS NOT NULL")
    elif driving is not None:
        where.append(f"{driving} = ?")
        params.append(getattr(q, driving))
    if q.by_time:
        for bound, op in ((q.start, ">="), (q.end, "<")):
            if bound is not None:
                where.append(f"started_at {op} ?")
                params.append(bound)
    sub = "SELECT 1 FROM calls" + (" WHERE " + " AND ".join(where) if where else "")
    return matches(db, sub, params, cap)


def _narrowed_otherwise(q: CallQuery, by: str) -> bool:
    others = replace(q, number=None) if by == "number" else replace(q, text=None)
    return has_filters(others)


def driving_column(q: CallQuery) -> str | None:
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
