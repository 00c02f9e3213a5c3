"""Touch-tones keyed on the office handset once a call's dialing is over: the pause and resume
codes, and on a line with mask_dtmf on, every key (a card number typed on the keypad).

Dialing is over on an inbound call at once, and on any other call DIALING_QUIET_S after its last
dialed digit (or, with none dialed, after digits.DIAL_WINDOW_S). Until then keys are dialed
digits as always (digits.py).

After it, a key that may begin the code (pause_code, or resume_code while paused) waits for the
next; a completed code pauses or resumes the call, and its keys are neither digits nor events. A
key that turns out not to be a code is an ordinary key after all: masked on a mask_dtmf line,
else a digit as before. While paused no key is a digit or an event.

Every key kept out of the catalog (a code's, a masked one, one keyed while paused) is also kept
out of the recording: from GUARD_S before the tone's start to GUARD_S after its end (the DTMF
decoder reports both; the recording's lag, MIN_LAG_S, is longer than the decoder needs). A key
that began a code but did not complete it stays cut out of the audio. One `masked` event per call
part counts the masked keys.
"""
from __future__ import annotations

from typing import Any

from ..store.kinds import Event
from .digits import DIAL_WINDOW_S, DIALING_QUIET_S

CODE_GAP_S = 3.0        # a code's keys follow one another within this
GUARD_S = 0.02          # cut this much more on each side of a keyed tone
# The decoder knows a key 35-40 ms into its tone; with the guard before it and its ±5 ms, the
# recording must trail capture by at least this much (Line.lag).
MIN_LAG_S = 0.1


def dialing_over(call, frame: int, last_dialed: int | None, rate: int) -> bool:
    """Whether a key at frame comes after the call's dialing."""
    if call.info.direction == "inbound":
        return True
    if last_dialed is None:
        return (frame - call.offhook_frame) / rate > DIAL_WINDOW_S
    return (frame - last_dialed) / rate >= DIALING_QUIET_S


class KeyedDigits:
    def __init__(self, sample_rate: int, session, pause, events) -> None:
        self.rate = sample_rate
        self.session = session
        self.pause = pause                  # the line's PauseControl
        self.blanks = pause.blanks
        self.event = events
        self.guard = int(GUARD_S * sample_rate)
        self.call_id: str | None = None     # the call part the state below belongs to
        self.offhook: int | None = None     # and that call's off-hook frame
        self.last_dialed: int | None = None
        self.pending: list[tuple[int, str]] = []   # keys that may begin the code
        self.masked = 0
        self.tones: list = []               # (key's frame, its cut) of keys whose tone has not ended yet

    def heard(self, frame: int, digit: str, settings: dict[str, Any]) -> None:
        call = self.session.call
        self._follow(call, frame)
        if not self.pause.paused and not dialing_over(call, frame, self.last_dialed, self.rate):
            self.last_dialed = frame
            self.session.digit(frame, digit)
            return
        code = settings["resume_code"] if self.pause.paused else settings["pause_code"]
        pending = [*self.pending, (frame, digit)]
        while pending and not code.startswith(_keys(pending)):
            self._ordinary(*pending.pop(0), settings)
        if pending or self.pause.paused or settings["mask_dtmf"]:
            self.tones.append((frame, self.blanks.add(frame - self.guard)))
        self.pending = pending
        if _keys(pending) == code:
            self.pending = []
            if self.pause.paused:
                self.pause.resume(frame, {"by": "keypad"})
            elif call.recording is not None:    # a call not recorded has nothing to pause
                self.pause.pause(call, frame, {"by": "keypad"})

    def released(self, end: int) -> None:
        """A key's tone ended at frame end: the cut of the last key before it (if it was cut) ends
        a guard after it."""
        before = [tone for tone in self.tones if tone[0] < end]
        if before:
            tone = max(before, key=lambda t: t[0])
            self.tones.remove(tone)
            self.blanks.close(tone[1], end + self.guard)

    def step(self, call, pos: int, ended_at: int, settings: dict[str, Any]) -> None:
        """Keys left waiting for a code that did not come are ordinary keys; a part that ended
        gets its `masked` event."""
        if self.pending and call is not None and pos - self.pending[-1][0] > CODE_GAP_S * self.rate:
            pending, self.pending = self.pending, []
            for frame, digit in pending:
                self._ordinary(frame, digit, settings)
        self._follow(call, ended_at if call is None else call.part_start)

    def _ordinary(self, frame: int, digit: str, settings: dict[str, Any]) -> None:
        if self.pause.paused:
            return
        if settings["mask_dtmf"]:
            self.masked += 1
        else:
            self.session.digit(frame, digit)

    def _follow(self, call, frame: int) -> None:
        """A new call or part: the last one's masked keys are logged; a new call starts afresh."""
        call_id = call.call_id if call is not None else None
        if call_id == self.call_id:
            return
        if self.masked and self.call_id:
            self.event(Event.MASKED, frame, self.call_id, keys=self.masked)
        offhook = call.offhook_frame if call is not None else None
        if offhook != self.offhook:         # not the next part of the same call
            for _, stretch in self.tones:
                self.blanks.close(stretch, frame)
            self.pending, self.tones = [], []
            # digits heard before its off-hook were dialed
            self.last_dialed = offhook if call is not None and call.info.dialed else None
        self.call_id, self.offhook, self.masked = call_id, offhook, 0


def _keys(pending: list[tuple[int, str]]) -> str:
    return "".join(digit for _, digit in pending)
