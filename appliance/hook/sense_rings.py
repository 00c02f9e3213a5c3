"""Rings seen on a GPIO line-sense input (`rings = true` under a line's [line.offhook]).

An opto-isolator across the pair that senses the line voltage also blinks while the line rings:
the ring voltage (some 90 V rms on top of the 48 V battery) swings through its threshold every
cycle, 20-25 times a second, in bursts (US: 2 s on, 4 s off; UK: 0.4 s on, 0.2 off, 0.4 on, 2 off).
The line's debounce already keeps those short pulses from starting a call (on such a line a level
must outlast one and a half ring cycles to count, appliance.config.ring_hold_ms); this tells the
line which of the pulses were a ring. A burst of edges whose rate is in the ring band is one ring,
placed at the burst's first edge (the two bursts of a UK double ring are one ring to the line:
who_called.py). Lifting a handset bounces for a few milliseconds: far fewer
cycles, far faster, so it is never a ring; nor is rotary dialing (10 pulses a second) or a line
that is off-hook.

Fed the stream positions (frames) of the raw level changes, as the line's debounce is: no timers
and no wall clock, so it counts the same at any simulation speed.
"""
from __future__ import annotations

MIN_CYCLES = 4        # a burst this long (0.13-0.27 s in the band) is a ring; a lifted handset's bounce never is


class SenseRings:
    def __init__(self, sample_rate: int, ring_hz: tuple[float, float], hold_frames: int) -> None:
        self.rate = sample_rate
        self.lo, self.hi = ring_hz
        self.hold = hold_frames                         # a level held this long ends a burst
        # Edges closer than a quarter of the fastest ring's cycle are contact bounce, not the ring.
        self.bounce = int(sample_rate / (4 * self.hi))
        self.level: bool | None = None                  # the last raw level (repeats are no edge)
        self.start: int | None = None                   # the burst's first edge
        self.last = 0                                   # its last edge, bounce included
        self.counted = 0                                # its last edge that was not bounce
        self.edges = 0                                  # its edges that were not bounce
        self.rang = False                               # this burst is a ring (already counted)

    def edge(self, level: bool, frame: int, idle: bool) -> int | None:
        """The raw level at frame (idle: the line is on-hook as far as the debounce knows). The
        frame a new ring began at, when this edge shows it is one; else None."""
        if level == self.level:
            return None
        self.level = level
        if not idle:
            return None                                 # an off-hook line has no rings: loop dropouts, dialing
        if self.start is None or frame - self.last >= self.hold:
            self.start, self.edges, self.rang = frame, 0, False
        self.last = frame
        if self.edges and frame - self.counted < self.bounce:
            return None
        self.counted = frame
        self.edges += 1
        if self.rang or not self._in_band(frame):
            return None
        self.rang = True
        return self.start

    def _in_band(self, frame: int) -> bool:
        """Enough cycles so far, at a rate a ring has (two edges a cycle)."""
        if self.edges < 2 * MIN_CYCLES or frame == self.start:
            return False
        hz = (self.edges - 1) / 2 / ((frame - self.start) / self.rate)
        return self.lo <= hz <= self.hi


def sense_rings(hook, sample_rate: int, hold_frames: int) -> SenseRings | None:
    """The ring counter of a line whose sense input is wired to see rings, else None."""
    if not getattr(hook, "rings", False):
        return None
    return SenseRings(sample_rate, hook.ring_hz, hold_frames)
