"""The line's hook state, from what its source reports: debounced in stream time, and a watchdog
that lets voice activation stand in for a serial hook monitor that has gone silent.

Both are fed stream positions (frames), never wall time, so they behave the same at any
simulation speed; neither touches ALSA, the catalog or a thread.
"""
from __future__ import annotations

import numpy as np

from ..hook.vox import VoxDetector, VoxSettings

HOOK_LOST_GRACE_S = 2.0  # a serial hook monitor silent this long: calls start and end by voice meanwhile

MONITOR_LOST = ("the hook monitor is not answering: calls start and end by voice "
                "(VOX settings) until it is back")
MONITOR_BACK = "the hook monitor answers again: it reports the hook state from now on"


class HookDebounce:
    """A hook level counts once it has held for `debounce` frames; the change is placed where
    that stable level began (so the call's edges are sample-exact, not a period late)."""

    def __init__(self, debounce_frames: int) -> None:
        self.debounce = debounce_frames
        self.raw = False            # what the source says now
        self.raw_since = 0          # frame where it began saying so
        self.offhook = False        # the debounced state

    def report(self, offhook: bool, frame: int) -> None:
        """The source reports a level (repeats of the same level change nothing)."""
        if offhook != self.raw:
            self.raw, self.raw_since = offhook, frame

    def restart(self, frame: int) -> None:
        """A level held across a capture outage must hold again from here."""
        self.raw_since = frame

    @property
    def steady(self) -> bool:
        return self.raw == self.offhook

    def settle(self, pos: int) -> int | None:
        """At stream position pos: the frame of a change that has now held long enough (the
        debounced state flips to self.offhook), else None."""
        if self.raw != self.offhook and pos - self.raw_since >= self.debounce:
            self.offhook = self.raw
            return self.raw_since
        return None


class MonitorWatchdog:
    """Stands in for a serial hook monitor that stops answering (unplugged, hung, powered off)
    with voice activation, and hands back to it when it answers again. Its VOX detector listens
    all the time, so its noise floor is the line's own when it is needed."""

    def __init__(self, sample_rate: int, settings: VoxSettings, grace_s: float = HOOK_LOST_GRACE_S) -> None:
        self.rate = sample_rate
        self.vox = VoxDetector(sample_rate, settings)
        self.grace = int(grace_s * sample_rate)
        self.lost_since: int | None = None
        self.lost = False

    def update(self, settings: VoxSettings) -> None:
        self.vox.update(settings)

    def feed(self, frames: np.ndarray, first: int, *, healthy: bool,
             offhook: bool) -> tuple[list[tuple[str, int]], str | None]:
        """Frames first.. of the line, and whether the monitor answers now: (hook events to
        apply, a warning to log or None)."""
        events = self.vox.feed(frames, first)
        pos = first + len(frames)
        if healthy:
            self.lost_since = None
            if self.lost:
                self.lost = False
                return [], MONITOR_BACK
            return [], None
        if self.lost_since is None:
            self.lost_since = first
        if not self.lost:
            if pos - self.lost_since < self.grace:
                return [], None
            self.lost = True
            if offhook:      # the call in progress now ends after vox_hang_s without sound
                self.vox.assume_call(pos)
            return [], MONITOR_LOST
        return events, None
