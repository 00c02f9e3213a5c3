"""One line's capture device: a stereo ALSA PCM opened with pyalsaaudio, read a period at a time.

Frames come back as int16 arrays (n, 2) with the near leg in column 0 and the far leg in
column 1, whatever order the interface delivers them in.
"""
from __future__ import annotations

import time

import alsaaudio
import numpy as np

# ALSA buffer: half a second of audio, so a busy moment never costs an overrun.
BUFFER_S = 0.5


class DeviceError(RuntimeError):
    """The capture device is missing or failed; str() names the device and what to check."""


class OverrunMeter:
    """How much audio an overrun lost, by the clock.

    A read that leaves less than a period in the buffer has caught up: there, the stream and the
    clock agree (the anchor). After a stall, the reads first return what the buffer still held,
    then the overrun; everything else since the anchor is lost (the re-prepare drops the rest)."""

    def __init__(self, sample_rate: int, period_frames: int) -> None:
        self.rate, self.period = sample_rate, period_frames
        self.anchor, self.since = time.monotonic(), 0

    def read(self, now: float, frames: int, backlog: int) -> None:
        """A read returned frames at now, leaving backlog frames in the buffer."""
        if backlog < self.period:
            self.anchor, self.since = now, 0
        else:
            self.since += frames

    def overrun(self, now: float) -> int:
        """Frames lost by the overrun found at now (at least a period)."""
        lost = round((now - self.anchor) * self.rate) - self.since
        self.anchor, self.since = now, 0
        return max(self.period, lost)


class CaptureDevice:
    def __init__(self, pcm: str, sample_rate: int, period_frames: int, swap_legs: bool = False) -> None:
        self.pcm_name = pcm
        self.sample_rate = sample_rate
        self.period_frames = period_frames
        self.swap_legs = swap_legs
        self.periods = max(4, round(BUFFER_S * sample_rate / period_frames))
        self._pcm: alsaaudio.PCM | None = None
        self.overruns: OverrunMeter | None = None      # made at each open: a reopened device starts afresh

    def open(self) -> None:
        try:
            self._pcm = alsaaudio.PCM(alsaaudio.PCM_CAPTURE, alsaaudio.PCM_NORMAL, device=self.pcm_name,
                                      channels=2, rate=self.sample_rate, format=alsaaudio.PCM_FORMAT_S16_LE,
                                      periodsize=self.period_frames, periods=self.periods)
            self.overruns = OverrunMeter(self.sample_rate, self.period_frames)
        except alsaaudio.ALSAAudioError as e:
            raise DeviceError(f"cannot open capture device '{self.pcm_name}': {e} "
                              f"(check the interface is plugged in and asound.conf defines it)") from None

    def read(self) -> np.ndarray | int:
        """One period of frames, or a negative number: an overrun (xrun) lost that many frames."""
        assert self._pcm is not None, "open() first"
        try:
            n, data = self._pcm.read()
        except alsaaudio.ALSAAudioError as e:
            raise DeviceError(f"capture device '{self.pcm_name}' failed: {e}") from None
        if n < 0:       # an overrun (-EPIPE): pyalsaaudio has re-prepared the PCM
            return -self.overruns.overrun(time.monotonic())
        self.overruns.read(time.monotonic(), n, self._backlog())
        frames = np.frombuffer(data, dtype="<i2")[: n * 2].reshape(-1, 2)
        return frames[:, ::-1] if self.swap_legs else frames

    def _backlog(self) -> int:
        """Frames captured but not read yet (0 where the PCM cannot say)."""
        try:
            return max(0, self._pcm.avail())
        except alsaaudio.ALSAAudioError:
            return 0

    def close(self) -> None:
        if self._pcm is not None:
            try:
                self._pcm.close()
            except alsaaudio.ALSAAudioError:
                pass
            self._pcm = None
