"""Retention and the disk guard: which finished calls to delete, and when.

The rules, run by the daemon's retention thread at start, every minute, and soon after the
retention settings change, in this order:

1. maximum age (retention_days, box-wide or per line; 0: keep forever): finished calls
   (complete, recovered or discarded) that started longer ago are deleted;
2. size cap (max_recordings_gb; 0: none): while the recordings take more than that, the oldest
   deletable calls go;
3. free-space floor (the stricter of disk_reserve_pct and disk_reserve_gb): while free space on
   the data filesystem is below it, the oldest deletable calls go, checking the space again
   after each batch. When the floor is reached and no rule may delete anything, `when_full`
   decides: delete-oldest (the default) deletes the oldest calls past their minimum age;
   stop-recording deletes nothing for the floor and the lines stop recording new calls (the
   outcome's `full` is the reason they give) until there is room again.

"Deletable" means: has a recording, not on hold, and past its line's minimum age (min_age_days):
no rule ever deletes a younger call (removal.delete_calls refuses it too). When space stays
short, one 'warning' call event (no line) says so, at most once an hour, and a person has to act.
Every deletion goes through removal.delete_calls, a batch per transaction, with the rule as its
reason. A dry run (preview) walks the same rules, deleting nothing, and reports each one's effect.
"""
from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from . import ages as agesmod, catalog, retention_rules as rules, settings as settingsmod
from .kinds import Event
from .removal import delete_calls
from .retention_rules import Candidate
from .times import seconds

log = logging.getLogger("hookline.retention")

GB = 1e9
WARN_EVERY_S = 3600.0
WARNING_CODE = "disk-nearly-full"
STOPPED_CODE = "recording-stopped"
RULES = ("retention", "size-cap", "disk-guard")

# (free bytes, total bytes) of the filesystem holding the data folder.
DiskUsage = Callable[[], tuple[int, int]]


def disk_usage_of(path: Path) -> tuple[int, int]:
    """Free and total bytes on the filesystem holding path (what a non-root writer can use)."""
    usage = shutil.disk_usage(path)
    return usage.free, usage.total


def free_fraction_of(path: Path) -> float:
    free, total = disk_usage_of(path)
    return free / total if total else 0.0


@dataclass
class Effect:
    """What one rule deleted (or would delete)."""
    rule: str
    count: int = 0
    bytes: int = 0
    oldest: str | None = None
    newest: str | None = None

    def add(self, rows: list[Candidate]) -> None:
        self.count += len(rows)
        self.bytes += sum(r.size for r in rows)
        first, last = min(r.started_at for r in rows), max(r.started_at for r in rows)
        self.oldest = first if self.oldest is None else min(self.oldest, first)
        self.newest = last if self.newest is None else max(self.newest, last)


@dataclass
class Outcome:
    deleted: list[tuple[str, str]] = field(default_factory=list)   # (call id, reason), in order
    effects: dict[str, Effect] = field(default_factory=lambda: {r: Effect(r) for r in RULES})
    full: str | None = None      # why new calls are not recorded (when_full = stop-recording)

    @property
    def ids(self) -> list[str]:
        return [call_id for call_id, _ in self.deleted]


def floor_bytes(values: dict[str, Any], total: int) -> float:
    """The free-space floor: the stricter of disk_reserve_pct and disk_reserve_gb."""
    return max(total * int(values.get("disk_reserve_pct") or 5) / 100.0, float(values.get("disk_reserve_gb") or 0) * GB)


def floor_words(values: dict[str, Any]) -> str:
    pct, gb = int(values.get("disk_reserve_pct") or 5), float(values.get("disk_reserve_gb") or 0)
    return f"{pct}%" + (f" or {gb:g} GB" if gb else "")


def full_reason(values: dict[str, Any]) -> str:
    """What a call not recorded because the disk is full says (when_full = stop-recording)."""
    return (f"not recorded: the disk is below its free-space floor ({floor_words(values)}) and the box is set "
            "to stop recording when full")


def check_full(db: sqlite_utils.Database, data_dir: str | Path, values: dict[str, Any], now: float,
               disk: DiskUsage | None = None) -> str | None:
    """At start, before the lines record and without a sweep: the reason new calls are not
    recorded when the disk is already below its floor and when_full is stop-recording (and the
    alarm), else None. The retention thread's sweeps keep it up to date from then on."""
    if values.get("when_full") != "stop-recording":
        return None
    free, total = (disk or (lambda: disk_usage_of(Path(data_dir))))()
    if free >= floor_bytes(values, total):
        return None
    _warn_full(db, now, free, total, values, agesmod.load(db), STOPPED_CODE)
    return full_reason(values)


