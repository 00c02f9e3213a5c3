"""Stretches of a line's stream kept out of its recording: a pause for a card payment, a keyed
touch-tone. The recording trails capture (parts.py), so a stretch can be marked here before its
audio reaches the encoder; the encoder gets the same number of frames with the fill in place of
the audio, both legs, so the file's length and timeline stay true.

A stretch may be open-ended (its end not known yet: a pause in progress, a key still held); it
then blanks everything up to where the recording has got to until it is closed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio import tones

TONE_HZ = 425.0         # pause_fill = tone: the "line busy / hold" frequency of most of Europe
TONE_DBFS = -30.0       # soft: the listener hears a held stretch, not a beep


@dataclass
class Stretch:
    start: int
    end: int | None = None      # exclusive; None: open, until closed
    fill: str = "silence"       # silence | tone (pause_fill)


class Blanks:
    def __init__(self, sample_rate: int) -> None:
        self.rate = sample_rate
        self.stretches: list[Stretch] = []

    def add(self, start: int, end: int | None = None, fill: str = "silence") -> Stretch:
        stretch = Stretch(start, end, fill)
        self.stretches.append(stretch)
        return stretch

    @staticmethod
    def close(stretch: Stretch, end: int) -> None:
        stretch.end = max(end, stretch.start)

    def close_all(self, end: int) -> None:
        """The call is over at `end`: nothing stays open past it."""
        for stretch in self.stretches:
            if stretch.end is None or stretch.end > end:
                self.close(stretch, end)

    def apply(self, frames: np.ndarray, first: int) -> np.ndarray:
        """Frames first.. (stereo int16) with every stretch over them replaced by the fill (a copy
        when anything changes); stretches wholly before them are forgotten."""
        last = first + len(frames)
        self.stretches = [s for s in self.stretches if s.end is None or s.end > first]
        out = frames
        for stretch in self.stretches:
            lo, hi = max(stretch.start, first), min(last if stretch.end is None else stretch.end, last)
            if lo >= hi:
                continue
            if out is frames:
                out = frames.copy()
            out[lo - first:hi - first] = self._fill(stretch.fill, lo, hi - lo)
        return out

    def _fill(self, fill: str, first: int, n: int) -> np.ndarray:
        if fill != "tone":
            return np.zeros((n, 1), dtype=np.int16)
        wave = np.round(tones.sine(TONE_HZ, TONE_DBFS, first, n, self.rate) * 32767).astype(np.int16)
        return wave[:, None]
