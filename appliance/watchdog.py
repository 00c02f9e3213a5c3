"""The recorder's side of systemd's watchdog (the unit is Type=notify with WatchdogSec=).

READY=1 goes once every line's capture is running (its first period read, or its device found
missing and being retried: a box with an unplugged interface still starts). From then on WATCHDOG=1 goes
every half interval, but only while every line's thread is alive and reading: each line marks a
heartbeat as it reads ALSA (line/heartbeat.py). A line silent for longer than the interval (a read
that never returns, a thread that died) stops the pings for good, and systemd kills and restarts
the process. Before it stops, the reason (which line, how long it was silent) goes to a small
file in the data folder; the next start logs it as a `watchdog` event on that line and removes it.
STATUS= says in words what the recorder is doing; STOPPING=1 goes when it is asked to stop.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from .files import write_atomic
from .notify import Notifier
from .store import catalog
from .store.kinds import Event

log = logging.getLogger("hookline.watchdog")

REASON_FILE = "watchdog-restart.json"
READY_POLL_S = 0.05


def stalled(lines, limit_s: float, now: float) -> tuple[Any, float] | None:
    """The first line whose thread has ended or has not read for longer than limit_s, and how
    long it has been silent; None when every line is reading."""
    for line in lines:
        silent = max(0.0, now - line.heartbeat.at)
        if not line.is_alive() or silent > limit_s:
            return line, silent
    return None


def status_words(lines) -> str:
    missing = [str(line.cfg.id) for line in lines if line.device_error]
    said = f"listening on {len(lines)} line{'s' if len(lines) != 1 else ''}"
    if missing:
        said += f"; no audio interface on line{'s' if len(missing) > 1 else ''} {', '.join(missing)} (retrying)"
    return said


class Watchdog:
    def __init__(self, lines, data_dir: Path, notifier: Notifier | None = None) -> None:
        self.lines = lines
        self.data_dir = Path(data_dir)
        self.notifier = notifier or Notifier()
        self.limit_s = self.notifier.watchdog_s     # a line silent for longer stops the pings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.notifier.address:          # not started by systemd: nobody to tell
            self._thread = threading.Thread(target=self._guarded, name="watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """No more pings (the stop may take a while: TimeoutStopSec covers it) and STOPPING=1."""
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self.notifier.send("STOPPING=1", "STATUS=stopping: finishing the calls in progress")

    def _guarded(self) -> None:
        try:
            self._run()
        except Exception:     # no more pings either way: the journal at least says why
            log.exception("the watchdog thread failed; systemd will restart the recorder")

    def _run(self) -> None:
        interval = self.limit_s / 2 if self.limit_s else 1.0
        ready, said = False, ""
        while not self._stop.wait(interval if ready else READY_POLL_S):
            if not ready:
                # Until then a line is still starting: TimeoutStartSec, not the watchdog, covers it.
                if not all(line.heartbeat.capturing.is_set() for line in self.lines):
                    continue
                ready = True
                self.notifier.send("READY=1")
            if self.limit_s:
                hung = stalled(self.lines, self.limit_s, time.monotonic())
                if hung:
                    self._give_up(*hung)
                    return
                self.notifier.send("WATCHDOG=1")
            words = status_words(self.lines)
            if words != said:
                said = words
                self.notifier.send(f"STATUS={words}")

    def _give_up(self, line, silent_s: float) -> None:
        """Persist why, then stop pinging: systemd restarts the recorder within its interval."""
        reason = {"line": line.cfg.id, "silent_s": round(silent_s, 1), "at": time.time(),
                  "device": line.cfg.capture, "thread": "running" if line.is_alive() else "ended"}
        try:
            write_atomic(self.data_dir / REASON_FILE, json.dumps(reason).encode(), mode=0o640)
        except OSError as e:
            log.error("cannot keep the watchdog's reason in %s: %s", self.data_dir, e)
        said = (f"line {line.cfg.id} has read no audio for {silent_s:.1f} s"
                if line.is_alive() else f"line {line.cfg.id}'s capture thread has ended")
        log.error("%s: watchdog pings stopped, systemd restarts the recorder", said)
        self.notifier.send(f"STATUS={said}; waiting for systemd to restart the recorder")


def log_last_restart(db, data_dir: Path) -> dict[str, Any] | None:
    """At start: the reason a hung line left before the restart, as a `watchdog` event on that
    line (then the file is removed). An unreadable file is logged and removed."""
    path = Path(data_dir) / REASON_FILE
    try:
        reason = json.loads(path.read_bytes())
        if not isinstance(reason, dict):
            raise TypeError(f"not a JSON object: {type(reason).__name__}")
        at = _number(reason["at"], 0, 2**33)          # a time the catalog can write (before year 2242)
        if reason.get("process") == "unresponsive":     # left by watchdog_stopped.py, for the whole process
            return _log_unresponsive(db, path, at)
        line, silent_s = int(_number(reason["line"], 1, 10**6)), _number(reason["silent_s"], 0, 10**9)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("ignoring an unreadable %s: %s", path, e)
        path.unlink(missing_ok=True)
        return None
    detail = {"silent_s": silent_s, "device": str(reason.get("device") or ""),
              "thread": str(reason.get("thread") or "running")}
    catalog.log_event(db, line, Event.WATCHDOG, at, **detail)
    log.warning("restarted by the watchdog: line %s had read no audio for %.1f s", line, silent_s)
    path.unlink(missing_ok=True)
    return {"line": line, **detail}


def _number(value: Any, lo: float, hi: float) -> float:
    """A number the file may hold (the data disk may hold anything: NaN, 1e400, a string)."""
    number = float(value)
    if not lo <= number < hi:      # False for NaN too
        raise ValueError(f"{value!r} is not between {lo} and {hi}")
    return number


def _log_unresponsive(db, path: Path, at: float) -> dict[str, Any]:
    catalog.log_event(db, None, Event.WATCHDOG, at, process="unresponsive")
    log.warning("restarted by the watchdog: the recorder had stopped responding")
    path.unlink(missing_ok=True)
    return {"line": None, "process": "unresponsive"}