class _Sweep:
    """One pass of the rules; `apply` False: a dry run that deletes nothing."""

    def __init__(self, db: sqlite_utils.Database, data_dir: Path, values: dict[str, Any], now: float,
                 ages: agesmod.Ages, disk: DiskUsage, apply: bool, should_stop: Callable[[], bool] | None) -> None:
        self.db, self.data_dir, self.values, self.now, self.ages = db, data_dir, values, now, ages
        self.disk, self.apply, self.should_stop = disk, apply, should_stop or (lambda: False)
        self.out = Outcome()
        self.taken: set[str] = set()     # a dry run's deletions so far
        self.freed = 0

    def take(self, rule: str, rows: list[Candidate], reason: str, **facts: Any) -> int:
        """Delete (or, in a dry run, count) these calls for `rule`; returns the bytes freed."""
        rows = [r for r in rows if r.id not in self.taken]
        if self.apply and rows:
            done, refused = delete_calls(self.db, self.data_dir, [r.id for r in rows], reason, rule=rule, **facts)
            for call_id, why in refused.items():     # held or protected meanwhile, a tampered path
                log.warning("retention: not deleting call %s: %s", call_id, why)
            ids = {row["id"] for row in done}
            rows = [r for r in rows if r.id in ids]
        if not rows:
            return 0
        self.taken.update(r.id for r in rows)
        self.out.deleted += [(r.id, reason) for r in rows]
        self.out.effects[rule].add(rows)
        freed = sum(r.size for r in rows)
        self.freed += freed
        return freed

    def max_age(self) -> None:
        for days, rows in rules.expired(self.db, self.ages, self.now):
            if self.should_stop():
                return
            self.take("retention", rows, f"retention: older than {days} days", days=days)

    def size_cap(self) -> None:
        cap_gb = float(self.values.get("max_recordings_gb") or 0)
        if cap_gb <= 0:
            return
        over = [rules.recordings_bytes(self.db) - (0 if self.apply else self.freed) - cap_gb * GB]
        reason = f"size cap: recordings above {cap_gb:g} GB"
        for chunk in self._chunks(lambda: over[0]):
            over[0] -= self.take("size-cap", chunk, reason, cap_gb=cap_gb)

    def _chunks(self, short: Callable[[], float]) -> Iterator[list[Candidate]]:
        """The deletable calls, oldest first, in chunks just big enough to win `short()` bytes
        (asked again before each chunk), until it is won or there are none left."""
        for rows in rules.deletable(self.db, self.ages, self.now):
            rows = [r for r in rows if r.id not in self.taken]
            while rows:
                need = short()
                if need <= 0 or self.should_stop():
                    return
                chunk = _enough(rows, need)
                rows = rows[len(chunk):]
                yield chunk

    def floor(self) -> None:
        measured, total = self.disk()
        need = floor_bytes(self.values, total)
        free = [measured + (0 if self.apply else self.freed)]      # a list: _chunks asks for it again
        if free[0] >= need:
            return
        if self.values.get("when_full") == "stop-recording":
            self.out.full = full_reason(self.values)
            self._warn(free[0], total, STOPPED_CODE)
            return
        reason = f"disk guard: free space below {floor_words(self.values)}"
        for chunk in self._chunks(lambda: need - free[0]):
            freed = self.take("disk-guard", chunk, reason, reserve_pct=int(self.values.get("disk_reserve_pct") or 5),
                              reserve_gb=float(self.values.get("disk_reserve_gb") or 0))
            if self.apply:
                _checkpoint(self.db)
                free[0] = self.disk()[0]
            else:
                free[0] += freed
        if free[0] < need and not self.should_stop():
            self._warn(free[0], total, WARNING_CODE)

    def _warn(self, free: int, total: int, code: str) -> None:
        if self.apply:
            _warn_full(self.db, self.now, free, total, self.values, self.ages, code)


def _enough(rows: list[Candidate], short: float) -> list[Candidate]:
    """The first of these calls whose recordings free at least `short` bytes (all: not enough)."""
    total = 0
    for i, row in enumerate(rows):
        total += row.size
        if total >= short:
            return rows[:i + 1]
    return rows


