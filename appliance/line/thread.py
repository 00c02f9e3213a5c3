"""One telephone line's thread: continuous capture, device retry, and dispatch to the parts.

The thread does blocking ALSA reads and keeps the recent frames (pre-roll and the recording's
short delay); the chunks read (one ALSA period each) go, a batch at a time (batch.py), to the
detectors on the line's own audio (levels, VOX, touch-tones, the hook monitor's watchdog), then the
events its sources posted are applied in order, then the call session advances. All timing inside
a call is stream time (frames), so debounce, pre-roll and durations are sample-exact at any
simulation speed.

The parts, each fed frames or events and tested on its own: heard (the events applied in order),
hook_state (debounce, the watchdog), hook.sense_rings (rings on a sense input), who_called (rings,
caller ID, direction), digits (and the direction dialing tells), session (the call, its parts and the retry),
consent, policy (keep or drop), events (the log), inputs (the hook and caller-ID sources), batch
(the chunks waiting for the Python work).
"""
from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any, Callable

from ..audio.capture import CaptureDevice, DeviceError
from ..audio.playback import Player
from ..audio.preroll import PrerollBuffer
from ..config import LineConfig
from ..hook.base import HookEvent, HookSource
from ..hook.sense_rings import sense_rings
from ..recording.disk import DiskWorker
from ..store import db as dbmod
from ..store.kinds import Event
from .batch import CapturedChunks
from .consent import Consent
from .detectors import Detectors
from .digits import DialedDigits
from .events import EventLog
from .heard import apply_event
from .heartbeat import Heartbeat
from .hook_state import HookDebounce
from .inputs import LineInputs
from .keyed import MIN_LAG_S, KeyedDigits
from .pause import PauseControl
from .pause_button import PauseButton, start_button
from .session import CallSession, Recorder
from .who_called import WhoCalled, hears_rings

log = logging.getLogger("hookline.line")

BACKOFF_MAX_S = 5.0   # a replugged interface is recording again within this (opening a missing PCM is cheap)
# Which device a device event is about, for the pages' sentences (present.events.device_kind).
AUDIO_IN, AUDIO_OUT = {"device_kind": "capture"}, {"device_kind": "playback"}


def line_status(line: "Line") -> dict[str, Any]:
    call = line.session.call if line.session else None
    state = "device-missing" if line.device_error else ("recording" if call and call.recording
                                                        else "offhook" if call else
                                                        "ringing" if line.who.ringing(line.pos) else "idle")
    return {
        "sources": line.inputs.status(),
        "line": line.cfg.id, "name": line.settings.get("name") or line.cfg.name, "state": state,
        "call_id": call.recording.id if call and call.recording else None,
        "call_s": round((line.pos - call.offhook_frame) / line.rate, 1) if call else None,
        "level_near_dbfs": line.levels[0], "level_far_dbfs": line.levels[1],
        "xruns": line.xruns, "device": line.cfg.capture, "device_error": line.device_error,
        "stream_s": round(line.pos / line.rate, 3),
        **({"paused": line.pause.paused} if line.pause else {}),
    }


