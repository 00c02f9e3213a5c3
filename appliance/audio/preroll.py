"""The most recent stereo frames of a line, addressed by absolute frame number (a circular
buffer underneath).

It holds the pre-roll (audio from before the off-hook was noticed) and is the short delay line
that lets the recorder stop exactly at the debounced on-hook instead of a period later.
"""
from __future__ import annotations

import numpy as np


class PrerollBuffer:
    def __init__(self, capacity: int, channels: int = 2) -> None:
        self._buf = np.zeros((capacity, channels), dtype=np.int16)
        self.capacity = capacity
        self.end = 0            # absolute frame number just past the newest frame

    @property
    def start(self) -> int:
        """Oldest frame still held."""
        return max(0, self.end - self.capacity)

    def append(self, frames: np.ndarray) -> None:
        n = len(frames)
        if n >= self.capacity:
            self.end += n - self.capacity
            frames, n = frames[-self.capacity:], self.capacity
        i = self.end % self.capacity
        first = min(n, self.capacity - i)
        self._buf[i:i + first] = frames[:first]
        self._buf[:n - first] = frames[first:]
        self.end += n

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop); start must not be older than self.start."""
        if start < self.start or stop > self.end or start > stop:
            raise IndexError(f"frames {start}..{stop} not held (have {self.start}..{self.end})")
        i, j = start % self.capacity, stop % self.capacity
        if stop - start == 0:
            return self._buf[:0]
        if i < j:
            return self._buf[i:j]
        return np.concatenate((self._buf[i:], self._buf[:j]))

    def forget(self, start: int, stop: int) -> int:
        """Overwrite frames [start, stop) with silence, as far as they are still held (a call on
        the do-not-record list leaves nothing behind in memory); returns stop."""
        at, end = max(start, self.start), min(stop, self.end)
        while at < end:
            i = at % self.capacity
            n = min(end - at, self.capacity - i)
            self._buf[i:i + n] = 0
            at += n
        return stop
