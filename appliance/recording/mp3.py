"""Streaming stereo MP3 encoder (lameenc): frames in, MP3 bytes out, never a whole call in memory."""
from __future__ import annotations

import lameenc
import numpy as np

# LAME quality 0 (best, slowest) .. 9 (worst, fastest); 5 is LAME's own default and holds the
# legs > 40 dB apart at telephone bitrates while leaving a Pi's core mostly idle.
QUALITY = 5


class StreamEncoder:
    """Encode int16 stereo frames (n, 2) incrementally; left = near leg, right = far leg."""

    def __init__(self, sample_rate: int, bitrate_kbps: int, quality: int = QUALITY) -> None:
        enc = lameenc.Encoder()
        enc.set_channels(2)
        enc.set_in_sample_rate(sample_rate)
        # Without this LAME resamples 16 kHz down to 8 kHz at low bitrates.
        enc.set_out_sample_rate(sample_rate)
        enc.set_bit_rate(bitrate_kbps)
        enc.set_quality(quality)
        self._enc = enc
        self.sample_rate = sample_rate
        self.frames_in = 0

    def encode(self, frames: np.ndarray) -> bytes:
        if not len(frames):
            return b""
        self.frames_in += len(frames)
        return bytes(self._enc.encode(np.ascontiguousarray(frames, dtype="<i2").tobytes()))

    def flush(self) -> bytes:
        return bytes(self._enc.flush())
