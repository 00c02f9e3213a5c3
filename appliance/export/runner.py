"""The export runner of the recorder daemon: one export at a time, in a thread of its own, onto the
one stick mounted under the box's mount root ([export] mount_root). The web page (control commands
export-start, export-status, export-cancel) and the box's button start it; both watch its status:

    {"state": "idle" | "copying" | "done" | "error" | "cancelled",
     "stick": {path, label, fstype, total_bytes, free_bytes, read_only, problem} or None (the
              job's; while none runs, the one plugged in now), "sticks": every one plugged in now,
     "files_done", "files_total", "bytes_done", "bytes_total", "seconds_left" (None: not known yet),
     "message": a sentence for the owner, "result": job.Result.to_dict() once finished (else None),
     "ejected": whether the last export's stick was flushed and unmounted (safe to remove)}

A start is refused (ExportRefused: a sentence and a code) when no stick is plugged in, when more
than one is and none was chosen, when the stick has a problem (read-only, nearly full, a
filesystem the box does not write), or while an export runs, here or from `hookline export`
(which holds the box's lock). A complete export is flushed and ejected: "safe to remove".

The copy must not disturb recording: the job's thread lowers its own CPU and I/O priority (Linux
keeps both per thread) and yields between chunks, so the lines' capture threads go first.
"""
from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..present import export_words as words
from ..store import db as dbmod
from ..store.catalog import log_event
from ..store.kinds import Event
from . import job, selection, stick as stickmod, sticks

log = logging.getLogger("hookline.export")

IDLE, COPYING, DONE, ERROR, CANCELLED = "idle", "copying", "done", "error", "cancelled"
# ioprio_set(2) has no wrapper in Python: its number on the machines the box runs on.
IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "armv7l": 314, "armv6l": 314, "i686": 289}
IOPRIO_WHO_PROCESS, IOPRIO_CLASS_BE, IOPRIO_LOWEST = 1, 2, 7


class ExportRefused(Exception):
    """An export that cannot start; str() is the sentence, code says which: no-stick,
    several-sticks, not-a-stick, stick-problem, busy."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class _Tally:
    """The job's Progress: files and bytes so far, and the time left at the rate so far."""

    def __init__(self) -> None:
        self.files_done = self.bytes_done = 0
        self.files_total: int | None = None
        self.bytes_total: int | None = None
        self.began = 0.0

    def start(self, files: int, total_bytes: int) -> None:
        self.files_total, self.bytes_total, self.began = files, total_bytes, time.monotonic()

    def advance(self, n: int) -> None:
        self.bytes_done += n
        time.sleep(0)           # yield between chunks: a capture thread waiting for the GIL goes first

    def file_done(self, name: str) -> None:
        self.files_done += 1

    def seconds_left(self) -> float | None:
        spent = time.monotonic() - self.began
        if not self.bytes_done or not self.bytes_total or spent <= 0:
            return None
        return round(max(0.0, (self.bytes_total - self.bytes_done) * spent / self.bytes_done), 1)


def lower_priority() -> list[str]:
    """Make the calling thread yield to the recorder's: nice 19 and the lowest best-effort I/O
    class. What could be done, for the log (neither is needed to export)."""
    tid, done = threading.get_native_id(), []
    try:
        os.setpriority(os.PRIO_PROCESS, tid, 19)
        done.append("nice 19")
    except OSError:
        pass
    number = IOPRIO_SET.get(platform.machine())
    if number is not None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(number, IOPRIO_WHO_PROCESS, tid, (IOPRIO_CLASS_BE << 13) | IOPRIO_LOWEST) == 0:
            done.append("I/O best-effort 7")
    return done


def stick_dict(found: sticks.Stick) -> dict[str, Any]:
    return {**dataclasses.asdict(found), "path": str(found.path)}


