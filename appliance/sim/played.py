"""What the box plays onto a simulated line (the notice tone, the announcement), heard on the
line's far leg.

The line's playback PCM writes into a FIFO (devices.played_fifo); a reader thread collects it,
and the capture feeder mixes it into the far leg, as an inline tap would hear it. A sound lands
LATENCY_S (at realtime REALTIME_LATENCY_S) after the capture position the line had reached when it
arrived: the feeder renders a little ahead of what the line has read (the FIFO's backlog, which
varies), and a fixed delay longer than that backlog puts every sound where the line played it, so
the time between two tones is true.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np

from .devices import PIPE_BUF, played_fifo
from .state import SimState

PLAYED_WAIT_S = 2.0     # longest the audio writer waits for a sound the line is playing to arrive
LATENCY_S = 0.3         # longer than the feeder's lead over the line (a FIFO and one write: 0.26 s at 8 kHz)
REALTIME_LATENCY_S = 0.15   # at realtime the feeder keeps pace with the clock: it leads by one write at most


def take_queued(pending: list[np.ndarray], n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The first n queued samples (fewer if fewer are queued), and what stays queued."""
    queued = np.concatenate(pending)
    take, rest = queued[:n], queued[n:]
    return take, [rest] if len(rest) else []


def mix_far(chunk: np.ndarray, played: np.ndarray, offset: int = 0) -> np.ndarray:
    """A copy of the stereo S16 chunk with played added to its far leg (column 1) from frame
    offset on, clipped as a sound card would."""
    span = slice(offset, offset + len(played))
    far = chunk[span, 1].astype(np.int32) + played
    chunk = chunk.copy()
    chunk[span, 1] = np.clip(far, -32768, 32767)
    return chunk


class PlayedAudio:
    def __init__(self, sim_dir: Path, line_ids: list[int], state: SimState) -> None:
        self.dir = sim_dir
        self._state = state
        self._pending: dict[int, list[np.ndarray]] = {line_id: [] for line_id in line_ids}
        self._total: dict[int, int] = {line_id: 0 for line_id in line_ids}
        self._at: dict[int, int | None] = {line_id: None for line_id in line_ids}   # stream frame a sound starts
        self._mixing: dict[int, bool] = {line_id: False for line_id in line_ids}    # a sound is part way in
        self._lock = threading.Lock()

    def read(self, line) -> None:
        """Collect what the daemon plays onto the line (mono S16_LE) for mixing into the far leg."""
        # O_RDWR: never blocks on open and never sees EOF when the player closes its PCM.
        fd = os.open(played_fifo(self.dir, line.id), os.O_RDWR)
        try:
            while not self._state.stop.is_set():
                data = os.read(fd, PIPE_BUF)
                samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
                with self._lock:
                    if not (self._pending[line.id] or self._mixing[line.id]):
                        # A new sound: where the line is now, plus the latency (the rest of one being
                        # mixed, which came late from a busy player, follows on at once instead).
                        reached = getattr(self._state.lines.get(line.id), "pos", None)
                        latency = REALTIME_LATENCY_S if self._state.realtime else LATENCY_S
                        self._at[line.id] = None if reached is None else reached + int(latency * self._state.rate)
                    self._pending[line.id].append(samples)
                    self._total[line.id] += len(samples)
        finally:
            os.close(fd)

    def mix(self, line_id: int, chunk: np.ndarray, first: int) -> np.ndarray:
        """The chunk (stream frames first.. of the capture) with what was played mixed in where it lands."""
        # Mix a sound only once all of it has arrived: a beep caught half-way through its
        # trip from the player would otherwise be split across two chunks with a gap between.
        player = getattr(self._state.lines.get(line_id), "player", None)
        deadline = time.monotonic() + PLAYED_WAIT_S
        while True:
            with self._lock:
                at, mixing = self._at[line_id], self._mixing[line_id]
                if mixing and not self._pending[line_id] and (player is None or not player.busy):
                    self._mixing[line_id] = mixing = False      # the sound is over: all of it played and mixed
                if not self._pending[line_id] or at is not None and at >= first + len(chunk):
                    return chunk            # nothing played, or it lands in a later chunk
                whole = player is None or (not player.busy and self._total[line_id] >= player.samples_written)
                if mixing or whole or time.monotonic() > deadline:
                    offset = 0 if at is None else max(0, at - first)
                    take, self._pending[line_id] = take_queued(self._pending[line_id], len(chunk) - offset)
                    self._at[line_id], self._mixing[line_id] = None, True   # the rest follows on at once
                    break
            time.sleep(0.001)
        return mix_far(chunk, take, offset)

    def catch_up(self, line, timeout: float = 5.0) -> None:
        """At max speed the line would outrun its own player thread; hold it until what was
        played has reached the far leg's mixer, so a beep lands where it would in real time."""
        if not line.player.wait_idle(timeout):
            return
        deadline = time.monotonic() + timeout
        while self._total[line.cfg.id] < line.player.samples_written and time.monotonic() < deadline:
            time.sleep(0.001)

    def wake_readers(self) -> None:
        """At stop: a little data wakes each reader blocked in read(), so it sees the stop and exits."""
        for line_id in self._pending:
            try:
                fd = os.open(played_fifo(self.dir, line_id), os.O_WRONLY | os.O_NONBLOCK)
                os.write(fd, b"\0\0")
                os.close(fd)
            except OSError:
                pass
