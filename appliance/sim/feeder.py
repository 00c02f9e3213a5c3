"""Feeds one simulated line's capture PCM: its audio, with what the box played mixed into the far
leg, written into the FIFO the PCM reads.

Writes are period-aligned and at most PIPE_BUF bytes, so every read the plugin makes gets whole
frames. At `realtime` the feeder paces itself by the wall clock, so the daemon's blocking reads
behave like a sound card; at `max` it writes as fast as the daemon reads. The FIFO is shrunk to
one page so the stream is never more than a few periods ahead of what is played onto the line.

At an `audio-gone` outage the feeder removes and closes the FIFO, so the unpluggable PCM's reads
fail with -ENODEV and reopening fails until the FIFO is back; the outage's scenario time never
reaches the stream, so it is added to the line's clock.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from ..line import BACKOFF_MAX_S
from .audio import LineAudio
from .devices import PIPE_BUF
from .office import Scenario, SimLine
from .played import PlayedAudio
from .schedule import Outages
from .state import SYNC_TIMEOUT_S, SimState

F_SETPIPE_SZ = 1031   # fcntl.F_SETPIPE_SZ, missing from older Pythons' fcntl module


def pipe_sized(fd: int) -> int:
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BUF)   # keep the stream close behind what is played
    except OSError:
        pass
    return fd


class CaptureFeeder:
    def __init__(self, scenario: Scenario, line: SimLine, fifo: Path, outages: Outages, period: int,
                 end_frame: int | None, state: SimState, played: PlayedAudio, opening: threading.Semaphore) -> None:
        self.scenario = scenario
        self.line = line
        self.fifo = fifo
        self.outages = outages
        self.period = period
        self.limit = None if end_frame is None else end_frame + state.rate   # a second past the end
        self._state = state
        self._played = played
        self._opening = opening   # released as the feeder opens its FIFO

    def run(self) -> None:
        audio = LineAudio(self.scenario, self.line)
        state, line_id, limit = self._state, self.line.id, self.limit
        frames_per_write = self.period * max(1, PIPE_BUF // (self.period * 4))
        fd = self._open_writer()
        t0 = time.monotonic()
        pos = 0     # scenario frames rendered (outages included)
        try:
            while not state.stop.is_set() and (limit is None or pos < limit):
                outage = self.outages.next_from(pos)
                n = frames_per_write if outage is None else min(frames_per_write, outage[0] - pos)
                if n:
                    data = self._played.mix(line_id, audio.render(pos, n), self.outages.stream_frame(pos)).tobytes()
                    if state.realtime:
                        delay = t0 + pos / state.rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    os.write(fd, data)   # <= PIPE_BUF bytes: atomic, so reads see whole periods
                    pos += n
                if outage is not None and pos == outage[0]:
                    fd = self._unplug(fd, outage, t0)
                    pos = outage[1]
        except BrokenPipeError:
            pass   # the line closed its PCM: the scenario is over for it
        finally:
            os.close(fd)

    def _unplug(self, fd: int, outage: tuple[int, int], t0: float) -> int:
        """Pull the line's interface out for the outage and plug it back in; the new write end."""
        state, line_id, fifo = self._state, self.line.id, self.fifo
        state.unplugged.add(line_id)
        os.unlink(fifo)    # first: the daemon's reopen must find no device
        os.close(fd)       # the PCM sees EOF: its reads fail with -ENODEV
        # The line must notice before its clock moves on, so the failure is stamped when it happened.
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while not state.stop.is_set() and time.monotonic() < deadline and not getattr(
                state.lines.get(line_id), "device_error", None):
            time.sleep(0.002)
        state.clocks[line_id].skipped += outage[1] - outage[0]
        if state.realtime:
            state.stop.wait(max(0.0, t0 + outage[1] / state.rate - time.monotonic()))
        # Plug it back in: the new FIFO gets a writer before it appears under the device's path,
        # so the daemon's reopen (which holds the GIL) never waits for this thread.
        new = fifo.with_name(fifo.name + ".new")
        os.mkfifo(new)
        placeholder = os.open(new, os.O_RDWR)   # a reader, so opening for writing cannot block
        fd = os.open(new, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        os.replace(new, fifo)
        state.unplugged.discard(line_id)
        deadline = time.monotonic() + SYNC_TIMEOUT_S + 2 * BACKOFF_MAX_S
        while not state.stop.is_set() and time.monotonic() < deadline and state.lines[line_id].device_error:
            time.sleep(0.002)
        os.close(placeholder)   # the daemon has the device open again
        return pipe_sized(fd)

    def _open_writer(self) -> int:
        """Open the FIFO for writing: blocks until the daemon opens its PCM. pyalsaaudio holds
        the GIL while the PCM opens its FIFO, so this thread must be inside open() by then."""
        self._opening.release()
        return pipe_sized(os.open(self.fifo, os.O_WRONLY))