class ExportRunner:
    def __init__(self, data_dir: Path, mount_root: Path, *, seal_path: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.mount_root = Path(mount_root)
        self.seal_path = seal_path
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._busy = False              # from a start until its end is told (under _lock)
        self._cancel = threading.Event()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._state, self._stick, self._result = IDLE, None, None
        self._ejected = False           # the last export's stick was ejected: safe to remove
        self._message = "No export has run since the recorder started."
        self._tally = _Tally()

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call listener(status) after every change of state (the button's LED)."""
        self._listeners.append(listener)

    @property
    def running(self) -> bool:
        return self._busy

    def status(self) -> dict[str, Any]:
        """The status; while no export runs, "stick" is the one plugged in now (the first, when
        several are: "sticks" lists them all), so a page shows what an export would go to."""
        plugged = [stick_dict(s) for s in sticks.find(self.mount_root)]
        with self._lock:
            status = self._status()
        if status["state"] != COPYING:
            status["stick"] = plugged[0] if plugged else None
        return {**status, "sticks": plugged}

    def _status(self) -> dict[str, Any]:
        tally = self._tally
        status = {"state": self._state, "stick": self._stick, "files_done": tally.files_done,
                  "files_total": tally.files_total, "bytes_done": tally.bytes_done,
                  "bytes_total": tally.bytes_total, "seconds_left": tally.seconds_left(),
                  "message": self._message, "result": self._result, "ejected": self._ejected}
        if self._message is None:         # copying: the sentence follows the figures
            status["message"] = words.copying(status)
        return status

    # -- starting and cancelling ---------------------------------------------------------------
    def start(self, sel: selection.Selection, *, by: str | None = None, via: str = "web",
              remote_addr: str | None = None, target: str | None = None) -> dict[str, Any]:
        """Start exporting sel to the stick (target: its mount point, when several are plugged
        in); the status, or ExportRefused (logged as an event, so a press that did nothing says why)."""
        try:
            with self._lock:
                if self._busy:
                    raise ExportRefused("An export is already running: wait for it to finish, or cancel it.", "busy")
                found = self._choose(target)
                self._check_lock()
                self._busy = True
                self._state, self._stick, self._result, self._message = COPYING, stick_dict(found), None, None
                self._ejected = False
                self._tally, self._cancel = _Tally(), threading.Event()
        except ExportRefused as e:
            log.warning("export (%s) refused: %s", via, e)
            self._event("refused", via, by, str(e), code=e.code)
            raise
        log.info("export (%s%s) started to %s", via, f", {by}" if by else "", found.path)
        self._event("started", via, by, f"An export to {words.stick_name(self._stick)} started.",
                    selection=sel.describe())
        self._changed()         # before the thread starts: its end is always told after its start
        self._thread = threading.Thread(target=self._run, args=(sel, found, by, via, remote_addr), name="export",
                                        daemon=True)
        self._thread.start()
        return self.status()

    def _choose(self, target: str | None) -> sticks.Stick:
        found = sticks.find(self.mount_root)
        if target is not None:
            chosen = [s for s in found if os.path.realpath(s.path) == os.path.realpath(target)]
            if not chosen:
                raise ExportRefused(f"{str(target)[:200]} is not a USB stick plugged into the box.", "not-a-stick")
            found = chosen
        if not found:
            raise ExportRefused("No USB stick is plugged in: plug one into the box and try again.", "no-stick")
        if len(found) > 1:
            names = ", ".join(s.label for s in found)
            raise ExportRefused(f"{len(found)} USB sticks are plugged in ({names}): choose one, or unplug the others.",
                                "several-sticks")
        if found[0].problem:
            raise ExportRefused(found[0].problem, "stick-problem")
        return found[0]

    def _check_lock(self) -> None:
        """Refuse at once when `hookline export` holds the box's lock (the job would only say so later)."""
        try:
            with stickmod.locked(self.data_dir):
                pass
        except stickmod.Busy as e:
            raise ExportRefused(f"{str(e)[:1].upper()}{str(e)[1:]}.", "busy") from None

    def cancel(self, via: str = "web", by: str | None = None) -> bool:
        """Stop the running export at its next chunk; False when none runs (or it is stopping)."""
        with self._lock:
            if not self._busy or self._cancel.is_set():
                return False
            self._cancel.set()
            self._message = "Cancelling: the file being copied is removed, what is verified stays."
        log.info("export cancelled (%s%s)", via, f", {by}" if by else "")
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """The recorder stops: cancel the export (nothing half-written stays) and wait for it."""
        self.cancel(via="recorder stopping")
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the job's thread ----------------------------------------------------------------------
    def _run(self, sel: selection.Selection, found: sticks.Stick, by: str | None, via: str,
             remote_addr: str | None) -> None:
        log.info("export thread runs at %s", ", ".join(lower_priority()) or "the recorder's priority")
        try:
            db = dbmod.connect(self.data_dir)
            try:
                result = job.run(db, self.data_dir, found.path, sel, by=by, seal_path=self.seal_path,
                                 progress=self._tally, audit_detail={"via": via}, remote_addr=remote_addr,
                                 cancel=self._cancel).to_dict()
            finally:
                db.close()
        except Exception as e:          # a number that selects nothing, a catalog that fails: say so
            log.exception("export failed")
            self._end(ERROR, words.failed(e), None, via, by)
            return
        state, ejected = self._state_of(result), False
        message = words.finished(result, self._stick, ejected=False)
        if result["exit_code"] in (job.OK, job.MISMATCH):
            with self._lock:
                self._message = f"Flushing and ejecting {words.stick_name(self._stick)}."
            try:
                sticks.eject(found.path)
                ejected = True
                message = words.finished(result, self._stick, ejected=True)
            except sticks.EjectError as e:
                state, message = ERROR, words.not_ejected(message, str(e))
        self._end(state, message, result, via, by, ejected=ejected)

    @staticmethod
    def _state_of(result: dict[str, Any]) -> str:
        return {job.OK: DONE, job.CANCELLED: CANCELLED}.get(result["exit_code"], ERROR)

    def _end(self, state: str, message: str, result: dict[str, Any] | None, via: str, by: str | None,
             **facts: Any) -> None:
        (log.info if state in (DONE, CANCELLED) else log.error)("export %s: %s", state, message)
        brief = {k: result[k] for k in ("exit_code", "copied", "already_there", "bytes_copied", "stick")
                 } if result else {}
        self._event(state, via, by, message, **brief, **facts)      # logged before anyone sees the end
        with self._lock:
            self._state, self._message, self._result, self._busy = state, message, result, False
            self._ejected = bool(facts.get("ejected"))
        self._changed()

    def _changed(self) -> None:
        status = self.status()
        for listener in self._listeners:
            try:
                listener(status)
            except Exception:
                log.exception("an export listener failed")

    def _event(self, outcome: str, via: str, by: str | None, message: str, **facts: Any) -> None:
        """One line in the box's event log (no line, no call): what happened and why, in words."""
        try:
            db = dbmod.connect(self.data_dir)
            try:
                log_event(db, None, Event.EXPORT, time.time(), outcome=outcome, via=via,
                          **({"by": by} if by else {}), message=message, **facts)
            finally:
                db.close()
        except Exception:
            log.exception("cannot log the export's event")
