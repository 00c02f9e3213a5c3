"""The chunks a line has captured since its Python work last ran, and their levels.

Reads stay one ALSA period each, but the work on them (levels, detectors, events, the recording)
runs once per BATCH_S of audio while nothing is happening: done per 20 ms period the live path cost
1.7x the CPU of `arecord | lame`, per 100 ms about 1.1x (hw_bench/bench_live.py). The line's thread
runs it at the very next read when an event is queued, a debounce is running or a beep is due, as
it would per period, so event timing does not depend on the batch.
"""
from __future__ import annotations

import math

import numpy as np

BATCH_S = 0.1
FULL_SCALE_POWER = 32768.0 * 32768.0


def chunk_levels(frames: np.ndarray, sizes: list[int]) -> list[tuple[float, float]]:
    """RMS level of each leg in dBFS (−120 for digital silence) for each of the consecutive chunks
    of `sizes` frames that make up frames: one numpy pass for them all."""
    if not len(frames):
        return [(-120.0, -120.0)] * len(sizes)
    starts = np.cumsum([0, *sizes[:-1]])
    sums = np.add.reduceat(np.square(frames, dtype=np.float64), starts, axis=0)
    return [(_db(near / (n * FULL_SCALE_POWER)), _db(far / (n * FULL_SCALE_POWER)))
            for (near, far), n in zip(sums.tolist(), sizes)]


def dbfs(frames: np.ndarray) -> tuple[float, float]:
    """RMS level of each leg in dBFS (−120 for digital silence)."""
    return chunk_levels(frames, [len(frames)])[0]


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

    def take(self) -> tuple[np.ndarray, list[tuple[float, float]]]:
        """The chunks waiting, as one array, and each chunk's levels (near, far); none wait after."""
        chunks, self._chunks, self._frames = self._chunks, [], 0
        frames = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        return frames, chunk_levels(frames, [len(chunk) for chunk in chunks])
