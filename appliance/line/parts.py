"""A call's audio on its way to the recording: frames from the line's recent audio (the
recording trails capture by the debounce, so it stops exactly at the on-hook), with the stretches
that must not be recorded blanked (blanking.py), cut into a
linked next part at max_call_s, and stopped when a whole part was silence (a stuck hook input,
not a long call: nothing fills the disk with it).
"""
from __future__ import annotations

from typing import Any

from ..recording.call import CallInfo
from ..store.kinds import Event
from .blanking import Blanks

STUCK_DBFS = -50.0      # a whole max_call_s part below this on both legs: the hook input is stuck


class Parts:
    def __init__(self, recorder, audio, clock, events, settings: dict[str, Any], lag_frames: int) -> None:
        self.recorder = recorder
        self.rate = recorder.sample_rate
        self.audio = audio              # the line's PrerollBuffer
        self.clock = clock
        self.event = events
        self.settings = settings
        self.lag = lag_frames
        self.blanks = Blanks(self.rate)  # what must not reach the recording (a pause, keyed tones)

    def feed(self, call, until: int) -> None:
        """Give the call's recording its frames up to (not including) frame `until`."""
        if until > call.cursor:
            first = max(call.cursor, self.audio.start)
            call.recording.write(self.blanks.apply(self.audio.read(first, until), first))
            call.cursor = until

    def advance(self, call, pos: int) -> None:
        """Captured up to pos: cut parts that reached max_call_s, then feed what the lag allows."""
        target = pos - self.lag
        max_frames = int(self.settings["max_call_s"] * self.rate)
        while call.recording and target - call.part_start >= max_frames:
            self.split(call, call.part_start + max_frames)
        if call.recording is not None:      # None: the split found a stuck input
            self.feed(call, min(target, pos))

    def split(self, call, at: int) -> None:
        """The call reached max_call_s at frame `at`: close this part and go on in a linked next
        one, unless the whole part was silence."""
        self.feed(call, at)
        old = call.recording
        old.finish(self.clock.wall(at), (at - call.part_start) / self.rate)
        if call.loudest < STUCK_DBFS:
            call.recording, call.stuck = None, True
            silent_s = (at - call.offhook_frame) / self.rate
            self.event(Event.STUCK, at, old.id, loudest_dbfs=call.loudest, silent_s=round(silent_s, 1),
                       message=f"off-hook for {silent_s:.0f} s of silence: the hook "
                               "input looks stuck (check its wiring and active level); not recording until on-hook")
            return
        info = CallInfo(**{**old.info.__dict__, "started_at": self.clock.wall(at), "part": old.info.part + 1,
                           "previous_id": old.id})
        call.recording = self.recorder.record(info, 0.0)
        call.info = info
        call.part_start, call.cursor, call.loudest, call.call_id = at, at, -120.0, call.recording.id
        self.event(Event.SPLIT, at, call.recording.id, previous_id=old.id, part=info.part,
                   reason=f"longer than max_call_s ({self.settings['max_call_s']:g} s)",
                   max_call_s=self.settings["max_call_s"])
