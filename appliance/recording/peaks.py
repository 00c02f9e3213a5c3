"""Waveform peaks of a call's two legs, so the web page draws a stereo waveform without ever
decoding the MP3 when a page loads.

PeakMeter runs on the line's thread beside the encoder: it is fed exactly the frames that go
into the MP3 (pre-roll included) and keeps, per leg, the peak |sample| of every 1/PER_S s slot
as one byte (round(peak * 255 / 32768), at most 255). Its cost is a few numpy reductions per
20 ms period, no per-sample Python.

The slots are on the timeline of the MP3 as a decoder plays it back: decoded audio starts
DECODER_DELAY samples late (LAME's encoder delay plus the decoder's), so a live meter starts
with that much silence, and finish() pads the end to the file's own length. Peaks computed
from the file itself (peaks_of_file, used by recovery after a crash) come out the same.

Kept in the catalog by appliance.store.peaks (one row per call with a file), which gives them
to the web page.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

# Storing them is the store's job; recover.py still finds these two here (peaks.save_peaks).
from ..store.peaks import has_peaks, save_peaks  # noqa: F401

PER_S = 20              # slots per second of audio
DECODER_DELAY = 1105    # samples by which decoded audio lags the encoder's input (576 + 529)
_FILE_BLOCK = 1 << 16   # frames per block when decoding a whole file


def _to_bytes(peaks: np.ndarray) -> np.ndarray:
    """int peaks 0..32768 -> uint8 0..255, rounded (integer arithmetic: (p*255 + 2**14) >> 15)."""
    return np.minimum((peaks.astype(np.int32) * 255 + 16384) >> 15, 255).astype(np.uint8)


def _peak(frames: np.ndarray, axis: int = 0) -> np.ndarray:
    """Peak |sample| of int16 frames along axis, as int32 (|-32768| does not fit int16)."""
    return np.abs(frames, dtype=np.int32).max(axis=axis)


class PeakMeter:
    """Accumulates per-leg peaks of int16 stereo frames (n, 2): near leg column 0, far leg 1."""

    def __init__(self, sample_rate: int, lead: int = DECODER_DELAY) -> None:
        if sample_rate % PER_S:
            raise ValueError(f"sample rate {sample_rate} is not a multiple of {PER_S}")
        self.slot = sample_rate // PER_S
        self._buf = np.zeros((max(64, lead // self.slot + 1), 2), dtype=np.uint8)
        self._n = lead // self.slot                 # whole slots done (the lead: silence)
        self._partial = np.zeros(2, dtype=np.int32)  # running peak of the slot being filled
        self._count = lead % self.slot              # frames in that slot so far
        self.frames = 0                             # frames fed (the lead not counted)

    def _push(self, values: np.ndarray) -> None:
        k = len(values)
        if self._n + k > len(self._buf):
            grown = np.zeros((max(2 * len(self._buf), self._n + k), 2), dtype=np.uint8)
            grown[:self._n] = self._buf[:self._n]
            self._buf = grown
        self._buf[self._n:self._n + k] = values
        self._n += k

    def feed(self, frames: np.ndarray) -> None:
        """Add frames (n, 2) int16: a few numpy operations per call, whatever its length."""
        n = len(frames)
        if not n:
            return
        self.frames += n
        slot, i = self.slot, 0
        if self._count:
            i = min(slot - self._count, n)
            np.maximum(self._partial, _peak(frames[:i]), out=self._partial)
            self._count += i
            if self._count < slot:
                return
            self._push(_to_bytes(self._partial[None]))
            self._count = 0
        whole = (n - i) // slot
        if whole:
            block = frames[i:i + whole * slot].reshape(whole, slot, 2)
            self._push(_to_bytes(_peak(block, axis=1)))
            i += whole * slot
        if i < n:
            self._partial = _peak(frames[i:])
            self._count = n - i

    def finish(self, total_samples: int | None = None) -> tuple[bytes, bytes]:
        """(near, far) bytes, one per slot. The slot being filled counts; with total_samples
        (the file's length in samples per channel) the peaks cover exactly ceil(total / slot)
        slots: what follows the audio in the file is the encoder's padding (silence), and nothing
        beyond the file is claimed."""
        if self._count:
            self._push(_to_bytes(self._partial[None]))
            self._partial[:] = 0
            self._count = 0
        if total_samples is not None:
            want = -(-int(total_samples) // self.slot)
            if want > self._n:
                self._push(np.zeros((want - self._n, 2), dtype=np.uint8))
            self._n = min(self._n, want)
        done = self._buf[:self._n]
        return done[:, 0].tobytes(), done[:, 1].tobytes()


def peaks_of_file(path: str | Path) -> tuple[int, bytes, bytes]:
    """Decode an MP3 once, block by block (bounded memory whatever its length), and return
    (per_s, near, far). For recovery after a crash; never for a page load."""
    with soundfile.SoundFile(str(path)) as f:
        meter = PeakMeter(f.samplerate, lead=0)
        # Not f.blocks(): it trusts the frame count libsndfile estimates for an MP3 from its
        # size and bitrate, and pads to it.
        while len(block := f.read(_FILE_BLOCK, dtype="int16", always_2d=True)):
            if block.shape[1] == 1:
                block = np.repeat(block, 2, axis=1)
            meter.feed(block[:, :2])
        near, far = meter.finish()
    return PER_S, near, far

