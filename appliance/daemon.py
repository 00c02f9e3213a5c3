"""The recorder daemon: recovers what a crash left, starts a thread per line, and runs the
maintenance loop (settings changes, the status file), the retention loop (the ages, the size
cap and the free-space floor, which may tell the lines to stop recording new calls: at start,
every minute, and soon after their settings change; in a thread
of its own so that a long sweep never delays a settings change or the status file), the
command channel (appliance.control: `hookline status` asks it for the live line states), and,
under systemd, the notify protocol and its watchdog (appliance.watchdog).

`hookline run` uses it with real hardware; `hookline simulate` and `hookline demo` use the
very same class with simulated wires (a stream clock, mock pins, generated ALSA PCMs).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from . import after_crash, control
from .clock import RealClock
from .config import Config, LineConfig
from .control import ControlServer
from .export import commands as export_commands
from .export.button import start_button as start_export_button
from .hook.gpio import GpioHookSource
from .hook.serial import LineMonitorSource, ModemSource
from .line import Line, carry
from .line.pause import command_from_channel as pause_command
from .notice.stored import AnnouncementFile
from .recording.disk import DiskWorker
from .recording.recover import recover
from .store import box, db as dbmod, dnr, retention, settings as settingsmod
from .watchdog import Watchdog, log_last_restart

log = logging.getLogger("hookline.daemon")

SETTINGS_POLL_S = 0.5
SWEEP_INTERVAL_S = 60.0


def hook_source(line: LineConfig):
    """The off-hook source a line's config names (None for VOX: the line's audio decides)."""
    if line.offhook.source == "serial":
        return LineMonitorSource(line.offhook)
    if line.offhook.source == "gpio":
        return GpioHookSource(line.offhook)
    return None


def callerid_source(line: LineConfig):
    return ModemSource(line.callerid) if line.callerid else None
STATUS_INTERVAL_S = 1.0


class Daemon:
    def __init__(self, config: Config, data_dir: Path, *, status_file: Path | None = None,
                 clock_factory: Callable[[LineConfig], Any] | None = None,
                 hook_factory: Callable[[LineConfig], Any] | None = None,
                 callerid_factory: Callable[[LineConfig], Any] | None = None,
                 tick: Callable[[Line, int], None] | None = None) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.status_file = status_file or config.status_file
        self._clock_factory = clock_factory or (lambda line: RealClock(config.sample_rate))
        self._hook_factory = hook_factory or hook_source
        self._callerid_factory = callerid_factory or callerid_source
        self._tick = tick
        self.lines: list[Line] = []
        self._stop = threading.Event()
        self._maintenance: threading.Thread | None = None
        self._retention: threading.Thread | None = None
        self._sweep_now = threading.Event()
        self.disk_full: str | None = None     # why new calls are not recorded (None: they are)
        self._control: ControlServer | None = None
        self.disk = DiskWorker(self.data_dir)
        self.exports = export_commands.runner_for(config, self.data_dir)    # USB export, one job at a time
        self.export_button = None
        self._store_check: threading.Thread | None = None    # after an unclean stop (after_crash.py)
        self.watchdog: Watchdog | None = None

    def start(self) -> None:
        self.disk.room.before_start()
        db = dbmod.connect(self.data_dir)      # makes a new data folder, private (0750)
        try:
            unclean = after_crash.mark_running(self.data_dir)
            recovered = recover(db, self.data_dir)
            if recovered:
                log.warning("recovered %d unfinished call(s) after an unclean stop", len(recovered))
            cut_by_crash = carry.interrupted_calls(db, recovered)
            log_last_restart(db, self.data_dir)     # a hung line had the watchdog restart us: say so
            settingsmod.record_config_defaults(db, list(self.config.lines))
            box.record(db, self.config)
            self._settings_rows = settingsmod.snapshot(db)
            values = settingsmod.resolve(db, [line.id for line in self.config.lines])["lines"]
            self._dnr_changes, listed = dnr.changes(db), self._do_not_record(db)
            self.disk_full = retention.check_full(db, self.data_dir, settingsmod.box_values(db), time.time())
        finally:
            db.close()
        self.disk.start()
        # One announcement for the box, loaded and converted once (every line has the box's rate).
        self.announcement = AnnouncementFile(self.data_dir, self.config.sample_rate)
        self.announcement.refresh()
        period = self.config.sample_rate * self.config.period_ms // 1000
        for cfg in self.config.lines:
            line = Line(cfg, sample_rate=self.config.sample_rate, period_frames=period, data_dir=self.data_dir,
                        clock=self._clock_factory(cfg), hook=self._hook_factory(cfg),
                        callerid=self._callerid_factory(cfg),
                        settings={**{k: v for k, (v, _) in values[cfg.id].items()}, "disk_full": self.disk_full},
                        tick=self._tick, disk=self.disk, announcement=self.announcement)
            line.apply_dnr(listed)         # before its first call: queued ahead of anything it hears
            self.lines.append(line)
        carry.hand_over(self.lines, cut_by_crash, self.config.sample_rate)     # before they start
        for line in self.lines:
            line.start()
        self.watchdog = Watchdog(self.lines, self.data_dir)
        self.watchdog.start()
        self._control = ControlServer(control.socket_path(self.status_file), {
            "status": lambda request: self.status(),
            "pause": lambda request: self.pause(request, "pause"),
            "resume": lambda request: self.pause(request, "resume"),
            **export_commands.handlers(self.exports)})
        self._control.start()
        self.export_button = start_export_button(self.config.export, self.exports)
        self._maintenance = threading.Thread(target=self._maintain, name="maintenance", daemon=True)
        self._maintenance.start()
        self._retention = threading.Thread(target=self._retain, name="retention", daemon=True)
        self._retention.start()
        if unclean or recovered:     # the catalog and files may disagree: say so, recording meanwhile
            self._store_check = after_crash.start_check(self.data_dir, time.time())
        log.info("started %d line(s); recordings go to %s", len(self.lines), self.data_dir)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop capture at once: every call in progress ends now and is finalized, with all its
        audio, before this returns (appliance/stopping.py says why a stop never waits for them)."""
        if self.watchdog:
            self.watchdog.stop()      # STOPPING=1 first: finishing the calls may take a while
        self.exports.cancel(via="recorder stopping")    # winds down while the lines finish
        if busy := self.calls_in_progress():
            log.info("stopping: finalizing %d call(s) in progress with all they recorded", busy)
        for line in self.lines:
            line.stop()
        for line in self.lines:
            line.join(timeout)
        self.disk.stop(timeout)       # finalizes what the lines handed over
        self.exports.stop(timeout)    # an export under way is cancelled: nothing half-written stays
        if self.export_button:
            self.export_button.close()
        if self._control:
            self._control.stop()
        self._stop.set()
        self._sweep_now.set()
        for thread in (self._maintenance, self._retention):
            if thread:
                thread.join(timeout)
        self._write_status()
        after_crash.clean_stop(self.data_dir, self._store_check)

    def calls_in_progress(self) -> int:
        """How many lines are off-hook in a call right now."""
        return sum(1 for line in self.lines if line.session is not None and line.session.call is not None)

    # -- maintenance ---------------------------------------------------------------------
    def _maintain(self) -> None:
        db = dbmod.connect(self.data_dir)
        last_status = 0.0
        try:
            while not self._stop.wait(SETTINGS_POLL_S):
                rows = settingsmod.snapshot(db)
                if rows != self._settings_rows:
                    self._settings_rows = rows
                    resolved = settingsmod.resolve(db, [line.cfg.id for line in self.lines])
                    for line in self.lines:
                        line.apply_settings({k: v for k, (v, _) in resolved["lines"][line.cfg.id].items()})
                    log.info("settings changed; applied to the running lines")
                    self._sweep_now.set()       # retention_days or disk_reserve_pct may have changed
                    self._dnr_changes = None    # dnr_keep_number may have changed
                dnr_changes = dnr.changes(db)
                if dnr_changes != self._dnr_changes:
                    self._dnr_changes, listed = dnr_changes, self._do_not_record(db)
                    for line in self.lines:
                        line.apply_dnr(listed)
                    log.info("do-not-record list loaded: %d entries", len(listed))
                self.announcement.refresh()     # a new announcement uploaded: loaded here, not in a line
                if time.monotonic() - last_status >= STATUS_INTERVAL_S:
                    self._write_status()
                    last_status = time.monotonic()
        except Exception:
            log.exception("maintenance loop failed")
        finally:
            db.close()

    def _do_not_record(self, db) -> dnr.Listed:
        return dnr.load(db, self.config.phone_region, settingsmod.box_values(db)["dnr_keep_number"])

    def _retain(self) -> None:
        """Retention and the disk guard, at start and every SWEEP_INTERVAL_S (sooner when the
        settings change). A failed sweep is logged and the next one runs as usual."""
        db = None
        while not self._stop.is_set():
            self._sweep_now.clear()
            try:
                if db is None:
                    db = dbmod.connect(self.data_dir)
                outcome = retention.run(db, self.data_dir, settingsmod.box_values(db), time.time(),
                                        should_stop=self._stop.is_set)
                self._set_disk_full(outcome.full)
            except Exception:
                log.exception("retention sweep failed; trying again in %.0f s", SWEEP_INTERVAL_S)
            self._sweep_now.wait(SWEEP_INTERVAL_S)
        if db is not None:
            db.close()

    def _set_disk_full(self, reason: str | None) -> None:
        """Tell the lines whether to record new calls (when_full = stop-recording), as a live
        value beside their settings (line.policy.DiskFull reads it)."""
        if reason == self.disk_full:
            return
        self.disk_full = reason
        if reason:
            log.error("the disk is below its free-space floor: new calls are not recorded (%s)", reason)
        else:
            log.warning("there is room on the disk again: new calls are recorded")
        for line in self.lines:
            line.apply_settings({"disk_full": reason})

    def pause(self, request: dict[str, Any], kind: str) -> dict[str, Any]:
        """The command channel's pause and resume: {"line": N, "by": ..., "user": ...}."""
        answer = pause_command(self.lines, request, kind)
        self._write_status()        # the pages show the new state at once, not within a second
        return answer

    def status(self) -> dict[str, Any]:
        return {"updated_at": time.time(), "pid": os.getpid(), "running": not self._stop.is_set(),
                "clock_synced": all(line.clock.synced for line in self.lines), "disk_full": self.disk_full,
                "lines": [line.snapshot() for line in self.lines]}

    def _write_status(self) -> None:
        """Atomically replace the status file (a tmpfs on the box) for the web page."""
        path = Path(self.status_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".status.", dir=path.parent)
            with os.fdopen(fd, "w") as f:
                json.dump(self.status(), f)
            os.replace(tmp, path)
        except OSError as e:
            log.warning("cannot write status file %s: %s", path, e)
