"""The call in progress on a line: its recording and the parts it is cut into.

A call is one off-hook period. Its audio goes to a recording (appliance.recording.call) from
the pre-roll on; the recording is cut into linked parts when it reaches max_call_s, stops
(a `stuck` event) when a whole part was silence, and comes back in a linked part after a
failed write or a capture outage while the line is still off-hook (the retry). The record
policy decides whether the call is kept: at off-hook, when its caller ID or digits change, and
at on-hook. A line that hears no rings may learn a call's direction from its first digits
(digits.py). Everything is in stream time; the session is driven by the line's thread only.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from ..recording.call import DISK_FULL, CallInfo, CallRecording, record_dropped
from ..recording.room import DiskFull, disk_full
from ..store import catalog
from ..store.kinds import Event
from .consent import NO_PLAYER
from .digits import learnt_from_digit
from .parts import Parts
from .policy import NO_ROOM, RecordPolicy, Verdict, listed
from .unlisted import forget, keep_forgetting

log = logging.getLogger("hookline.line")

RESUME_AFTER_S = 5.0    # after a failed write (full disk), try again this often while off-hook
INBOUND_WITHOUT_CALLER_ID = ("inbound call without caller ID: check that the line has caller ID and the modem "
                             "accepted its caller-ID command (see device-ok events)")
KEPT_FOR_RECOVERY = "what was recorded stays in the spool; `hookline recover` or the next start finalizes it"
CUT_SHORT_NOTE = ("what reached the disk is finished now, marked cut short; recording goes on in a linked part "
                  "when there is room")
RECORDER_STOPPED = "recorder stopped"


def first_part(session: CallSession, frame: int, info: CallInfo,
               verdict: Verdict) -> tuple[CallRecording | None, Verdict]:
    """A new call's recording, if the policy keeps it and the disk has room for its audio."""
    try:
        return (session._record(frame, info) if verdict.keep else None), verdict
    except DiskFull:    # what is left is the catalog's: the call is not recorded, and says why
        return None, NO_ROOM


def error_detail(error: Exception) -> dict[str, Any]:
    """What the error event of a failed write says besides the error: where its audio is."""
    if disk_full(error):
        return {"cause": DISK_FULL, "note": CUT_SHORT_NOTE}
    return {"note": KEPT_FOR_RECOVERY}


@dataclass
class Call:
    """The line's current off-hook period."""
    offhook_frame: int
    part_start: int                         # frame where the current part's talk time starts
    recording: CallRecording | None         # None: not recorded (dropped, or a stuck input)
    info: CallInfo
    cursor: int = 0                         # next frame to hand to the recording
    call_id: str = ""                       # the catalog id, from the off-hook on
    loudest: float = -120.0                 # loudest chunk of the current part (dBFS, either leg)
    stuck: bool = False
    dropped: Verdict | None = None          # why the policy dropped it (None: kept so far)
    row_written: bool = False               # a dropped call's catalog row exists already
    audio_from: int = 0                     # its first frame (pre-roll); 0 when not recorded: all frames held
    forget_from: int | None = None          # on the do-not-record list: its frames from here are silenced


@dataclass
class Retry:
    """Recording that had to stop while the line stayed off-hook, to come back in a linked part."""
    at: int | None = None                                   # frame to try again at
    previous: tuple[str, CallInfo] | None = None            # (id, info) of the part that stopped
    last_error: str | None = None                           # logged once per cause
    carried_until: int | None = None    # previous was cut by a crash: an off-hook up to here goes on with it

    def clear(self) -> None:
        self.at = self.previous = self.carried_until = None

    def carry(self, previous: tuple[str, CallInfo], until: int) -> None:
        """The recorder restarted in the middle of this call (line/carry.py)."""
        self.previous, self.carried_until = previous, until

    def resumed(self) -> None:
        self.last_error = self.carried_until = None

    def carried(self, frame: int) -> bool:
        """An off-hook at frame is the crashed call going on."""
        return self.previous is not None and self.carried_until is not None and frame <= self.carried_until

    def device_back(self, pos: int, offhook: bool) -> None:
        """The capture device is back at pos: a call still off-hook goes on in a linked part now."""
        if self.previous and offhook:
            self.at = pos

    def due(self, pos: int) -> int | None:
        """The frame to resume recording at, if now is the time (it is then used up)."""
        if self.at is not None and pos >= self.at:
            at, self.at = self.at, None
            return at
        return None


@dataclass(frozen=True)
class Recorder:
    """What a recording needs to be made: where, how, and the line it belongs to."""
    db: Any
    data_dir: Any
    disk: Any
    sample_rate: int
    bitrate_kbps: int

    def record(self, info: CallInfo, preroll_s: float) -> CallRecording:
        return CallRecording(self.db, self.data_dir, info, sample_rate=self.sample_rate,
                             bitrate_kbps=self.bitrate_kbps, preroll_s=preroll_s, disk=self.disk)


