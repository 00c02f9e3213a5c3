"""Which calls each retention rule may delete, oldest first, read a batch at a time (a first sweep
may face a million calls): the SQL behind store.retention.

- expired: finished calls older than their line's maximum age (retention_days), not on hold;
- deletable: calls with a recording, not on hold and past their line's minimum age
  (min_age_days), for the size cap and the free-space floor.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from .ages import DAY_S, Ages
from .kinds import FINISHED, WITH_FILE, placeholders
from .times import iso

BATCH = 500            # candidate calls read (and deleted) at a time


@dataclass(frozen=True)
class Candidate:
    id: str
    started_at: str
    size: int           # bytes of its recording (0: none)
    line: int


_WITH_FILE = f"status IN ({placeholders(WITH_FILE)}) AND path IS NOT NULL"


def _batches(db: sqlite_utils.Database, where: str, params: list[Any], batch: int) -> Iterator[list[Candidate]]:
    """The calls matching `where` and not on hold, oldest first, `batch` at a time, never the
    same call twice (keyset paging: a batch deleted meanwhile does not shift the next)."""
    after: tuple[str, int] = ("", 0)
    while True:
        rows = db.execute(f"SELECT id, started_at, ifnull(size_bytes, 0) * (path IS NOT NULL), line, rowid "
                          f"FROM calls WHERE held = 0 AND {where} AND (started_at, rowid) > (?, ?) "
                          "ORDER BY started_at, rowid LIMIT ?", [*params, *after, batch]).fetchall()
        if rows:
            yield [Candidate(r[0], r[1], r[2], r[3]) for r in rows]
        if len(rows) < batch:
            return
        after = (rows[-1][1], rows[-1][4])


def expired(db: sqlite_utils.Database, ages: Ages, now: float,
            batch: int | None = None) -> Iterator[tuple[int, list[Candidate]]]:
    """(days, a batch of calls older than `days`) for each maximum age in force: the lines with
    their own first, then the rest under the box-wide one. One query per group, so each uses the
    (line, started_at) index."""
    own = sorted(ages.line_max)
    groups = [(ages.line_max[line], "line = ?", [line]) for line in own]
    groups.append((ages.box_max, f"line NOT IN ({placeholders(own)})", own))
    for days, where, params in groups:
        if days <= 0:
            continue
        cutoff = iso(now - days * DAY_S)
        for rows in _batches(db, f"{where} AND status IN ({placeholders(FINISHED)}) AND started_at < ?",
                             [*params, *FINISHED, cutoff], batch or BATCH):
            yield days, rows


def deletable(db: sqlite_utils.Database, ages: Ages, now: float, batch: int | None = None) -> Iterator[list[Candidate]]:
    """Batches of the calls with a recording that may go to make room: not on hold, past their
    line's minimum age, oldest first."""
    past, params = ages.past_minimum_sql(now)
    yield from _batches(db, f"{_WITH_FILE} AND {past}", [*WITH_FILE, *params], batch or BATCH)


def recordings_bytes(db: sqlite_utils.Database) -> int:
    """What the recordings take, by the catalog's sizes."""
    return db.execute(f"SELECT ifnull(sum(size_bytes), 0) FROM calls WHERE {_WITH_FILE}", WITH_FILE).fetchone()[0]


def kept_back(db: sqlite_utils.Database, ages: Ages, now: float) -> tuple[int, int]:
    """How many recordings are left that no rule may delete: (on hold, younger than the minimum)."""
    held = db.execute(f"SELECT count(*) FROM calls WHERE held = 1 AND {_WITH_FILE}", WITH_FILE).fetchone()[0]
    past, params = ages.past_minimum_sql(now)
    young = db.execute(f"SELECT count(*) FROM calls WHERE held = 0 AND {_WITH_FILE} AND NOT ({past})",
                       [*WITH_FILE, *params]).fetchone()[0]
    return held, young
