"""One telephone line: continuous capture, the hook state machine, and its recordings.

A thread per line does blocking ALSA reads, keeps the last seconds in a ring buffer
(pre-roll), applies hook events posted by its source, and feeds the MP3 encoder. All timing
inside a call is stream time (frames), so debounce, pre-roll and durations are sample-exact
at any simulation speed.

States: idle -> offhook (recording, or logged only when recording is off) -> idle.
Hook levels are debounced here: a level counts once it has held for debounce_ms of audio,
and the call's edges are placed where that stable level began.
"""
from __future__ import annotations

import logging
import math
import queue
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .audio import tones
from .audio.capture import CaptureDevice, DeviceError
from .audio.playback import Player
from .audio.ring import FrameRing
from .config import LineConfig
from .hook.base import HookEvent, HookSource
from .recording.call import CallInfo, CallRecording
from .recording.disk import DiskWorker
from .store import catalog, db as dbmod

log = logging.getLogger("hookline.line")

BACKOFF_MAX_S = 30.0
RESUME_AFTER_S = 5.0    # after a failed write (full disk), try again this often while off-hook


@dataclass
class _Call:
    """The line's current off-hook period."""
    offhook_frame: int
    part_start: int                         # frame where the current part's talk time starts
    recording: CallRecording | None         # None: recording is off for this line
    call_id: str = ""                       # the catalog id, from the off-hook on
    cursor: int = 0                         # next frame to hand to the encoder
    next_beep: int | None = None            # frame of the next periodic consent beep


def dbfs(frames: np.ndarray) -> tuple[float, float]:
    """RMS level of each leg in dBFS (−120 for digital silence)."""
    if not len(frames):
        return (-120.0, -120.0)
    rms = np.sqrt(np.mean(np.square(frames.astype(np.float64)), axis=0)) / 32768.0
    return tuple(round(20 * math.log10(max(v, 1e-6)), 1) for v in rms)


