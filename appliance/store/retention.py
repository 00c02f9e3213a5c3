"""Retention and the disk guard: which finished calls to delete, and when.

Two rules, run by the daemon's retention thread at start, every minute, and soon after the
retention settings change:

1. retention_days (0: keep forever): calls (complete, recovered or discarded) that started
   more than that many days ago are deleted.
2. disk_reserve_pct: while free space on the data filesystem is below that percentage, the
   oldest finished call with a file is deleted, one at a time, checking the space again after
   each, so the recorder always has room for the calls in progress.

Calls on hold are never deleted. When the guard runs out of calls it may delete while space is
still short, it logs one 'warning' call event (no line) saying so, at most once an hour: what
is left is on hold (or there is nothing left), and a person has to act.
Every deletion goes through removal.delete_call, with the rule as its reason.
"""
from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlite_utils

from . import catalog
from .kinds import FINISHED, WITH_FILE, Event, placeholders
from .removal import RemovalError, delete_call
from .times import iso, seconds

log = logging.getLogger("hookline.retention")

DAY_S = 86400.0
WARN_EVERY_S = 3600.0
WARNING_CODE = "disk-nearly-full"
BATCH = 200            # candidate calls read at a time

# Which calls each rule may delete (SQL terms for _oldest, and their parameters).
_EXPIRED = f"status IN ({placeholders(FINISHED)}) AND started_at < ?"
_WITH_FILE = f"status IN ({placeholders(WITH_FILE)}) AND path IS NOT NULL"


def free_fraction_of(path: Path) -> float:
    """Free space on the filesystem holding path, as a fraction of its size (what a non-root
    writer can still use)."""
    usage = shutil.disk_usage(path)
    return usage.free / usage.total if usage.total else 0.0


def _delete(db: sqlite_utils.Database, data_dir: Path, call_id: str, reason: str, **rule: Any) -> bool:
    try:
        delete_call(db, data_dir, call_id, reason, **rule)
        return True
    except RemovalError as e:      # held or finished meanwhile, a tampered path: skip it
        log.warning("retention: not deleting call %s: %s", call_id, e)
    except (OSError, sqlite3.Error) as e:
        log.error("retention: deleting call %s failed: %s", call_id, e)
    return False


def _oldest(db: sqlite_utils.Database, where: str, params: list[Any]) -> Iterator[str]:
    """Ids of the calls matching `where` (and not on hold), oldest first, fetched BATCH at a
    time (a first sweep may face a million calls) and never the same call twice."""
    batch = BATCH
    after: tuple[str, int] = ("", 0)
    while True:
        rows = db.execute(f"SELECT id, started_at, rowid FROM calls WHERE held = 0 AND {where} "
                          "AND (started_at, rowid) > (?, ?) ORDER BY started_at, rowid LIMIT ?",
                          [*params, *after, batch]).fetchall()
        for call_id, *_ in rows:
            yield call_id
        if len(rows) < batch:
            return
        after = (rows[-1][1], rows[-1][2])


def expire(db: sqlite_utils.Database, data_dir: Path, days: int, now: float,
           should_stop: Callable[[], bool] | None = None) -> list[str]:
    """Delete the calls not on hold that started more than `days` days before `now`."""
    if days <= 0:
        return []
    cutoff = iso(now - days * DAY_S)
    reason = f"retention: older than {days} days"
    deleted = []
    for call_id in _oldest(db, _EXPIRED, [*FINISHED, cutoff]):
        if should_stop and should_stop():
            break
        if _delete(db, data_dir, call_id, reason, rule="retention", days=days):
            deleted.append(call_id)
    return deleted


def guard(db: sqlite_utils.Database, data_dir: Path, reserve_pct: int, now: float,
          free_fraction: Callable[[], float], should_stop: Callable[[], bool] | None = None) -> list[str]:
    """While free space is below reserve_pct %, delete the oldest finished call with a file that
    is not on hold; warn (at most hourly) if that runs out before the space is back."""
    reserve = reserve_pct / 100.0
    free = free_fraction()
    if free >= reserve:
        return []
    reason = f"disk guard: free space below {reserve_pct}%"
    deleted: list[str] = []
    for call_id in _oldest(db, _WITH_FILE, list(WITH_FILE)):
        if should_stop and should_stop():
            break
        if _delete(db, data_dir, call_id, reason, rule="disk-guard", reserve_pct=reserve_pct):
            deleted.append(call_id)
            _checkpoint(db)
            free = free_fraction()
            if free >= reserve:
                break
    else:   # every candidate tried and the space is still short
        _warn_full(db, now, free, reserve_pct)
    if deleted:
        log.warning("disk guard: deleted %d call(s) to keep %d%% of the disk free (now %.1f%% free)",
                    len(deleted), reserve_pct, 100 * free)
    return deleted


