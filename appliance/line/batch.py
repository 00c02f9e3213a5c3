"""The chunks a line has captured since its Python work last ran, and their levels.

Reads stay one ALSA period each, but the work on them (levels, detectors, events, the recording)
runs once per BATCH_S of audio while nothing is happening: done per 20 ms period the live path cost
1.7x the CPU of `arecord | lame` (hw_bench/bench_live.py), and each batch has a fixed Python cost of
about 100 us beside the per-sample work. The line's thread runs it at the very next read when an
event is queued, a debounce is running or a beep is due, as it would per period, so event timing
does not depend on the batch. Detector events (touch-tones, VOX) are stamped with their frame, and
the audio waits in the line's pre-roll buffer, so a batch only delays when they are seen. It also
bounds what a power cut can lose beyond the part file's last fsync.
"""
from __future__ import annotations

import math

import numpy as np

BATCH_S = 0.25
FULL_SCALE_POWER = 32768.0 * 32768.0


def chunk_powers(frames: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Mean power of each leg, as a fraction of full scale, for each of the consecutive chunks of
    `sizes` frames that make up frames: (len(sizes), 2), one numpy pass for them all."""
    if not len(frames):
        return np.zeros((len(sizes), 2))
    starts = np.cumsum([0, *sizes[:-1]])
    sums = np.add.reduceat(np.square(frames, dtype=np.float64), starts, axis=0)
    return sums / (np.array(sizes)[:, None] * FULL_SCALE_POWER)


def levels(power: np.ndarray) -> tuple[float, float]:
    """A (near, far) power as RMS levels in dBFS, to 0.1 dB (−120 for digital silence)."""
    near, far = power.tolist()
    return _db(near), _db(far)


def dbfs(frames: np.ndarray) -> tuple[float, float]:
    """RMS level of each leg in dBFS (−120 for digital silence)."""
    return levels(chunk_powers(frames, [len(frames)])[0])


def _db(power: float) -> float:
    return round(10 * math.log10(max(power, 1e-12)), 1)


class CapturedChunks:
    def __init__(self, sample_rate: int, period_frames: int) -> None:
        self.batch_frames = max(period_frames, round(BATCH_S * sample_rate))
        self._chunks: list[np.ndarray] = []
        self._frames = 0

    def add(self, frames: np.ndarray) -> bool:
        """Keep a chunk (not empty); True once a batch's worth is waiting."""
        self._chunks.append(frames)
        self._frames += len(frames)
        return self._frames >= self.batch_frames

    def __bool__(self) -> bool:
        return bool(self._chunks)

    def take(self) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
        """The chunks waiting, as one array; the last chunk's levels (near, far), for the meters;
        and each leg's loudest level of any chunk, for the call's loudest level. None wait after."""
        chunks, self._chunks, self._frames = self._chunks, [], 0
        frames = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        power = chunk_powers(frames, [len(chunk) for chunk in chunks])
        return frames, levels(power[-1]), levels(power.max(axis=0))