class Line(threading.Thread):
    def __init__(self, cfg: LineConfig, *, sample_rate: int, period_frames: int, data_dir: Path,
                 clock, hook: HookSource, settings: dict[str, Any],
                 tick: Callable[["Line", int], None] | None = None, disk: DiskWorker | None = None) -> None:
        super().__init__(name=f"line{cfg.id}", daemon=True)
        self.cfg = cfg
        self.rate = sample_rate
        self.period = period_frames
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.hook = hook
        self.settings = dict(settings)
        self.tick = tick
        self.disk = disk
        self.device = CaptureDevice(cfg.capture, sample_rate, period_frames, cfg.swap_legs)
        self.events: queue.SimpleQueue[HookEvent] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.debounce = cfg.offhook.debounce_ms * sample_rate // 1000
        self.lag = self.debounce + period_frames      # encoder trails capture by this much
        preroll = int(cfg.preroll_s * sample_rate)
        self.ring = FrameRing(preroll + self.lag + 2 * period_frames + sample_rate // 2)
        self.preroll_frames = preroll
        self.pos = 0                    # frames captured so far (stream time)
        self.raw_offhook = False
        self.raw_since = 0
        self.offhook = False            # debounced state
        self.call: _Call | None = None
        self.last_end = 0               # frame of the previous on-hook: pre-roll never reaches back past it
        self.resume_at: int | None = None   # frame at which to retry recording a call that failed
        self.resume_from: tuple[str, int] | None = None  # (id, part) of the part that failed
        self.last_error: str | None = None
        self.levels = (-120.0, -120.0)
        self.xruns = 0
        self.device_error: str | None = None
        self.db = None
        self.player: Player | None = None
        self.beep = tones.beep(sample_rate)

    # -- called from other threads -------------------------------------------------------
    def post(self, event: HookEvent) -> None:
        if event.frame is None:
            event = HookEvent(event.kind, self.pos, event.detail)
        self.events.put(event)

    def apply_settings(self, values: dict[str, Any]) -> None:
        self.events.put(HookEvent("settings", None, dict(values)))

    def stop(self) -> None:
        self.stopping.set()

    def snapshot(self) -> dict[str, Any]:
        call = self.call
        state = "device-missing" if self.device_error else ("recording" if call and call.recording
                                                            else "offhook" if call else "idle")
        return {
            "line": self.cfg.id, "name": self.cfg.name, "state": state,
            "call_id": call.recording.id if call and call.recording else None,
            "call_s": round((self.pos - call.offhook_frame) / self.rate, 1) if call else None,
            "level_near_dbfs": self.levels[0], "level_far_dbfs": self.levels[1],
            "xruns": self.xruns, "device": self.cfg.capture, "device_error": self.device_error,
            "stream_s": round(self.pos / self.rate, 3),
        }

    # -- the line's own thread -----------------------------------------------------------
    def run(self) -> None:
        self.db = dbmod.connect(self.data_dir)
        if self.cfg.playback:
            self.player = Player(self.cfg.playback, self.rate, lambda error: self.post(
                HookEvent("device-error", detail={"device": self.cfg.playback, "error": error})))
        try:
            self.hook.start(self.post)
        except Exception as e:  # a broken hook input must not stop the audio side
            log.error("line %s: hook source failed to start: %s", self.cfg.id, e)
            self._event("device-error", self.pos, device="hook", error=str(e))
        backoff = 1.0
        try:
            while not self.stopping.is_set():
                try:
                    self.device.open()
                except DeviceError as e:
                    if self.device_error != str(e):
                        log.error("line %s: %s; retrying every %.0f s at most", self.cfg.id, e, BACKOFF_MAX_S)
                        self._event("device-error", self.pos, device=self.cfg.capture, error=str(e))
                    self.device_error = str(e)
                    self.stopping.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
                    continue
                if self.device_error:
                    log.info("line %s: capture device '%s' is back", self.cfg.id, self.cfg.capture)
                    self._event("device-ok", self.pos, device=self.cfg.capture)
                    self.device_error = None
                    self.raw_since = self.pos  # a level held across the outage restarts its debounce
                backoff = 1.0
                try:
                    self._capture_loop()
                except DeviceError as e:
                    log.error("line %s: %s", self.cfg.id, e)
                    self.device_error = str(e)
                    self._event("device-error", self.pos, device=self.cfg.capture, error=str(e))
                    self._end_call(self.pos, reason="capture device failed")
                    self.offhook = False
                finally:
                    self.device.close()
        finally:
            if self.call:
                self._end_call(self.pos, reason="recorder stopped")
            self.hook.close()
            if self.player:
                self.player.close()
            self.db.close()

    def _capture_loop(self) -> None:
        while not self.stopping.is_set():
            got = self.device.read()
            if isinstance(got, int):
                # The lost frames are not in the stream at all: nothing is invented or written.
                self.xruns += 1
                self._event("xrun", self.pos, lost_frames=-got)
                continue
            self.ring.append(got)
            self.pos += len(got)
            self.clock.note(self.pos)
            self.levels = dbfs(got)
            if self.tick:
                self.tick(self, self.pos)
            try:
                self._drain_events()
                self._step()
            except Exception as e:   # a full disk, an unwritable catalog, a bug: keep capturing
                self._recording_failed(e)

    def _recording_failed(self, error: Exception) -> None:
        """Stop writing the current call, leave what it has for recovery, retry while off-hook."""
        message = f"{type(error).__name__}: {error}"
        call, self.call = self.call, None
        failed_id = call.recording.id if call and call.recording else None
        if failed_id:
            call.recording.abandon()
        if message != self.last_error or failed_id:   # once per cause, and for every call it hits
            log.error("line %s: recording failed: %s", self.cfg.id, message, exc_info=error)
            self._event("error", self.pos, failed_id, error=message,
                        note="what was recorded stays in the spool; `hookline recover` or the next start finalizes it")
        self.last_error = message
        if self.offhook:
            self.resume_at = self.pos + int(RESUME_AFTER_S * self.rate)
            if failed_id:
                self.resume_from = (failed_id, call.recording.info.part)

    def _drain_events(self) -> None:
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                return
            if ev.kind in ("offhook", "onhook"):
                level = ev.kind == "offhook"
                if level != self.raw_offhook:
                    self.raw_offhook, self.raw_since = level, ev.frame
            elif ev.kind == "settings":
                self.settings.update(ev.detail)
            else:
                self._event(ev.kind, ev.frame, **ev.detail)

    def _step(self) -> None:
        if self.raw_offhook != self.offhook and self.pos - self.raw_since >= self.debounce:
            self.offhook = self.raw_offhook
            self.resume_at = self.resume_from = None
            if self.offhook:
                self._start_call(self.raw_since)
            else:
                self._end_call(self.raw_since)
        elif self.resume_at is not None and self.pos >= self.resume_at:
            self.resume_at = None
            self._start_call(self.pos, continues=self.resume_from)
            self.last_error = None
        call = self.call
        if call and call.recording:
            target = self.pos - self.lag
            max_frames = int(self.settings["max_call_s"] * self.rate)
            while target - call.part_start >= max_frames:
                self._split(call.part_start + max_frames)
            self._feed(call, min(target, self.pos))
            if call.next_beep is not None and self.pos >= call.next_beep:
                self._consent_beep(call)

    def _feed(self, call: _Call, until: int) -> None:
        if until > call.cursor:
            call.recording.write(self.ring.read(max(call.cursor, self.ring.start), until))
            call.cursor = until

    def _start_call(self, frame: int, continues: tuple[str, int] | None = None) -> None:
        if not self.settings["recording"]:
            self.call = _Call(frame, frame, None, call_id=catalog.new_call_id())
            self._event("offhook", frame, self.call.call_id, recording=False)
            return
        start = max(self.ring.start, frame - self.preroll_frames, self.last_end)
        info = CallInfo(line=self.cfg.id, started_at=self.clock.wall(frame), clock_synced=self.clock.synced,
                        part=continues[1] + 1 if continues else 1, previous_id=continues[0] if continues else None)
        rec = CallRecording(self.db, self.data_dir, info, sample_rate=self.rate, bitrate_kbps=self.cfg.bitrate_kbps,
                            preroll_s=(frame - start) / self.rate, disk=self.disk)
        self.call = _Call(frame, frame, rec, cursor=start)
        if continues:
            self._event("resumed", frame, rec.id, previous_id=continues[0])
            return
        self._event("offhook", frame, rec.id, preroll_s=round((frame - start) / self.rate, 3))
        if self.settings["consent"] != "off":
            if self.player:
                self._consent_beep(self.call)
            else:
                self._event("warning", frame, rec.id,
                            message="consent is on but this line has no playback device in the config")

    def _consent_beep(self, call: _Call) -> None:
        """Tell the parties the call is recorded: now, and again later if consent is periodic."""
        mode = self.settings["consent"]
        if mode == "off":   # turned off during the call
            call.next_beep = None
            return
        call.next_beep = self.pos + self.settings["beep_interval_s"] * self.rate if mode == "periodic" else None
        self.player.play(self.beep)
        self._event("beep", self.pos, call.recording.id, consent=mode)

    def _split(self, at: int) -> None:
        """The call reached max_call_s: close this part and go on in a linked next one."""
        call = self.call
        self._feed(call, at)
        old = call.recording
        old.finish(self.clock.wall(at), (at - call.part_start) / self.rate)
        info = CallInfo(**{**old.info.__dict__, "started_at": self.clock.wall(at), "part": old.info.part + 1,
                           "previous_id": old.id})
        call.recording = CallRecording(self.db, self.data_dir, info, sample_rate=self.rate,
                                       bitrate_kbps=self.cfg.bitrate_kbps, preroll_s=0.0, disk=self.disk)
        call.part_start = at
        self._event("split", at, call.recording.id, previous_id=old.id, part=info.part,
                    reason=f"longer than max_call_s ({self.settings['max_call_s']:g} s)")

    def _end_call(self, frame: int, reason: str | None = None) -> None:
        call, self.call = self.call, None
        if call is None:
            return
        frame = max(frame, call.part_start)
        self.last_end = frame
        rec = call.recording
        duration = (frame - call.part_start) / self.rate
        extra = {"reason": reason} if reason else {}
        if rec is None:
            call_id = call.call_id
            catalog.create_call(self.db, {
                "id": call_id, "line": self.cfg.id, "started_at": catalog.iso(self.clock.wall(call.offhook_frame)),
                "ended_at": catalog.iso(self.clock.wall(frame)), "duration_s": round(duration, 3),
                "status": "discarded", "clock_synced": int(self.clock.synced)})
            self._event("onhook", frame, call_id, duration_s=round(duration, 3), **extra)
            self._event("discard", frame, call_id, reason="recording is off for this line")
            return
        self._feed(call, min(frame, self.ring.end))
        self._event("onhook", frame, rec.id, duration_s=round(duration, 3), **extra)
        minimum = self.settings["min_call_s"]
        if rec.info.part == 1 and duration < minimum:
            rec.discard(self.clock.wall(frame), duration)
            self._event("discard", frame, rec.id,
                        reason=f"shorter than min_call_s ({duration:.2f} s < {minimum:g} s)")
            return
        rec.finish(self.clock.wall(frame), duration)

    def _event(self, kind: str, frame: int, call_id: str | None = None, **detail: Any) -> None:
        """Log a line event; if the catalog cannot take it (full disk), the journal still does."""
        try:
            catalog.log_event(self.db, self.cfg.id, kind, self.clock.wall(frame), call_id, **detail)
        except (sqlite3.Error, OSError) as e:
            log.error("line %s: cannot log event %s %s (%s): %s", self.cfg.id, kind, call_id or "", detail, e)
