"""The export job: check the target, take the box's lock, copy each selected recording verified
(skipping what the stick's journal says is there already: a rerun resumes), then write the
indexes and SHA256SUMS last, audit what it contained, and say how it ended.

How it ends (the CLI's exit code, docs/cli.md): complete (0); some recordings no longer match
their catalog hash and were left out (1); another export runs (3); the target filled up, or has
clearly too little room for the selection, which is then refused before anything is copied (4); the
target is missing, read-only or failed, e.g. pulled (5); it was cancelled (6: Ctrl-C, the button's
long press, the web page's Cancel). An export that stops early leaves only
verified files under their real names, an index of those, and INCOMPLETE.txt; rerun it to resume.
"""
from __future__ import annotations

import errno
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from ..present import zone as zonemod
from ..present.words import plural, size
from ..store import audit, audit_seal, box as boxmod, catalog, exports, times
from ..store.kinds import WITH_FILE
from . import batches, indexes, names, selection, stick, sticks

OK, MISMATCH, BUSY, FULL, TARGET, CANCELLED = 0, 1, 3, 4, 5, 6


class TargetError(Exception):
    """The target cannot take an export (missing, read-only, not a folder)."""


class NoRoom(Exception):
    """The stick has less room than the selection needs: refused before anything is copied."""


class Cancelled(Exception):
    """Raised between chunks once the job's cancel event is set: the file being copied goes."""