def run(db: sqlite_utils.Database, data_dir: str | Path, values: dict[str, Any], now: float, *,
        disk: DiskUsage | None = None, ages: agesmod.Ages | None = None, apply: bool = True,
        should_stop: Callable[[], bool] | None = None) -> Outcome:
    """Apply the rules (apply=False: only work out what they would delete).

    values: the box-wide settings (settings.box_values()); its retention_days and min_age_days
    are the box-wide ages, the lines' own ages come from the catalog (or `ages`, as given);
    disk: measures free and total bytes (default: the data folder's filesystem); should_stop
    lets a stopping daemon end a long sweep between two batches.
    """
    data_dir = Path(data_dir)
    if ages is None:
        stored = agesmod.load(db)
        ages = agesmod.Ages(int(values.get("min_age_days") or 0), int(values.get("retention_days") or 0),
                            stored.line_min, stored.line_max)
    sweep = _Sweep(db, data_dir, values, now, ages, disk or (lambda: disk_usage_of(data_dir)), apply, should_stop)
    sweep.max_age()
    sweep.size_cap()
    sweep.floor()
    if apply and sweep.out.deleted:
        log.info("retention: deleted %s", ", ".join(f"{e.count} call(s) by {e.rule}"
                                                  for e in sweep.out.effects.values() if e.count))
    return sweep.out


def sweep(db: sqlite_utils.Database, data_dir: str | Path, settings: dict[str, Any], now: float,
          disk: DiskUsage | None = None, *, should_stop: Callable[[], bool] | None = None) -> list[str]:
    """Apply the rules; returns the ids deleted, in the order deleted."""
    return run(db, data_dir, settings, now, disk=disk, should_stop=should_stop).ids


def plan(db: sqlite_utils.Database, data_dir: str | Path, settings: dict[str, Any],
         now: float, disk: DiskUsage | None = None) -> list[tuple[str, str]]:
    """What a sweep now would delete, and why, deleting nothing (`hookline retention sweep
    --dry-run`). The floor's part is estimated from the files' sizes in the catalog."""
    return run(db, data_dir, settings, now, disk=disk, apply=False).deleted


def preview_change(db: sqlite_utils.Database, data_dir: str | Path, changes: list[tuple[str, int | None, Any]],
                   now: float, disk: DiskUsage | None = None) -> tuple[Outcome, Outcome]:
    """What a sweep would delete with these settings changes ((name, line, value); value None
    clears it) and without them: (after, before), for the warning before saving."""
    stored = settingsmod.stored_values(db)
    after = _dry_run(db, data_dir, settingsmod.with_changes(stored, changes), now, disk)
    return after, _dry_run(db, data_dir, stored, now, disk)


def _dry_run(db: sqlite_utils.Database, data_dir: str | Path, stored: dict[tuple[str, str], Any], now: float,
             disk: DiskUsage | None) -> Outcome:
    values = {name: stored.get(("", name), settingsmod.REGISTRY[name].default) for name in settingsmod.RETENTION}
    return run(db, data_dir, values, now, disk=disk, ages=agesmod.from_stored(stored), apply=False)


def _checkpoint(db: sqlite_utils.Database) -> None:
    """Each deletion appends to the catalog's write-ahead log; a checkpoint lets the next write
    reuse the log from its start instead of growing it on a disk that is short of space.
    PASSIVE: never waits for (or blocks) the lines' writes or the web page's reads."""
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error as e:
        log.debug("disk guard: checkpoint failed: %s", e)


def _warn_full(db: sqlite_utils.Database, now: float, free: int, total: int, values: dict[str, Any],
               ages: agesmod.Ages, code: str) -> None:
    held, young = rules.kept_back(db, ages, now)
    pct = 100 * free / total if total else 0.0
    short = f"the disk is nearly full ({pct:.1f}% free, below the floor of {floor_words(values)})"
    if code == STOPPED_CODE:
        message = f"{short}: new calls are not recorded (when_full is stop-recording); export and delete calls"
    elif held or young:
        message = (f"{short} and every recording left ({held} on hold, {young} younger than the minimum age) "
                   "is protected: release holds or export and delete calls")
    else:
        message = f"{short} and there are no recordings left to delete: something else is filling it"
    try:
        last = db.execute("SELECT at FROM call_events WHERE kind = ? AND line IS NULL "
                          "AND json_extract(detail, '$.code') = ? ORDER BY id DESC LIMIT 1",
                          [Event.WARNING, code]).fetchone()
        if last and 0 <= now - seconds(last[0]) < WARN_EVERY_S:
            log.debug("disk guard: %s (warned at %s)", message, last[0])
            return
        log.error("disk guard: %s", message)
        catalog.log_event(db, None, Event.WARNING, now, None, code=code, message=message, free_pct=round(pct, 2),
                          reserve_pct=int(values.get("disk_reserve_pct") or 5), held_recordings=held,
                          protected_recordings=young)
    except (sqlite3.Error, OSError) as e:     # a full disk may refuse even this
        log.error("disk guard: cannot log the warning event: %s", e)
