"""Pausing the recording of the call in progress, for a card payment: from the web page, the API,
`hookline pause`, the line's button or a code keyed on the handset. While paused the recording
gets the fill (blanking.py) instead of the audio, so its length and timeline stay true; the
line's LED (if it has one) is lit. A pause ends when someone resumes, by itself after
pause_max_s, or with the call; one that spans a split (max_call_s, or recording that stopped on a
full disk and came back while the call went on) is closed in the part before and goes on in the
next, so each part's events hold its own pause windows.

Only the line's own thread changes it (commands from other threads come through its queue).
"""
from __future__ import annotations

import queue
from typing import Any

from .. import control
from ..hook.base import HookEvent
from ..store.kinds import Event


class PauseRefused(ValueError):
    """A pause or resume that cannot be done; str() says why, code says which: no-call,
    not-recording, already-paused, no-answer."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def who(detail: dict[str, Any]) -> dict[str, Any]:
    """The fields of a command that say who asked: by (web | api | console | button | keypad), user."""
    return {k: detail[k] for k in ("by", "user") if detail.get(k)}


class PauseControl:
    def __init__(self, line_id: int, sample_rate: int, blanks, events, settings: dict[str, Any], led=None) -> None:
        self.line_id = line_id
        self.rate = sample_rate
        self.blanks = blanks            # the line's Parts.blanks
        self.event = events
        self.settings = settings        # the line's live settings
        self.led = led                  # a gpiozero LED, lit while paused (None: the line has none)
        self.since: int | None = None   # frame the pause began (None: not paused)
        self.call_id: str | None = None  # the part the pause is logged in
        self.asked: dict[str, Any] = {}
        self.stretch = None
        self.carried: tuple[str, dict[str, Any]] | None = None  # (call id, who): paused when a crash cut it

    @property
    def paused(self) -> bool:
        return self.since is not None

    def state(self, pos: int) -> dict[str, Any]:
        """What a command answers and the status shows."""
        return {"line": self.line_id, "paused": self.paused,
                "paused_s": round((pos - self.since) / self.rate, 1) if self.paused else None}

    def pause(self, call, frame: int, detail: dict[str, Any]) -> dict[str, Any]:
        if call is None:
            raise PauseRefused(f"line {self.line_id} has no call in progress", "no-call")
        if call.recording is None:      # not recorded (the do-not-record list, recording off, a full disk)
            raise PauseRefused(f"line {self.line_id}'s call is not being recorded: there is nothing to pause",
                               "not-recording")
        if self.paused:
            raise PauseRefused(f"line {self.line_id} is already paused", "already-paused")
        frame = max(frame, call.cursor)         # what the recording has already can no longer change
        self.since, self.call_id, self.asked = frame, call.call_id, who(detail)
        self.stretch = self.blanks.add(frame, fill=self.settings["pause_fill"])
        self.event(Event.PAUSED, frame, call.call_id, **self.asked)
        self._light(True)
        return {**self.state(frame), "changed": True, "call_id": call.call_id}

    def resume(self, frame: int, detail: dict[str, Any], **why: Any) -> dict[str, Any]:
        """End the pause at frame; a resume with no pause changes nothing and says so."""
        if not self.paused:
            return {**self.state(frame), "changed": False, "message": f"line {self.line_id} was not paused"}
        frame = max(frame, self.since)
        self.blanks.close(self.stretch, frame)
        after_s = round((frame - self.since) / self.rate, 3)
        self.event(Event.RESUME, frame, self.call_id, **who(detail), after_s=after_s, **why)
        call_id, self.since, self.stretch, self.call_id = self.call_id, None, None, None
        self._light(False)
        return {**self.state(frame), "changed": True, "call_id": call_id, "after_s": after_s}

    def carry(self, call_id: str, asked: dict[str, Any]) -> None:
        """The call a crash cut was paused (line/carry.py): if it goes on, its next part starts paused."""
        self.carried = (call_id, asked)

    def _go_on_paused(self, call) -> None:
        """The part that carries on a call paused when the recorder died: paused from its first
        frame, pre-roll included (a card number may be being read out right then)."""
        (call_id, asked), self.carried = self.carried, None
        if call.recording is None or call.info.previous_id != call_id or self.paused:
            return
        self.since, self.call_id, self.asked = call.cursor, call.call_id, asked
        self.stretch = self.blanks.add(call.cursor, fill=self.settings["pause_fill"])
        self.event(Event.PAUSED, call.part_start, call.call_id, **asked, continued=True, reason="recorder-restarted")
        self._light(True)

    def step(self, call, pos: int, ended_at: int, goes_on: bool = False) -> None:
        """Before the recording is fed up to pos: end a pause whose call is over (at ended_at) or
        that reached pause_max_s, and carry one across a split into the next part. goes_on: the
        recording stopped (a full disk) but the call goes on and will come back in a linked
        part, which is still paused (it is carried there like a split)."""
        if self.carried is not None and call is not None:
            self._go_on_paused(call)
        if not self.paused:
            return
        if call is None and not goes_on:
            self.resume(max(ended_at, self.since), self.asked, automatic=True, ended="call-end")
            return
        if call is not None and call.call_id != self.call_id:    # a new part: close the window here, open it there
            self.event(Event.RESUME, call.part_start, self.call_id, **self.asked, automatic=True, ended="split",
                       after_s=round((call.part_start - self.since) / self.rate, 3))
            self.call_id = call.call_id
            self.event(Event.PAUSED, call.part_start, call.call_id, **self.asked, continued=True)
        limit = self.since + int(self.settings["pause_max_s"] * self.rate)
        if pos >= limit:
            self.resume(limit, {"by": "timer"}, automatic=True)

    def _light(self, on: bool) -> None:
        if self.led is not None:
            self.led.on() if on else self.led.off()


# -- commands, from the line's queue --------------------------------------------------------------
ANSWER_TIMEOUT_S = 1.5      # the line's thread takes a command within a read or two


def ask(line, kind: str, detail: dict[str, Any], timeout: float = ANSWER_TIMEOUT_S) -> dict[str, Any]:
    """From another thread: pause or resume the line's call; the new state, or PauseRefused."""
    answer: queue.SimpleQueue = queue.SimpleQueue()
    line.post(HookEvent(kind, None, {**who(detail), "answer": answer}))
    try:
        result = answer.get(timeout=timeout)
    except queue.Empty:
        raise PauseRefused(f"line {line.cfg.id} did not answer (is its audio interface missing?)",
                           "no-answer") from None
    if isinstance(result, Exception):
        raise result
    return result