def _checkpoint(db: sqlite_utils.Database) -> None:
    """Each deletion appends to the catalog's write-ahead log; a checkpoint lets the next write
    reuse the log from its start instead of growing it on a disk that is short of space.
    PASSIVE: never waits for (or blocks) the lines' writes or the web page's reads."""
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error as e:
        log.debug("disk guard: checkpoint failed: %s", e)


def _warn_full(db: sqlite_utils.Database, now: float, free: float, reserve_pct: int) -> None:
    held = db.execute(f"SELECT count(*) FROM calls WHERE held = 1 AND {_WITH_FILE}", WITH_FILE).fetchone()[0]
    if held:
        message = (f"the disk is nearly full ({100 * free:.1f}% free, below disk_reserve_pct {reserve_pct}%) and "
                   f"every recording left ({held}) is on hold: release holds or export and delete calls")
    else:
        message = (f"the disk is nearly full ({100 * free:.1f}% free, below disk_reserve_pct {reserve_pct}%) and "
                   "there are no recordings left to delete: something else is filling it")
    try:
        last = db.execute("SELECT at FROM call_events WHERE kind = ? AND line IS NULL "
                          "AND json_extract(detail, '$.code') = ? ORDER BY id DESC LIMIT 1",
                          [Event.WARNING, WARNING_CODE]).fetchone()
        if last and 0 <= now - seconds(last[0]) < WARN_EVERY_S:
            log.debug("disk guard: %s (warned at %s)", message, last[0])
            return
        log.error("disk guard: %s", message)
        catalog.log_event(db, None, Event.WARNING, now, None, code=WARNING_CODE, message=message,
                          free_pct=round(100 * free, 2), reserve_pct=reserve_pct, held_recordings=held)
    except (sqlite3.Error, OSError) as e:     # a full disk may refuse even this
        log.error("disk guard: cannot log the warning event: %s", e)


def plan(db: sqlite_utils.Database, data_dir: str | Path, settings: dict[str, Any],
         now: float) -> list[tuple[str, str]]:
    """What a sweep now would delete, and why, deleting nothing (`hookline retention sweep
    --dry-run`). The disk guard's part is estimated from the files' sizes in the catalog."""
    data_dir = Path(data_dir)
    out: list[tuple[str, str]] = []
    days = int(settings.get("retention_days") or 0)
    freed = 0
    if days > 0:
        for call_id in _oldest(db, _EXPIRED, [*FINISHED, iso(now - days * DAY_S)]):
            out.append((call_id, f"retention: older than {days} days"))
            freed += _size(db, call_id)
    reserve_pct = int(settings.get("disk_reserve_pct") or 5)
    usage = shutil.disk_usage(data_dir)
    free, need = usage.free + freed, usage.total * reserve_pct / 100.0
    if free < need:
        expired = {call_id for call_id, _ in out}
        for call_id in _oldest(db, _WITH_FILE, list(WITH_FILE)):
            if free >= need:
                break
            if call_id not in expired:
                out.append((call_id, f"disk guard: free space below {reserve_pct}%"))
                free += _size(db, call_id)
    return out


def _size(db: sqlite_utils.Database, call_id: str) -> int:
    row = db.execute("SELECT size_bytes FROM calls WHERE id = ? AND path IS NOT NULL", [call_id]).fetchone()
    return (row[0] or 0) if row else 0


def sweep(db: sqlite_utils.Database, data_dir: str | Path, settings: dict[str, Any], now: float,
          free_fraction: Callable[[], float] | None = None, *,
          should_stop: Callable[[], bool] | None = None) -> list[str]:
    """Apply retention_days, then the disk guard; returns the ids deleted, in the order deleted.

    settings holds at least retention_days and disk_reserve_pct (settings.box_values());
    free_fraction measures free space (default: shutil.disk_usage of data_dir); should_stop
    lets a stopping daemon end a long sweep between two deletions.
    """
    data_dir = Path(data_dir)
    measure = free_fraction or (lambda: free_fraction_of(data_dir))
    deleted = expire(db, data_dir, int(settings.get("retention_days") or 0), now, should_stop)
    if deleted:
        log.info("retention: deleted %d call(s) older than %s days", len(deleted), settings.get("retention_days"))
    deleted += guard(db, data_dir, int(settings.get("disk_reserve_pct") or 5), now, measure, should_stop)
    return deleted


def deletion_reasons(db: sqlite_utils.Database, call_ids: list[str]) -> dict[str, str | None]:
    """call id -> the reason its last 'deleted' event recorded (None: no such event)."""
    reasons: dict[str, str | None] = {}
    for call_id in call_ids:
        events = [e for e in catalog.list_events(db, call_id=call_id) if e["kind"] == "deleted"]
        reasons[call_id] = events[-1]["detail"].get("reason") if events else None
    return reasons
