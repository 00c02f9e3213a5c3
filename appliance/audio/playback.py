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
        self._thread = threading.Thread(target=self._run, name=f"play-{pcm}", daemon=True)
        self._thread.start()
        self._last_error: str | None = None

    def play(self, samples: np.ndarray) -> None:
        """Queue mono int16 samples; returns at once."""
        self._queue.put(samples)

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
                finally:
                    pcm.close()
                self._last_error = None
            except alsaaudio.ALSAAudioError as e:
                message = f"cannot play on '{self.pcm_name}': {e} (check the playback PCM in asound.conf)"
                if message != self._last_error:   # once per outage, not once per beep
                    log.error("%s", message)
                    self._on_error(message)
                self._last_error = message
