"""One telephone line: continuous capture, the hook state machine, and its recordings.

A thread per line does blocking ALSA reads, keeps the last seconds in a ring buffer
(pre-roll), applies hook events posted by its source, and feeds the MP3 encoder. All timing
inside a call is stream time (frames), so debounce, pre-roll and durations are sample-exact
at any simulation speed.

States: idle -> offhook (recording, or logged only when recording is off) -> idle.
Off-hook comes from the line's hook source (GPIO, a serial line monitor) or from its own audio
(VOX); rings and caller ID from the hook source or a modem. A call that follows rings is
inbound and takes the caller ID of that ring train; otherwise it is outbound. Touch-tones on
the near leg become the call's dialed digits.
Hook levels are debounced here: a level counts once it has held for debounce_ms of audio,
and the call's edges are placed where that stable level began.
"""
from __future__ import annotations

import logging
import math
import queue
import sqlite3
import threading
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .audio import tones
from .audio.capture import CaptureDevice, DeviceError
from .audio.dtmf import DtmfDecoder
from .audio.playback import Player
from .audio.ring import FrameRing
from .config import LineConfig
from .hook.base import HookEvent, HookSource
from .hook.vox import VoxDetector, VoxSettings
from .recording.call import CallInfo, CallRecording
from .recording.disk import DiskWorker
from .store import catalog, db as dbmod

log = logging.getLogger("hookline.line")

BACKOFF_MAX_S = 5.0   # a replugged interface is recording again within this (opening a missing PCM is cheap)
RESUME_AFTER_S = 5.0    # after a failed write (full disk), try again this often while off-hook
RING_MEMORY_S = 8.0     # an off-hook this soon after a ring answers it (cadence: 2 s on, 4 s off)
STUCK_DBFS = -50.0      # a whole max_call_s part below this on both legs: the hook input is stuck
HOOK_LOST_GRACE_S = 2.0  # a serial hook monitor silent this long: calls start and end by voice meanwhile


@dataclass
class _Call:
    """The line's current off-hook period."""
    offhook_frame: int
    part_start: int                         # frame where the current part's talk time starts
    recording: CallRecording | None         # None: not recorded (recording off, or a stuck input)
    info: CallInfo
    cursor: int = 0                         # next frame to hand to the encoder
    next_beep: int | None = None            # frame of the next periodic consent beep
    call_id: str = ""                       # the catalog id, from the off-hook on
    loudest: float = -120.0                 # loudest chunk of the current part (dBFS, either leg)
    stuck: bool = False


def dbfs(frames: np.ndarray) -> tuple[float, float]:
    """RMS level of each leg in dBFS (−120 for digital silence)."""
    if not len(frames):
        return (-120.0, -120.0)
    rms = np.sqrt(np.mean(np.square(frames.astype(np.float64)), axis=0)) / 32768.0
    return tuple(round(20 * math.log10(max(v, 1e-6)), 1) for v in rms)