def command_from_channel(lines: list, request: dict[str, Any], kind: str) -> dict[str, Any]:
    """The recorder's command channel asks to pause or resume: {"line": N, "by": ..., "user": ...}."""
    number = request.get("line")
    if not isinstance(number, int) or isinstance(number, bool):
        raise control.Refused('give the line as a number, as in {"line": 1}', "no-line")
    line = next((x for x in lines if x.cfg.id == number), None)
    if line is None:
        known = ", ".join(str(x.cfg.id) for x in lines)
        raise control.Refused(f"no line {str(number)[:20]} (the lines are {known})", "no-line")
    try:
        return ask(line, kind, {k: str(request[k])[:80] for k in ("by", "user") if request.get(k)})
    except PauseRefused as e:
        raise control.Refused(str(e), e.code) from None


def command(line, ev: HookEvent) -> None:
    """A pause, resume or button press from the line's queue, done by the line's thread (the
    button toggles); the answer goes back to whoever waits for it."""
    detail = dict(ev.detail)
    answer = detail.pop("answer", None)
    pause = line.pause
    try:
        kind = ev.kind if ev.kind != "button" else "resume" if pause.paused else "pause"
        if kind == "pause":
            result: Any = pause.pause(line.session.call, ev.frame, detail)
        else:
            result = pause.resume(ev.frame, detail)
    except PauseRefused as e:
        result = e
    if answer is not None:
        answer.put(result)