class CallSession:
    def __init__(self, *, line_id: int, recorder: Recorder, audio, clock, events, consent, settings: dict[str, Any],
                 preroll_frames: int, lag_frames: int, has_callerid: bool, policy: RecordPolicy | None = None) -> None:
        self.line_id = line_id
        self.recorder = recorder
        self.rate = recorder.sample_rate
        self.audio = audio              # the line's PrerollBuffer: the recent frames
        self.clock = clock
        self.event = events
        self.consent = consent
        self.settings = settings        # the line's live settings (the thread updates them)
        self.preroll = preroll_frames
        self.has_callerid = has_callerid
        self.policy = policy or RecordPolicy()
        self.parts = Parts(recorder, audio, clock, events, settings, lag_frames)
        self.call: Call | None = None
        self.retry = Retry()
        self.last_end = 0               # the previous on-hook: pre-roll never reaches back past it

    @property
    def call_id(self) -> str | None:
        """The call in progress's catalog id, for events about it."""
        return self.call.call_id if self.call else None

    # -- the hook -------------------------------------------------------------------------
    def hook_changed(self, offhook: bool, frame: int, pos: int, who: dict[str, Any],
                     digits: list[tuple[int, str]]) -> None:
        """The debounced hook state changed at frame (who and digits: for an off-hook)."""
        if not offhook and self.call is None and self.retry.previous:
            self.event(Event.ONHOOK, frame, self.retry.previous[0], reason="hung up before recording could resume")
        if offhook and self.retry.carried(frame):
            return self.resume(frame, reason="recorder-restarted")
        self.retry.clear()
        if offhook:
            self.start(frame, pos, who, digits)
        else:
            self.end(frame)

    def start(self, frame: int, pos: int, who: dict[str, Any], digits: list[tuple[int, str]]) -> None:
        self.consent.end()
        info = CallInfo(line=self.line_id, started_at=self.clock.wall(frame), clock_synced=self.clock.synced, **who)
        rec, verdict = first_part(self, frame, info, self.policy.at_offhook(info, self.settings))
        if rec is None:
            self.call = Call(frame, frame, None, info, call_id=catalog.new_call_id(), dropped=verdict)
            forget(self.call, self.audio, self.policy, self.recorder.db)
            self.event(Event.OFFHOOK, frame, self.call.call_id, recording=False, direction=info.direction)
            self._add_digits(digits)
            return
        self.event(Event.OFFHOOK, frame, rec.id, preroll_s=round(rec.preroll_s, 3), direction=info.direction)
        if info.direction == "inbound" and self.has_callerid and not info.remote_number and not info.remote_withheld:
            self.event(Event.WARNING, frame, rec.id, message=INBOUND_WITHOUT_CALLER_ID)
        self._add_digits(digits)
        if self.call is None or self.call.recording is not rec:
            return                      # a digit made the policy drop it
        if self.consent.begin(pos, self.settings["consent"], inbound=info.direction == "inbound") == NO_PLAYER:
            self.event(Event.WARNING, frame, rec.id, message=NO_PLAYER)
        for digit_frame, _ in digits:       # dialed before the off-hook settled: the notice waits for them too
            self.consent.digit(digit_frame)

    def resume(self, at: int, **detail) -> None:
        """Recording comes back at frame `at` in a part linked to the one that stopped: the same
        call, with its direction, caller and digits."""
        self.consent.end()
        previous_id, previous = self.retry.previous
        info = dataclasses.replace(previous, started_at=self.clock.wall(at), clock_synced=self.clock.synced,
                                   part=previous.part + 1, previous_id=previous_id)
        rec = self._record(at, info)
        self.event(Event.RESUMED, at, rec.id, previous_id=previous_id, **detail)
        self.retry.resumed()

    def _record(self, frame: int, info: CallInfo) -> CallRecording:
        start = max(self.audio.start, frame - self.preroll, self.last_end)
        rec = self.recorder.record(info, (frame - start) / self.rate)
        self.call = Call(frame, frame, rec, info, cursor=start, call_id=rec.id, audio_from=start)
        return rec

    def stopped(self, frame: int) -> None:
        """The recorder is stopping (SIGTERM, a shutdown): the call ends at frame with all its audio, however short."""
        self.end(frame, reason=RECORDER_STOPPED, keep=True)

    def end(self, frame: int, reason: str | None = None, keep: bool = False) -> None:
        call, self.call = self.call, None
        if call is None:
            return
        self.consent.end()
        frame = max(frame, call.part_start)
        self.last_end = frame
        keep_forgetting(call, self.audio, frame)
        rec = call.recording
        duration = (frame - call.part_start) / self.rate
        extra = {"reason": reason} if reason else {}
        self.event(Event.ONHOOK, frame, call.call_id, duration_s=round(duration, 3), **extra)
        if call.stuck:
            return
        if rec is None:
            if not call.row_written:
                record_dropped(self.recorder.db, call.call_id, call.info, self.clock.wall(frame), duration)
                self.event(Event.DISCARD, frame, call.call_id, **call.dropped.detail())
            return
        self.parts.feed(call, min(frame, self.audio.end))
        verdict = self.policy.at_end(rec.info, duration, self.settings) if not keep else None
        if verdict is not None and not verdict.keep:
            rec.discard(self.clock.wall(frame), duration)
            self.event(Event.DISCARD, frame, rec.id, **verdict.detail())
            return
        rec.finish(self.clock.wall(frame), duration)

    # -- what is learnt during the call -----------------------------------------------------
    def learnt(self, fields: dict[str, Any], pos: int) -> None:
        """The call's caller ID, digits or direction, learnt at pos: into its row if the policy keeps it."""
        call = self.call
        call.info.__dict__.update(fields)
        rec = call.recording
        self._ask_policy(pos)
        if rec and not listed(call.dropped):    # a listed call: unlisted.forget decides what its row says
            rec.update(**fields)

    def digit(self, frame: int, digit: str) -> None:
        call = self.call
        if listed(call.dropped):        # a listed call's digits are not kept (nor a key keyed.py held back)
            return
        self.event(Event.DIGIT, frame, call.call_id, digit=digit)
        self.consent.digit(frame)
        after_s = (frame - call.offhook_frame) / self.rate
        fields = learnt_from_digit(call.info, digit, after_s)
        if "direction" in fields:
            self.event(Event.DIRECTION, frame, call.call_id, direction=fields["direction"], learnt_from="dialing",
                       after_s=round(max(after_s, 0.0), 3))
        if fields:
            self.learnt(fields, frame)

    def _add_digits(self, digits: list[tuple[int, str]]) -> None:
        for frame, digit in digits:     # session.digit keeps none of a listed call's
            self.digit(frame, digit)

    def _ask_policy(self, pos: int) -> None:
        """The caller ID or the digits changed: may the call still be kept?"""
        call = self.call
        if call.stuck or listed(call.dropped) or (call.recording is None and not call.dropped):
            return
        verdict = self.policy.on_update(call.info, self.settings)
        if verdict.keep or (call.dropped and not listed(verdict)):
            return                  # a call not recorded already: only the list changes how it is kept
        rec, call.recording, call.dropped, call.row_written = call.recording, None, verdict, call.recording is not None
        self.consent.end()
        forget(call, self.audio, self.policy, self.recorder.db)
        if rec is not None:
            rec.discard(self.clock.wall(pos), (pos - call.part_start) / self.rate)
            self.event(Event.DISCARD, pos, rec.id, **verdict.detail())

    # -- the audio ------------------------------------------------------------------------
    def heard(self, near_dbfs: float, far_dbfs: float) -> None:
        if self.call:
            self.call.loudest = max(self.call.loudest, near_dbfs, far_dbfs)

    def advance(self, pos: int) -> None:
        """Captured up to pos: the recording gets what it may have, and the notice to callers is
        played when it is due."""
        call = self.call
        keep_forgetting(call, self.audio, self.audio.end)
        if not (call and call.recording):
            return
        self.parts.advance(call, pos)
        if call.recording and self.consent.due(pos):
            for kind, detail in self.consent.play(pos, self.settings):
                self.event(kind, pos, call.recording.id, **detail)

    # -- when recording cannot go on ------------------------------------------------------------
    def failed(self, error: Exception, pos: int, offhook: bool) -> None:
        """Writing failed (a full disk, an unwritable catalog, a bug): stop writing the current
        call, keep what it has (recording.call.stop_after), and retry every RESUME_AFTER_S while off-hook."""
        message = f"{type(error).__name__}: {error}"
        call, self.call = self.call, None
        failed = call.recording if call else None
        if failed:
            failed.stop_after(error)
            self.last_end = pos     # the part ends here (so does a pause in it, if no part comes back)
        if message != self.retry.last_error or failed:     # once per cause, and for every call it hits
            log.error("line %s: recording failed: %s", self.line_id, message, exc_info=not disk_full(error) and error)
            self.event(Event.ERROR, pos, failed.id if failed else None, error=message, **error_detail(error))
        self.retry.last_error = message
        if offhook:
            self.retry.at = pos + int(RESUME_AFTER_S * self.rate)
            if failed:
                self.retry.previous = (failed.id, failed.info)

    def interrupted(self, device: str, error: str, pos: int) -> None:
        """The capture device failed: keep what the call has so far (however short) and go on in a
        linked part if the line is still off-hook when the device is back."""
        call = self.call
        rec = call.recording if call else None
        self.event(Event.DEVICE_ERROR, pos, self.call_id, device=device, device_kind="capture", error=error)
        if rec is None:   # idle, stuck or not recording: nothing to keep, the hook state carries on
            return
        self.call = None
        self.last_end = pos     # the next part starts after the outage, with no pre-roll before it
        self.parts.feed(call, pos)
        rec.finish(self.clock.wall(pos), (pos - call.part_start) / self.rate)
        self.retry.previous, self.retry.at = (rec.id, rec.info), None