class Progress(Protocol):
    def start(self, files: int, total_bytes: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def file_done(self, name: str) -> None: ...


class Quiet:
    def start(self, files: int, total_bytes: int) -> None: pass
    def advance(self, n: int) -> None: pass
    def file_done(self, name: str) -> None: pass


@dataclass
class Result:
    target: str
    selection: dict[str, Any]
    stick: str | None = None
    selected: int = 0
    copied: list[str] = field(default_factory=list)        # call ids copied and verified by this run
    already: list[str] = field(default_factory=list)       # call ids on the stick from before (resumed)
    mismatched: list[dict[str, str]] = field(default_factory=list)   # {call_id, path, reason}
    bytes_copied: int = 0
    listed: int = 0                                        # recordings in the stick's index
    stopped_because: str | None = None
    exit_code: int = OK
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.exit_code == OK

    def to_dict(self) -> dict[str, Any]:
        return {"complete": self.complete, "exit_code": self.exit_code, "target": self.target,
                "stick": self.stick, "selection": self.selection, "selected": self.selected,
                "copied": len(self.copied), "already_there": len(self.already), "listed": self.listed,
                "bytes_copied": self.bytes_copied, "mismatched": self.mismatched,
                "stopped_because": self.stopped_because, "seconds": round(self.seconds, 3)}


def _open_target(target: Path) -> Path:
    """The stick's Hookline folder, made if needed; TargetError when that cannot be."""
    if not target.is_dir():
        raise TargetError(f"{target} is not there (is the stick mounted?)")
    root = target / stick.ROOT
    try:
        if not root.is_symlink():
            root.mkdir(exist_ok=True)
        if (odd := stick.first_odd(root)) is not None:
            raise TargetError(f"{target} holds a link or special file ({odd.relative_to(target)}) where the export "
                              "writes: the box does not write through those. Remove it or use another stick.")
        stick.stick_id(root)
    except OSError as e:
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise TargetError(f"{target} is read-only: cannot write the export there") from None
        raise TargetError(f"cannot write to {target}: {e.strerror or e}") from None
    return root


def run(db: sqlite_utils.Database, data_dir: Path, target: Path, sel: selection.Selection, *,
        by: str | None, seal_path: Path | None = None, progress: Progress | None = None,
        audit_detail: dict[str, Any] | None = None, remote_addr: str | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Export the selection to target; the audit entry names `by` (None: the box itself). Setting
    `cancel` stops it between chunks: the file under way is removed, the rest ends as a stop does."""
    began = time.monotonic()
    result = Result(str(target), sel.describe())
    facts = boxmod.facts(db)
    zone = zonemod.box_zone(facts.timezone)
    try:
        with stick.locked(data_dir):
            root = _open_target(target)
            result.stick = stick.stick_id(root)
            calls = selection.calls(db, sel, zone, facts.phone_region, result.stick)
            result.selected = len(calls)
            try:
                _copy_all(db, data_dir, root, calls, zone, result, progress or Quiet(), cancel or threading.Event())
            except OSError as e:         # the stick's own small files (journal, marker) failed
                _stopped_by(result, e)
            result.seconds = time.monotonic() - began
            _finish(db, root, result, facts, zone, seal_path)
    except stick.Busy as e:
        result.exit_code, result.stopped_because = BUSY, str(e)
    except TargetError as e:
        result.exit_code, result.stopped_because = TARGET, str(e)
    except NoRoom as e:
        result.exit_code, result.stopped_because = FULL, str(e)
    result.seconds = time.monotonic() - began
    audit.append(db, "export", user=by, target=result.stick and f"stick {result.stick}", remote_addr=remote_addr,
                 detail={**_audit_facts(result), **(audit_detail or {})})
    return result


def _audit_facts(result: Result) -> dict[str, Any]:
    return {"to": result.target, "selection": result.selection, "complete": result.complete,
            "exit_code": result.exit_code, "copied": len(result.copied), "already_there": len(result.already),
            "calls": result.copied[:1000], "bytes": result.bytes_copied,
            "mismatched": [m["call_id"] for m in result.mismatched], "stopped_because": result.stopped_because}


def _copy_all(db, data_dir: Path, root: Path, calls: list[dict[str, Any]], zone, result: Result,
              progress: Progress, cancel: threading.Event) -> None:
    stick.remove_leftovers(root)
    journal = stick.read_journal(root)
    stick.remove_superseded(root, journal)
    todo = [c for c in calls if journal.get(c["id"], {}).get("sha256") != c["sha256"]]
    need, free = sum(c["size_bytes"] or 0 for c in todo), sticks.free_bytes(root)
    if need > free:
        raise NoRoom(f"The stick has {size(free)} free, but the {plural(len(todo), 'recording')} to copy need "
                     f"{size(need)}: nothing was copied. Make room on it or use a bigger stick.")
    for call in calls:
        if call["id"] in journal and journal[call["id"]]["sha256"] == call["sha256"]:
            result.already.append(call["id"])
            exports.mark_taken(db, result.stick, call["id"], journal[call["id"]]["file"], call["sha256"])
    stick.mark_incomplete(root, "An export to this stick has not finished (it is under way, or was interrupted).\r\n"
                                "Run it again to resume; index.html lists only the recordings verified so far.\r\n")
    # A name the journal gave is never given to another call (so a line can only describe the file
    # it was written for); a call whose last copy was journaled but never renamed takes it again.
    lines = stick.journal_lines(root)
    unrenamed = {e["call_id"]: e["file"] for e in lines if not (root / e["file"]).exists()}
    taken = {e["file"].lower() for e in lines} | {
        p.relative_to(root).as_posix().lower() for p in root.glob("*/*") if p.is_file()}
    progress.start(len(todo), need)

    report = _Report(db, result, progress)

    def on_bytes(n: int) -> None:
        with report.lock:
            progress.advance(n)
        if cancel.is_set():
            raise Cancelled

    # A recording whose hash changed since this stick took it gets a new copy; the old one goes
    # once the new one is durable and journaled.
    items = [batches.Item(call, unrenamed.get(call["id"]) or _name(call, zone, taken),
                          journal.get(call["id"], {}).get("file")) for call in todo]
    try:
        batches.copy_all(data_dir, root, items, on_bytes, report)
    except Cancelled:       # the file under way was removed; those written before it count
        result.exit_code, result.stopped_because = CANCELLED, "Cancelled."


def _name(call: dict[str, Any], zone, taken: set[str]) -> str:
    started = times.parse(call["started_at"]).astimezone(zone)
    return names.unique(f"{started:%Y-%m-%d}", names.stem(call, started), "mp3", taken)


class _Report:
    """What the copy says per file, into the result, the catalog (what this stick took) and the
    progress (told from the copy's worker thread too, hence the lock)."""

    def __init__(self, db, result: Result, progress: Progress) -> None:
        self.db, self.result, self.progress = db, result, progress
        self.lock = threading.Lock()

    def mismatched(self, item: batches.Item, reason: str) -> None:
        if _deleted_since(self.db, item.call["id"]):      # deleted after it was chosen: not damaged, just not there
            return
        self.result.mismatched.append({"call_id": item.call["id"], "path": item.call["path"], "reason": reason})
        self.result.exit_code = self.result.exit_code or MISMATCH

    def verified(self, item: batches.Item, nbytes: int) -> None:
        exports.mark_taken(self.db, self.result.stick, item.call["id"], item.name, item.call["sha256"])
        self.result.copied.append(item.call["id"])
        self.result.bytes_copied += nbytes

    def checked(self, item: batches.Item) -> None:
        with self.lock:
            self.progress.file_done(item.name)


def _deleted_since(db, call_id: str) -> bool:
    row = catalog.get_call(db, call_id)
    return row is None or row.get("status") not in WITH_FILE


def _stopped_by(result: Result, e: OSError) -> None:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        result.exit_code, result.stopped_because = FULL, "The target is full."
    else:
        result.exit_code, result.stopped_because = TARGET, (
            f"The target failed: {e.strerror or e}. Was the stick pulled out? Plug it in and run the export "
            "again: it resumes where it stopped.")


def _finish(db, root: Path, result: Result, facts, zone, seal_path: Path | None) -> None:
    """The indexes, from everything the stick's journal holds; INCOMPLETE.txt goes only when the
    whole selection is there. A target that fails here (pulled) ends the export as TARGET."""
    if result.mismatched and result.exit_code == MISMATCH:
        result.stopped_because = (f"{len(result.mismatched)} recording(s) no longer match the SHA-256 the "
                                  "catalog holds and were not exported.")
    journal = stick.read_journal(root)
    rows_by_id = {c["id"]: c for c in catalog.get_calls(db, list(journal))}
    rows = sorted((indexes.row(e, rows_by_id.get(cid), facts, zone) for cid, e in journal.items()),
                  key=lambda r: (r["started_utc"], r["file"]))
    result.listed = len(rows)
    summary = {**result.to_dict(), "finished_local": zonemod.local(times.now(), zone, "%Y-%m-%d %H:%M"),
               "finished_utc": times.now()}
    try:
        indexes.write_all(root, rows, summary, audit_head(db, seal_path), zone)
        if result.complete:
            stick.mark_complete(root)
    except OSError as e:
        if result.exit_code in (OK, MISMATCH):
            result.exit_code = FULL if e.errno in (errno.ENOSPC, errno.EDQUOT) else TARGET
        result.stopped_because = (result.stopped_because or "") + f" The index could not be written: {e.strerror or e}."


def audit_head(db, seal_path: Path | None) -> dict[str, Any]:
    """The audit log's head now and as last sealed (None: never sealed, or the seal unreadable)."""
    sealed = None
    if seal_path is not None:
        try:
            head = audit_seal.read(seal_path)
            sealed = head.to_dict() if head else None
        except audit_seal.SealError:
            sealed = None
    return {"current": audit_seal.current_head(db).to_dict(), "sealed": sealed}
