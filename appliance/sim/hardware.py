"""Simulated wires for a scenario: generated ALSA PCMs fed through FIFOs, and gpiozero mock pins.

Each line's capture PCM is an ALSA `file` plugin whose infile is a FIFO; a writer thread
renders the line's audio into it in period-aligned writes of at most PIPE_BUF bytes (so every
read the plugin makes gets whole frames). At `realtime` the writer paces itself by the wall
clock, so the daemon's blocking reads behave like a sound card; at `max` it writes as fast as
the daemon reads. Hook changes are driven on mock pins from the line's own thread when its
stream reaches the scheduled frame, so both speeds give the same catalog.

What the box plays onto a line (the consent beep) goes into the line's playback PCM, another
`file` plugin writing into a FIFO; the simulator reads it and mixes it into that line's far
leg at the point the capture stream has reached, as an inline tap would hear it. The capture
FIFOs are shrunk to one page so the stream is never more than a few periods ahead.

A line with an `audio-gone` fault gets the unpluggable capture PCM instead (unpluggable.py):
at the fault the writer removes and closes its FIFO, so reads fail with -ENODEV and reopening
fails until the FIFO is back; the scenario's time during the outage never reaches the stream,
so that line's clock skips it and its schedule is shifted by it.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from ..clock import StreamClock
from ..config import Config, GpioHook, LineConfig, LineMonitorHook, ModemCallerId, VoxHook
from ..line import BACKOFF_MAX_S
from .audio import LineAudio
from .scenario import CALLERID_AFTER_RING_S, RING_ON_S, RING_PERIOD_S, Scenario
from . import unpluggable
from .serial_peer import PtyPeer

log = logging.getLogger("hookline.sim")

ALSA_BASE_CONFIG = Path("/usr/share/alsa/alsa.conf")
PERIOD_MS = 20
PIPE_BUF = 4096
SYNC_TIMEOUT_S = 10.0   # longest a line waits for a serial source at max speed
PLAYED_WAIT_S = 2.0     # longest the audio writer waits for a sound the line is playing to arrive
F_SETPIPE_SZ = 1031   # fcntl.F_SETPIPE_SZ, missing from older Pythons' fcntl module
# BCM pins the simulated sense inputs use, in line order (the same as firmware_config's example).
SENSE_PINS = (17, 27, 22, 23, 24, 25, 5, 6, 12, 13, 16, 19, 20, 21, 26, 4)


def pcm_name(line_id: int) -> str:
    return f"hookline_sim_line{line_id}"


def _alsa_quote(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


class SimHardware:
    def __init__(self, scenario: Scenario, data_dir: Path, realtime: bool, forever: bool = False) -> None:
        if len(scenario.lines) > len(SENSE_PINS):
            raise ValueError(f"at most {len(SENSE_PINS)} simulated lines")
        self.scenario = scenario
        self.realtime = realtime
        self.rate = scenario.sample_rate
        self.dir = Path(data_dir) / "sim"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.period = self.rate * PERIOD_MS // 1000
        self.end_frame = None if forever else int(scenario.end_s * self.rate)
        self.loop = int(scenario.loop_s * self.rate) if scenario.loop_s else 0
        # Capture-device outages per line, (first, end) scenario frames within one loop, period-aligned
        # so the stream stops and resumes on whole periods.
        self.outages: dict[int, list[tuple[int, int]]] = {line.id: [] for line in scenario.lines}
        for fault in (f for f in scenario.faults if f.kind == "audio-gone"):
            first = round(fault.at * self.rate / self.period) * self.period
            self.outages[fault.line].append((first, first + max(1, round(fault.duration * self.rate / self.period))
                                             * self.period))
        self.unplugged: set[int] = set()   # lines whose capture device is out right now
        self._clocks: dict[int, StreamClock] = {}
        self._lines: dict[int, Any] = {}
        self._hook_state: dict[int, bool] = {line.id: False for line in scenario.lines}
        self.pins = MockFactory()
        Device.pin_factory = self.pins   # anything else creating a device gets mock pins too
        self._stop = threading.Event()
        self._writers: list[threading.Thread] = []
        self._played: dict[int, list[np.ndarray]] = {line.id: [] for line in scenario.lines}
        self._played_total: dict[int, int] = {line.id: 0 for line in scenario.lines}
        self._played_lock = threading.Lock()
        self._ready: set[int] = set()
        self._opening = threading.Semaphore(0)   # released by each audio writer as it opens its FIFO
        self.modems: dict[int, PtyPeer] = {}
        self.monitors: dict[int, PtyPeer] = {}
        self.config = self._build(data_dir)
        self._schedules = {line.id: self._schedule(line.id) for line in scenario.lines}
        self._next = {line_id: next(it, None) for line_id, it in self._schedules.items()}

    def _build(self, data_dir: Path) -> Config:
        conf = []
        lines = []
        unpluggable_pcms = {}
        for line, pin in zip(self.scenario.lines, SENSE_PINS):
            fifo = self.dir / f"line{line.id}.fifo"
            if fifo.exists():
                fifo.unlink()
            os.mkfifo(fifo)
            played = self.dir / f"line{line.id}-played.fifo"
            if played.exists():
                played.unlink()
            os.mkfifo(played)
            if self.outages[line.id]:
                unpluggable_pcms[pcm_name(line.id)] = fifo
            else:
                conf.append(f"pcm.{pcm_name(line.id)} {{ type file; slave.pcm {{ type null }}; "
                            f"file \"/dev/null\"; infile {_alsa_quote(fifo)}; format \"raw\" }}")
            conf.append(f"pcm.{pcm_name(line.id)}_out {{ type file; slave.pcm {{ type null }}; "
                        f"file {_alsa_quote(played)}; format \"raw\" }}")
            lines.append(LineConfig(
                id=line.id, name=f"Line {line.id}", capture=pcm_name(line.id), playback=f"{pcm_name(line.id)}_out",
                near_channel="left", offhook=self._hook_config(line, pin), callerid=self._callerid_config(line),
                preroll_s=1.0, min_call_s=2.0, max_call_s=4 * 3600.0, bitrate_kbps=32))
        conf += unpluggable.alsa_config(unpluggable_pcms, self.rate, _alsa_quote)
        alsa_conf = self.dir / "asound.conf"
        alsa_conf.write_text("# generated by hookline simulate: one capture PCM per simulated line\n"
                             + "\n".join(conf) + "\n")
        # Keep the stock devices and add ours; libasound re-reads this at the next open.
        os.environ["ALSA_CONFIG_PATH"] = f"{ALSA_BASE_CONFIG}:{alsa_conf}"
        return Config(data_dir=Path(data_dir), status_file=Path(data_dir) / "run" / "status.json",
                      sample_rate=self.rate, period_ms=PERIOD_MS, lines=tuple(lines))

    def _hook_config(self, line, pin: int):
        if line.offhook == "vox":
            return VoxHook()
        if line.offhook == "serial":
            self.monitors[line.id] = PtyPeer(self.dir / f"line{line.id}-monitor", modem=False)
            return LineMonitorHook(port=str(self.monitors[line.id].link), debounce_ms=30)
        return GpioHook(pin=pin, active="low", pull="up", debounce_ms=30)

    def _callerid_config(self, line) -> ModemCallerId | None:
        if line.callerid != "modem":
            return None
        self.modems[line.id] = PtyPeer(self.dir / f"line{line.id}-modem", modem=True)
        # Short wall-clock timings, so a hung modem is noticed within a moment at any speed.
        return ModemCallerId(port=str(self.modems[line.id].link), probe_interval_s=1.0, reply_timeout_s=0.5)

    # -- what happens on the wires, and when -----------------------------------------------------
    def _schedule(self, line_id: int) -> Iterator[tuple[int, str, Any]]:
        """(frame, action, argument) for one line, in order; forever for a looping scenario.

        Actions: hook (off-hook True/False), ring, cid (caller-ID lines), hang and gone (modem
        faults, True at the start and False at the end)."""
        sim_line = next(x for x in self.scenario.lines if x.id == line_id)
        actions: list[tuple[float, int, str, Any]] = []
        for call in (c for c in self.scenario.calls if c.line == line_id):
            if sim_line.offhook != "vox":
                actions += [(call.offhook_s, 1, "hook", True), (call.onhook_s, 1, "hook", False)]
            if call.direction == "inbound":
                actions += [(call.at + k * RING_PERIOD_S, 0, "ring", None) for k in range(call.rings)]
                if call.caller_id and sim_line.callerid == "modem":
                    actions.append((call.at + RING_ON_S + CALLERID_AFTER_RING_S, 0, "cid",
                                    self._caller_id_lines(call)))
        for fault in (f for f in self.scenario.faults if f.line == line_id and f.kind != "audio-gone"):
            kind = {"modem-hang": "hang", "modem-gone": "gone", "monitor-gone": "monitor-gone"}[fault.kind]
            actions += [(fault.at, 0, kind, True), (fault.end_s, 0, kind, False)]
        actions.sort(key=lambda a: (a[0], a[1]))
        cycle = 0
        while True:
            for at, _, kind, arg in actions:
                yield self._stream_frame(line_id, cycle * self.loop + int(round(at * self.rate))), kind, arg
            if not self.loop:
                return
            cycle += 1

    def _stream_frame(self, line_id: int, frame: int) -> int:
        """Where scenario frame `frame` falls in a line's capture stream. Outages before it never
        reach the stream; what happens during one is heard just after the device is back."""
        outages = self.outages[line_id]
        if not outages:
            return frame
        cycle, within = divmod(frame, self.loop) if self.loop else (0, frame)
        lost = cycle * sum(end - first for first, end in outages)
        for first, end in outages:
            if within >= end:
                lost += end - first
            elif within >= first:
                lost += within - first - 1
        return frame - lost

    def clock(self, line_id: int, start: float) -> StreamClock:
        """The stream clock for a line's daemon side; the writer adds that line's outages to it."""
        self._clocks[line_id] = StreamClock(start, self.rate)
        return self._clocks[line_id]

    def _caller_id_lines(self, call) -> list[str]:
        """What a modem prints for the call's caller ID (the raw form is sent verbatim)."""
        if "lines" in call.caller_id:
            return call.caller_id["lines"]
        when = datetime.fromtimestamp(self.scenario.start + call.at, timezone.utc)
        lines = [f"DATE = {when:%m%d}", f"TIME = {when:%H%M}", f"NMBR = {call.caller_id['number']}"]
        if call.caller_id.get("name"):
            lines.append(f"NAME = {call.caller_id['name']}")
        return lines

    def set_schedule(self, line_id: int, changes: list[tuple[int, bool]]) -> None:
        """Replace a line's hook changes with (frame, offhook) pairs, e.g. a bouncing contact."""
        self._schedules[line_id] = iter(sorted((frame, "hook", level) for frame, level in changes))
        self._next[line_id] = next(self._schedules[line_id], None)

    def tick(self, line, pos: int) -> None:
        """Called by a line's thread after each read: make what is due happen on the wires."""
        line_id = line.cfg.id
        self._lines[line_id] = line
        if line_id not in self._ready:
            # At max speed the first second of audio passes before a serial device is opened
            # and initialised: wait for it, as a real office would not call that fast.
            self._ready.add(line_id)
            for source in (line.hook, line.callerid):
                if hasattr(source, "healthy"):
                    self._await_source(source, healthy=True)
        due = self._next[line_id]
        while due is not None and due[0] <= pos:
            self._act(line, due[1], due[2])
            due = self._next[line_id] = next(self._schedules[line_id], None)
        if not self.realtime and line.player is not None:
            self._catch_up_with_playback(line)
        if self.end_frame is not None and pos >= self._stream_frame(line_id, self.end_frame):
            line.stop()

    def _catch_up_with_playback(self, line, timeout: float = 5.0) -> None:
        """At max speed the line would outrun its own player thread; hold it until what was
        played has reached the far leg's mixer, so a beep lands where it would in real time."""
        if not line.player.wait_idle(timeout):
            return
        deadline = time.monotonic() + timeout
        while self._played_total[line.cfg.id] < line.player.samples_written and time.monotonic() < deadline:
            time.sleep(0.001)

    def _act(self, line, kind: str, arg: Any) -> None:
        line_id = line.cfg.id
        modem, monitor = self.modems.get(line_id), self.monitors.get(line_id)
        if kind == "hook":
            self._hook_state[line_id] = arg
            if monitor:
                self._send(line.hook, monitor, "OFFHOOK" if arg else "ONHOOK")
            else:
                pin = self.pins.pin(line.cfg.offhook.pin)
                pin.drive_low() if arg else pin.drive_high()   # active-low sense input
        elif kind == "ring":
            if modem:
                self._send(line.callerid, modem, "RING")
            elif monitor:
                self._send(line.hook, monitor, "RING")
        elif kind == "cid" and modem:
            self._send(line.callerid, modem, *arg)
        elif kind == "hang":
            modem.hang(arg)
            self._await_source(line.callerid, healthy=not arg)
        elif kind == "gone":
            modem.unplug() if arg else modem.plug()
            self._await_source(line.callerid, healthy=not arg)
        elif kind == "monitor-gone":
            if arg:
                monitor.unplug()
            else:   # like a board powering up, it reports the state it sees once it is back
                monitor.plug()
                self._await_source(line.hook, healthy=True)
                self._send(line.hook, monitor, "OFFHOOK" if self._hook_state[line_id] else "ONHOOK")
            self._await_source(line.hook, healthy=not arg)

    def _send(self, source, peer: PtyPeer, *lines: str) -> None:
        """Write lines to a device; at max speed, hold the line until its source has read them,
        so they are stamped where they would be in real time."""
        before = source.lines_seen if source is not None else 0
        peer.send(*lines)
        if self.realtime or source is None or peer.hung or not peer.plugged:
            return      # (what a hung or absent device is sent is lost: nothing to wait for)
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while source.lines_seen < before + len(lines) and time.monotonic() < deadline:
            time.sleep(0.0005)

    def _await_source(self, source, healthy: bool) -> None:
        """At max speed, give a faulty device's source the wall time it needs to notice."""
        if self.realtime or source is None:
            return
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while source.healthy != healthy and time.monotonic() < deadline:
            time.sleep(0.005)

    # -- audio ---------------------------------------------------------------------------------
    def start(self) -> None:
        for line in self.scenario.lines:
            for target, name in ((self._write_audio, "sim-audio"), (self._read_played, "sim-played")):
                t = threading.Thread(target=target, args=(line,), name=f"{name}{line.id}", daemon=True)
                t.start()
                self._writers.append(t)
        for _ in self.scenario.lines:   # every audio writer is (all but) inside open() before the daemon starts
            self._opening.acquire(timeout=SYNC_TIMEOUT_S)
        time.sleep(0.01)

    def _read_played(self, line) -> None:
        """Collect what the daemon plays onto the line (mono S16_LE) for mixing into the far leg."""
        # O_RDWR: never blocks on open and never sees EOF when the player closes its PCM.
        fd = os.open(self.dir / f"line{line.id}-played.fifo", os.O_RDWR)
        try:
            while not self._stop.is_set():
                data = os.read(fd, PIPE_BUF)
                samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
                with self._played_lock:
                    self._played[line.id].append(samples)
                    self._played_total[line.id] += len(samples)
        finally:
            os.close(fd)

    def _mix_played(self, line_id: int, chunk: np.ndarray) -> np.ndarray:
        # Mix a sound only once all of it has arrived: a beep caught half-way through its
        # trip from the player would otherwise be split across two chunks with a gap between.
        player = getattr(self._lines.get(line_id), "player", None)
        deadline = time.monotonic() + PLAYED_WAIT_S
        while True:
            with self._played_lock:
                whole = player is None or (not player.busy and self._played_total[line_id] >= player.samples_written)
                if whole or time.monotonic() > deadline:
                    pending = self._played[line_id]
                    if not pending:
                        return chunk
                    queued = np.concatenate(pending)
                    take, rest = queued[: len(chunk)], queued[len(chunk):]
                    self._played[line_id] = [rest] if len(rest) else []
                    break
            time.sleep(0.001)
        far = chunk[: len(take), 1].astype(np.int32) + take
        chunk = chunk.copy()
        chunk[: len(take), 1] = np.clip(far, -32768, 32767)
        return chunk

    def stop(self) -> None:
        self._stop.set()
        for peer in [*self.modems.values(), *self.monitors.values()]:
            peer.close()
        for line in self.scenario.lines:   # wake the readers of played audio so they exit
            try:
                fd = os.open(self.dir / f"line{line.id}-played.fifo", os.O_WRONLY | os.O_NONBLOCK)
                os.write(fd, b"\0\0")
                os.close(fd)
            except OSError:
                pass

    def _write_audio(self, line) -> None:
        audio = LineAudio(self.scenario, line)
        fifo = self.dir / f"line{line.id}.fifo"
        frames_per_write = self.period * max(1, PIPE_BUF // (self.period * 4))
        limit = None if self.end_frame is None else self.end_frame + self.rate  # a second past the end
        fd = self._open_writer(fifo)
        t0 = time.monotonic()
        pos = 0     # scenario frames rendered (outages included)
        try:
            while not self._stop.is_set() and (limit is None or pos < limit):
                outage = self._next_outage(line.id, pos)
                n = frames_per_write if outage is None else min(frames_per_write, outage[0] - pos)
                if n:
                    data = self._mix_played(line.id, audio.render(pos, n)).tobytes()
                    if self.realtime:
                        delay = t0 + pos / self.rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    os.write(fd, data)   # <= PIPE_BUF bytes: atomic, so reads see whole periods
                    pos += n
                if outage is not None and pos == outage[0]:
                    fd = self._unplug(line.id, fd, fifo, outage, t0)
                    pos = outage[1]
        except BrokenPipeError:
            pass   # the line closed its PCM: the scenario is over for it
        finally:
            os.close(fd)

    def _next_outage(self, line_id: int, pos: int) -> tuple[int, int] | None:
        """The next capture outage (first, end) in absolute scenario frames starting at or after pos."""
        if not self.outages[line_id]:
            return None
        cycle = pos // self.loop if self.loop else 0
        for c in (cycle, cycle + 1) if self.loop else (0,):
            for first, end in self.outages[line_id]:
                if c * self.loop + first >= pos:
                    return c * self.loop + first, c * self.loop + end
        return None

    def _unplug(self, line_id: int, fd: int, fifo: Path, outage: tuple[int, int], t0: float) -> int:
        """Pull the line's interface out for the outage and plug it back in; the new write end."""
        self.unplugged.add(line_id)
        os.unlink(fifo)    # first: the daemon's reopen must find no device
        os.close(fd)       # the PCM sees EOF: its reads fail with -ENODEV
        # The line must notice before its clock moves on, so the failure is stamped when it happened.
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while not self._stop.is_set() and time.monotonic() < deadline and not getattr(
                self._lines.get(line_id), "device_error", None):
            time.sleep(0.002)
        self._clocks[line_id].skipped += outage[1] - outage[0]
        if self.realtime:
            self._stop.wait(max(0.0, t0 + outage[1] / self.rate - time.monotonic()))
        # Plug it back in: the new FIFO gets a writer before it appears under the device's path,
        # so the daemon's reopen (which holds the GIL) never waits for this thread.
        new = fifo.with_name(fifo.name + ".new")
        os.mkfifo(new)
        placeholder = os.open(new, os.O_RDWR)   # a reader, so opening for writing cannot block
        fd = os.open(new, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        os.replace(new, fifo)
        self.unplugged.discard(line_id)
        deadline = time.monotonic() + SYNC_TIMEOUT_S + 2 * BACKOFF_MAX_S
        while not self._stop.is_set() and time.monotonic() < deadline and self._lines[line_id].device_error:
            time.sleep(0.002)
        os.close(placeholder)   # the daemon has the device open again
        return self._pipe_sized(fd)

    def _open_writer(self, fifo: Path) -> int:
        """Open a capture FIFO for writing: blocks until the daemon opens its PCM. pyalsaaudio holds
        the GIL while the PCM opens its FIFO, so this thread must be inside open() by then."""
        self._opening.release()
        return self._pipe_sized(os.open(fifo, os.O_WRONLY))

    @staticmethod
    def _pipe_sized(fd: int) -> int:
        try:
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BUF)   # keep the stream close behind what is played
        except OSError:
            pass
        return fd