class Line(threading.Thread):
    def __init__(self, cfg: LineConfig, *, sample_rate: int, period_frames: int, data_dir: Path,
                 clock, hook: HookSource | None, settings: dict[str, Any], callerid: HookSource | None = None,
                 tick: Callable[["Line", int], None] | None = None, disk: DiskWorker | None = None,
                 announcement=None) -> None:
        super().__init__(name=f"line{cfg.id}", daemon=True)
        self.cfg = cfg
        self.rate = sample_rate
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.hook = hook
        self.callerid = callerid
        self.inputs = LineInputs(cfg.id, hook, callerid)
        self.settings = dict(settings)
        self.tick = tick
        self.disk = disk
        self.device = CaptureDevice(cfg.capture, sample_rate, period_frames, cfg.swap_legs)
        self.events: queue.SimpleQueue[HookEvent] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.heartbeat = Heartbeat()            # beats at every ALSA read, for the watchdog
        debounce = cfg.offhook.debounce_ms * sample_rate // 1000
        # The recording trails capture by this much: the debounce (it stops exactly at the on-hook)
        # and the time the DTMF decoder needs before a keyed tone can be cut out (keyed.py).
        self.lag = max(debounce + period_frames, int(MIN_LAG_S * sample_rate))
        self.heard = CapturedChunks(sample_rate, period_frames)   # waiting for the Python work
        self.preroll_frames = int(cfg.preroll_s * sample_rate)
        self.audio = PrerollBuffer(self.preroll_frames + self.lag + self.heard.batch_frames
                                   + 2 * period_frames + sample_rate // 2)
        self.pos = 0                    # frames captured so far (stream time)
        self.hook_level = HookDebounce(debounce)
        self.sense_rings = sense_rings(cfg.offhook, sample_rate, debounce)
        self.detectors = Detectors(sample_rate, cfg.offhook.source, self.settings)
        self.who = WhoCalled(sample_rate, hears_rings(cfg))
        self.digits = DialedDigits(sample_rate, lead_frames=self.lag)
        self.levels, self.xruns = (-120.0, -120.0), 0      # the last chunk's (near, far) dBFS; overruns
        self.device_error: str | None = None
        self.announcement = announcement    # notice.stored.AnnouncementFile: the box's one, kept fresh by the daemon
        self.db, self.event = None, None        # the thread's own catalog connection and EventLog
        self.player: Player | None = None
        self.session: CallSession | None = None
        self.pause: PauseControl | None = None
        self.keys: KeyedDigits | None = None
        self.button = PauseButton(cfg.pause) if cfg.pause else None

    # -- called from other threads -------------------------------------------------------
    def post(self, event: HookEvent) -> None:
        if event.frame is None:
            event = HookEvent(event.kind, self.pos, event.detail)
        self.events.put(event)

    def apply_settings(self, values: dict[str, Any]) -> None:
        self.events.put(HookEvent("settings", None, dict(values)))

    def apply_dnr(self, listed) -> None:
        """A new do-not-record list (store.dnr.Listed), from the daemon."""
        self.events.put(HookEvent("dnr", None, {"listed": listed}))
    def stop(self) -> None:
        self.stopping.set()

    snapshot = line_status      # the line now, for the status file and `hookline status`

    # -- the line's own thread -----------------------------------------------------------
    def run(self) -> None:
        self._open()
        try:
            self._capture_with_retry()
        finally:
            if self.session.call:
                self.session.stopped(self.pos)
            self._pause_step(stopping=True)     # no part will come back to go on paused
            self.inputs.close()
            if self.player:
                self.player.close()
            if self.button:
                self.button.close()
            self.db.close()

    def _open(self) -> None:
        """The thread's own catalog connection, the playback device, the parts that need them,
        and the hook and caller-ID sources."""
        self.db = dbmod.connect(self.data_dir)
        self.event = EventLog(self.db, self.cfg.id, self.clock, self.disk.room if self.disk else None)
        if self.cfg.playback:
            self.player = Player(self.cfg.playback, self.rate, lambda error: self.post(
                HookEvent("device-error", detail={"device": self.cfg.playback, "error": error, **AUDIO_OUT})))
        self.session = CallSession(
            line_id=self.cfg.id, recorder=Recorder(self.db, self.data_dir, self.disk, self.rate, self.cfg.bitrate_kbps),
            audio=self.audio, clock=self.clock, events=self.event,
            consent=Consent(self.rate, self.player, self.announcement),
            settings=self.settings, preroll_frames=self.preroll_frames, lag_frames=self.lag,
            has_callerid=self.cfg.callerid is not None)
        self.pause = PauseControl(self.cfg.id, self.rate, self.session.parts.blanks, self.event, self.settings,
                                  led=start_button(self))
        self.keys = KeyedDigits(self.rate, self.session, self.pause, self.event)
        self.inputs.start(self.post, lambda name, error: self.event(Event.DEVICE_ERROR, self.pos, device=name,
                                                                   device_kind=name, error=str(error)))

    def _capture_with_retry(self) -> None:
        """Capture until stopped; a missing or failing device is retried every 1, 2, 4, then
        BACKOFF_MAX_S seconds, with one device-error event per outage."""
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                self.device.open()
            except DeviceError as e:
                if self.device_error != str(e):
                    log.error("line %s: %s; retrying every %.0f s at most", self.cfg.id, e, BACKOFF_MAX_S)
                if self.device_error is None:   # one event per outage, however it shows itself
                    self.event(Event.DEVICE_ERROR, self.pos, device=self.cfg.capture, error=str(e), **AUDIO_IN)
                self.device_error = str(e)
                self.heartbeat.beat(ahead_s=backoff)    # alive: waiting to try again
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            if self.device_error:
                log.info("line %s: capture device '%s' is back", self.cfg.id, self.cfg.capture)
                self.event(Event.DEVICE_OK, self.pos, device=self.cfg.capture, **AUDIO_IN)
                self.device_error = None
                self.hook_level.restart(self.pos)   # a level held across the outage restarts its debounce
                self.session.retry.device_back(self.pos, self.hook_level.offhook)
            backoff = 1.0
            try:
                self._capture_loop()
            except DeviceError as e:
                log.error("line %s: %s", self.cfg.id, e)
                self.session.interrupted(self.cfg.capture, str(e), self.pos)
                self.device_error = str(e)   # after the event: the simulator waits on this
            finally:
                self.device.close()

    def _capture_loop(self) -> None:
        try:
            while not self.stopping.is_set():
                got = self.device.read()
                self.heartbeat.beat()
                if isinstance(got, int):
                    # The lost frames are not in the stream at all: nothing is invented or written.
                    self._work()          # what came before the gap first
                    self.xruns += 1
                    self.event(Event.XRUN, self.pos, self.session.call_id, lost_frames=-got,
                               lost_s=round(-got / self.rate, 2))
                    continue
                full = False
                if len(got):
                    self.pos += len(got)  # at once: the sources' events are stamped with it
                    full = self.heard.add(got)
                if self.tick:
                    self.tick(self, self.pos)
                # Something happening (an event queued, a debounce running, a beep due) does not wait.
                if full or not (self.events.empty() and self.hook_level.steady) or self.session.consent.due(self.pos):
                    self._work()
        finally:                          # stopped or the device failed: what was captured counts
            self._work()

    def _work(self) -> None:
        """The chunks captured since last time through the detectors, then events and the call."""
        if self.heard:
            self._listen()
        try:
            self._drain_events()
            self._step()
        except Exception as e:   # a full disk, an unwritable catalog, a bug: keep capturing
            self.session.failed(e, self.pos, self.hook_level.offhook)

    def _listen(self) -> None:
        """Keep the chunks captured since last time and run the detectors on them."""
        frames, self.levels, loudest = self.heard.take()
        self.audio.append(frames)
        self.clock.note(self.pos)   # the last read has just ended
        self.session.heard(*loudest)
        events, warning = self.detectors.feed(frames, self.pos - len(frames),
                                              monitor_healthy=getattr(self.hook, "healthy", True),
                                              offhook=self.hook_level.offhook)
        if warning:
            self.event(Event.WARNING, self.pos, self.session.call_id, message=warning)
        for event in events:
            self.events.put(event)

    def _drain_events(self) -> None:
        while not self.events.empty():   # this thread is the only reader
            apply_event(self, self.events.get_nowait())

    def _step(self) -> None:
        changed = self.hook_level.settle(self.pos)
        if changed is not None:
            offhook = self.hook_level.offhook
            self.session.hook_changed(offhook, changed, self.pos, self.who.answer(changed) if offhook else {},
                                      self.digits.take_for(changed) if offhook else [])
        elif self.hook_level.steady:
            resume_at = self.session.retry.due(self.pos)
            if resume_at is not None:
                self.session.resume(resume_at)
        self._pause_step()
        self.session.advance(self.pos)

    def _pause_step(self, stopping: bool = False) -> None:
        """Before the recording is fed: pauses and keyed codes that end, now or with the call."""
        call, ended_at = self.session.call, self.session.last_end
        self.pause.step(call, self.pos, ended_at, goes_on=not stopping and self.session.retry.previous is not None)
        self.keys.step(call, self.pos, ended_at, self.settings)
