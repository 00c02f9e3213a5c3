"""Playing short sounds (the consent beep) onto a line through its ALSA playback PCM.

Playback runs in its own thread: on real hardware a write blocks for the sound's duration,
and a slow or missing output device must never stall the line's capture.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

import alsaaudio
import numpy as np

log = logging.getLogger("hookline.playback")


class Player:
    def __init__(self, pcm: str, sample_rate: int, on_error: Callable[[str], None]) -> None:
        self.pcm_name = pcm
        self.rate = sample_rate
        self._on_error = on_error
        self._queue: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._last_error: str | None = None
        self._pending = 0
        self._idle = threading.Condition()
        self.samples_written = 0      # everything handed to ALSA so far, padding included
        self._thread = threading.Thread(target=self._run, name=f"play-{pcm}", daemon=True)
        self._thread.start()

    def play(self, samples: np.ndarray) -> None:
        """Queue mono int16 samples; returns at once."""
        with self._idle:
            self._pending += 1
        self._queue.put(samples)

    @property
    def busy(self) -> bool:
        """A sound is queued or still being written."""
        return self._pending > 0

    def wait_idle(self, timeout: float) -> bool:
        """Wait until everything queued has been written (the simulator uses this at max speed)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)

    def _run(self) -> None:
        period = self.rate // 50
        while (samples := self._queue.get()) is not None:
            try:
                pcm = alsaaudio.PCM(alsaaudio.PCM_PLAYBACK, alsaaudio.PCM_NORMAL, device=self.pcm_name,
                                    channels=1, rate=self.rate, format=alsaaudio.PCM_FORMAT_S16_LE,
                                    periodsize=period)
                try:
                    padded = np.zeros(-(-len(samples) // period) * period, dtype="<i2")
                    padded[:len(samples)] = samples
                    for i in range(0, len(padded), period):
                        pcm.write(padded[i:i + period].tobytes())
                    pcm.drain()
                    self.samples_written += len(padded)
                finally:
                    pcm.close()
                self._last_error = None
            except alsaaudio.ALSAAudioError as e:
                message = f"cannot play on '{self.pcm_name}': {e} (check the playback PCM in asound.conf)"
                if message != self._last_error:   # once per outage, not once per beep
                    log.error("%s", message)
                    self._on_error(message)
                self._last_error = message
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