class Line(threading.Thread):
    def __init__(self, cfg: LineConfig, *, sample_rate: int, period_frames: int, data_dir: Path,
                 clock, hook: HookSource | None, settings: dict[str, Any], callerid: HookSource | None = None,
                 tick: Callable[["Line", int], None] | None = None, disk: DiskWorker | None = None) -> None:
        super().__init__(name=f"line{cfg.id}", daemon=True)
        self.cfg = cfg
        self.rate = sample_rate
        self.period = period_frames
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.hook = hook
        self.callerid = callerid
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
        self.resume_from: tuple[str, CallInfo] | None = None  # (id, info) of the part that failed
        self.last_error: str | None = None
        self.levels = (-120.0, -120.0)
        self.xruns = 0
        self.device_error: str | None = None
        self.db = None
        self.player: Player | None = None
        self.beep = tones.beep(sample_rate)
        self.vox = VoxDetector(sample_rate, self._vox_settings()) if cfg.offhook.source == "vox" else None
        # A serial line monitor that stops answering must neither lose calls nor record silence
        # forever: while it is gone, a VOX detector stands in for it. It listens all the time,
        # so its noise floor is the line's own when it is needed.
        self.fallback_vox = VoxDetector(sample_rate, self._vox_settings()) if cfg.offhook.source == "serial" else None
        self.hook_lost_since: int | None = None
        self.hook_lost = False
        self.dtmf = DtmfDecoder(sample_rate)
        # Only a line that hears rings can tell inbound from outbound.
        self.hears_rings = cfg.callerid is not None or bool(getattr(cfg.offhook, "ring_pattern", None))
        self.last_ring: int | None = None
        self.ring_train_start: int | None = None
        self.pending_cid: tuple[int, dict[str, Any]] | None = None
        self.loose_digits: list[tuple[int, str]] = []   # digits heard while no call was confirmed yet

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
        ringing = self.last_ring is not None and self.pos - self.last_ring <= RING_MEMORY_S * self.rate
        state = "device-missing" if self.device_error else ("recording" if call and call.recording
                                                            else "offhook" if call else
                                                            "ringing" if ringing else "idle")
        sources = {name: {"device": getattr(source, "port", None) or getattr(getattr(source, "cfg", None), "port", None),
                          "healthy": getattr(source, "healthy", None)}
                   for name, source in (("hook", self.hook), ("callerid", self.callerid)) if source is not None}
        return {
            "sources": sources,
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
        for name, source in (("hook", self.hook), ("callerid", self.callerid)):
            if source is None:
                continue
            try:
                source.start(self.post)
            except Exception as e:  # a broken hook input must not stop the audio side
                log.error("line %s: %s source failed to start: %s", self.cfg.id, name, e)
                self._event("device-error", self.pos, device=name, error=str(e))
        backoff = 1.0
        try:
            while not self.stopping.is_set():
                try:
                    self.device.open()
                except DeviceError as e:
                    if self.device_error != str(e):
                        log.error("line %s: %s; retrying every %.0f s at most", self.cfg.id, e, BACKOFF_MAX_S)
                    if self.device_error is None:   # one event per outage, however it shows itself
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
                    if self.resume_from and self.offhook:
                        self.resume_at = self.pos   # the call goes on in a linked part
                backoff = 1.0
                try:
                    self._capture_loop()
                except DeviceError as e:
                    log.error("line %s: %s", self.cfg.id, e)
                    self._interrupt_call(str(e))
                    self.device_error = str(e)   # after the event: the simulator waits on this
                finally:
                    self.device.close()
        finally:
            if self.call:
                self._end_call(self.pos, reason="recorder stopped")
            for source in (self.hook, self.callerid):
                if source is not None:
                    source.close()
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
            first = self.pos
            self.ring.append(got)
            self.pos += len(got)
            self.clock.note(self.pos)
            self.levels = dbfs(got)
            if self.call:
                self.call.loudest = max(self.call.loudest, *self.levels)
            if self.vox:
                for kind, frame in self.vox.feed(got, first):
                    self.events.put(HookEvent(kind, frame, {"source": "vox"}))
            self._hook_fallback(got, first)
            for digit, frame in self.dtmf.feed(got[:, 0], first):
                self.events.put(HookEvent("digit", frame, {"digit": digit}))
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
                self.resume_from = (failed_id, call.recording.info)

    def _hook_fallback(self, frames: np.ndarray, first: int) -> None:
        """Stand in for a serial hook monitor that is gone (unplugged, hung, powered off) with
        voice activation, and hand back to it when it answers again."""
        if self.fallback_vox is None:
            return
        events = self.fallback_vox.feed(frames, first)
        if getattr(self.hook, "healthy", True):
            self.hook_lost_since = None
            if self.hook_lost:
                self.hook_lost = False
                self._event("warning", self.pos, self.call.call_id if self.call else None,
                            message="the hook monitor answers again: it reports the hook state from now on")
            return
        if self.hook_lost_since is None:
            self.hook_lost_since = first
        if not self.hook_lost:
            if self.pos - self.hook_lost_since < HOOK_LOST_GRACE_S * self.rate:
                return
            self.hook_lost = True
            if self.offhook:      # the call in progress now ends after vox_hang_s without sound
                self.fallback_vox.assume_call(self.pos)
            self._event("warning", self.pos, self.call.call_id if self.call else None,
                        message="the hook monitor is not answering: calls start and end by voice "
                                "(VOX settings) until it is back")
            return
        for kind, frame in events:
            self.events.put(HookEvent(kind, frame, {"source": "vox-fallback"}))

    def _interrupt_call(self, error: str) -> None:
        """The capture device failed: keep what the call has so far (however short) and go on in a
        linked part if the line is still off-hook when the device is back."""
        call = self.call
        rec = call.recording if call else None
        self._event("device-error", self.pos, call.call_id if call else None, device=self.cfg.capture, error=error)
        if rec is None:   # idle, stuck or not recording: nothing to keep, the hook state carries on
            return
        self.call = None
        self.last_end = self.pos     # the next part starts after the outage, with no pre-roll before it
        self._feed(call, self.pos)
        rec.finish(self.clock.wall(self.pos), (self.pos - call.part_start) / self.rate)
        self.resume_from, self.resume_at = (rec.id, rec.info), None

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
                for detector in (self.vox, self.fallback_vox):
                    if detector:
                        detector.update(self._vox_settings())
            elif ev.kind == "ring":
                self._ring(ev)
            elif ev.kind == "callerid":
                self._caller_id(ev)
            elif ev.kind == "digit":
                self._digit(ev)
            else:
                self._event(ev.kind, ev.frame, **ev.detail)

    def _vox_settings(self) -> VoxSettings:
        start = self.settings["vox_start_dbfs"]
        return VoxSettings(start_dbfs=start, stop_dbfs=min(self.settings["vox_stop_dbfs"], start - 1.0),
                           hang_s=self.settings["vox_hang_s"], min_burst_ms=self.settings["vox_min_burst_ms"])

    def _ring(self, ev: HookEvent) -> None:
        if self.last_ring is None or ev.frame - self.last_ring > RING_MEMORY_S * self.rate:
            self.ring_train_start = ev.frame
        self.last_ring = ev.frame
        self._event("ring", ev.frame, self.call.call_id if self.call else None, **ev.detail)

    def _caller_id(self, ev: HookEvent) -> None:
        self.pending_cid = (ev.frame, ev.detail)
        self._event("callerid", ev.frame, self.call.call_id if self.call else None, **ev.detail)
        call = self.call
        # Some exchanges send it just after the answer: give it to the call that just began.
        if call and call.info.direction == "inbound" and not call.info.remote_number \
                and not call.info.remote_withheld and ev.frame - call.offhook_frame <= RING_MEMORY_S * self.rate:
            self._attach_caller_id(call)

    def _attach_caller_id(self, call: _Call) -> None:
        _, cid = self.pending_cid
        self.pending_cid = None
        fields = {"remote_number": cid.get("number"), "remote_name": cid.get("name"),
                  "remote_withheld": bool(cid.get("withheld"))}
        call.info.__dict__.update(fields)
        if call.recording:
            call.recording.update(**fields)

    def _digit(self, ev: HookEvent) -> None:
        digit = ev.detail["digit"]
        if self.call is None:
            # It may belong to a call about to be confirmed (a VOX start comes after the sound).
            self.loose_digits = [d for d in self.loose_digits if ev.frame - d[0] <= 2 * self.rate]
            self.loose_digits.append((ev.frame, digit))
            return
        self._add_digit(self.call, ev.frame, digit)

    def _add_digit(self, call: _Call, frame: int, digit: str) -> None:
        self._event("digit", frame, call.call_id, digit=digit)
        if call.info.direction != "inbound":
            call.info.dialed = (call.info.dialed or "") + digit
            if call.recording:
                call.recording.update(dialed=call.info.dialed)

    def _step(self) -> None:
        if self.raw_offhook != self.offhook and self.pos - self.raw_since >= self.debounce:
            self.offhook = self.raw_offhook
            if not self.offhook and self.call is None and self.resume_from:
                self._event("onhook", self.raw_since, self.resume_from[0],
                            reason="hung up before recording could resume")
            self.resume_at = self.resume_from = None
            if self.offhook:
                self._start_call(self.raw_since)
            else:
                self._end_call(self.raw_since)
        elif self.resume_at is not None and self.pos >= self.resume_at and self.raw_offhook == self.offhook:
            at, self.resume_at = self.resume_at, None
            self._start_call(at, continues=self.resume_from)
            self.last_error = None
        call = self.call
        if call and call.recording:
            target = self.pos - self.lag
            max_frames = int(self.settings["max_call_s"] * self.rate)
            while call.recording and target - call.part_start >= max_frames:
                self._split(call.part_start + max_frames)
            if call.recording is None:      # the split found a stuck input
                return
            self._feed(call, min(target, self.pos))
            if call.next_beep is not None and self.pos >= call.next_beep:
                self._consent_beep(call)

    def _feed(self, call: _Call, until: int) -> None:
        if until > call.cursor:
            call.recording.write(self.ring.read(max(call.cursor, self.ring.start), until))
            call.cursor = until

    def _who(self, frame: int) -> dict[str, Any]:
        """Direction and caller of a call going off-hook at frame, from the rings before it."""
        if not self.hears_rings:
            return {}
        rung = self.last_ring is not None and frame - self.last_ring <= RING_MEMORY_S * self.rate
        who: dict[str, Any] = {"direction": "inbound" if rung else "outbound"}
        if rung and self.pending_cid and self.pending_cid[0] >= self.ring_train_start - RING_MEMORY_S * self.rate:
            _, cid = self.pending_cid
            who.update(remote_number=cid.get("number"), remote_name=cid.get("name"),
                       remote_withheld=bool(cid.get("withheld")))
        self.pending_cid = None
        self.last_ring = None
        return who

    def _start_call(self, frame: int, continues: tuple[str, CallInfo] | None = None) -> None:
        if continues:   # the same call goes on: same direction, caller and digits
            info = dataclasses.replace(continues[1], started_at=self.clock.wall(frame), clock_synced=self.clock.synced,
                                       part=continues[1].part + 1, previous_id=continues[0])
        else:
            info = CallInfo(line=self.cfg.id, started_at=self.clock.wall(frame), clock_synced=self.clock.synced,
                            **self._who(frame))
        if not self.settings["recording"]:
            self.call = _Call(frame, frame, None, info, call_id=catalog.new_call_id())
            self._event("offhook", frame, self.call.call_id, recording=False, direction=info.direction)
            self._take_loose_digits(self.call)
            return
        start = max(self.ring.start, frame - self.preroll_frames, self.last_end)
        rec = CallRecording(self.db, self.data_dir, info, sample_rate=self.rate, bitrate_kbps=self.cfg.bitrate_kbps,
                            preroll_s=(frame - start) / self.rate, disk=self.disk)
        self.call = _Call(frame, frame, rec, info, cursor=start, call_id=rec.id)
        if continues:
            self._event("resumed", frame, rec.id, previous_id=continues[0])
            return
        self._event("offhook", frame, rec.id, preroll_s=round((frame - start) / self.rate, 3),
                    direction=info.direction)
        if info.direction == "inbound" and self.cfg.callerid and not info.remote_number and not info.remote_withheld:
            self._event("warning", frame, rec.id, message="inbound call without caller ID: check that the "
                        "line has caller ID and the modem accepted its caller-ID command (see device-ok events)")
        self._take_loose_digits(self.call)
        if self.settings["consent"] != "off":
            if self.player:
                self._consent_beep(self.call)
            else:
                self._event("warning", frame, rec.id,
                            message="consent is on but this line has no playback device in the config")

    def _take_loose_digits(self, call: _Call) -> None:
        for frame, digit in self.loose_digits:
            if frame >= call.offhook_frame - self.debounce - self.period:
                self._add_digit(call, frame, digit)
        self.loose_digits = []

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
        """The call reached max_call_s: close this part and go on in a linked next one, unless the
        whole part was silence, which means a stuck hook input, not a long call."""
        call = self.call
        self._feed(call, at)
        old = call.recording
        old.finish(self.clock.wall(at), (at - call.part_start) / self.rate)
        if call.loudest < STUCK_DBFS:
            call.recording, call.stuck = None, True
            self._event("stuck", at, old.id, loudest_dbfs=call.loudest,
                        message=f"off-hook for {(at - call.offhook_frame) / self.rate:.0f} s of silence: the hook "
                                "input looks stuck (check its wiring and active level); not recording until on-hook")
            return
        info = CallInfo(**{**old.info.__dict__, "started_at": self.clock.wall(at), "part": old.info.part + 1,
                           "previous_id": old.id})
        call.recording = CallRecording(self.db, self.data_dir, info, sample_rate=self.rate,
                                       bitrate_kbps=self.cfg.bitrate_kbps, preroll_s=0.0, disk=self.disk)
        call.info = info
        call.part_start, call.cursor, call.loudest, call.call_id = at, at, -120.0, call.recording.id
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
        self._event("onhook", frame, call.call_id, duration_s=round(duration, 3), **extra)
        if call.stuck:
            return
        if rec is None:
            info = call.info
            catalog.create_call(self.db, {
                "id": call.call_id, "line": self.cfg.id, "direction": info.direction,
                "started_at": catalog.iso(info.started_at), "ended_at": catalog.iso(self.clock.wall(frame)),
                "duration_s": round(duration, 3), "remote_number": info.remote_number,
                "remote_name": info.remote_name, "remote_withheld": int(info.remote_withheld),
                "dialed": info.dialed, "status": "discarded", "clock_synced": int(info.clock_synced)})
            self._event("discard", frame, call.call_id, reason="recording is off for this line")
            return
        self._feed(call, min(frame, self.ring.end))
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
