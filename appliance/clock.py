"""Mapping stream time (frames captured) to wall time (UTC seconds).

Inside a call everything is measured in frames; wall time is stamped from the clock only at
the edges. On the box the clock re-anchors at every read, so xruns and device reopenings do
not skew timestamps; in simulation wall time is a pure function of the frame count.
"""
from __future__ import annotations

import time
from pathlib import Path

# systemd-timesyncd creates this file once it has set the clock from a time server, and it lives
# in /run, so every boot starts without it. (chrony and ntpd write no such file: a box running
# them shows the warning. Asking the kernel instead, adjtimex, is refused in the recorder's
# sandbox: ProtectClock= filters every clock call.)
SYNC_FLAG = Path("/run/systemd/timesync/synchronized")


def clock_synced() -> bool:
    """True when systemd-timesyncd has synchronised the clock since the box started."""
    return SYNC_FLAG.exists()


class RealClock:
    def __init__(self, sample_rate: int) -> None:
        self.rate = sample_rate
        self._pos = 0
        self._at = time.time()

    @property
    def synced(self) -> bool:
        return clock_synced()

    def note(self, pos: int) -> None:
        """A read just ended at frame pos: that frame is 'now'."""
        self._pos, self._at = pos, time.time()

    def wall(self, frame: int) -> float:
        return self._at - (self._pos - frame) / self.rate


class StreamClock:
    """Simulation: wall time = scenario start + frames / rate, at any speed.

    When the simulated interface is unplugged, the scenario's time runs on while no frames
    arrive; the simulator adds the outage to `skipped` before the device comes back."""

    synced = True

    def __init__(self, start: float, sample_rate: int) -> None:
        self.start = start
        self.rate = sample_rate
        self.skipped = 0   # frames of scenario time that never reached the stream

    def note(self, pos: int) -> None:
        pass

    def wall(self, frame: int) -> float:
        return self.start + (frame + self.skipped) / self.rate
