"""Simulated wires for a scenario: generated ALSA PCMs fed through FIFOs, and gpiozero mock pins.

SimHardware puts the parts together and is what the daemon is given (runner.py):
- devices.py: the Config, the ALSA PCMs and FIFOs, the serial ptys;
- schedule.py: when each hook change, ring, caller ID and fault happens, in stream frames;
- wires.py: makes those happen on the pins and ptys;
- feeder.py: one thread per line writing its audio into the capture FIFO, outages included;
- played.py: one thread per line reading what the box plays, for mixing into the far leg.

Events are acted on from the line's own thread (tick) when its stream reaches the scheduled
frame, so both speeds give the same catalog.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from ..clock import StreamClock
from .devices import PERIOD_MS, SENSE_PINS, SimDevices, capture_fifo
from .feeder import CaptureFeeder
from .office import Scenario
from .played import PlayedAudio
from .schedule import Schedule, capture_outages
from .state import SYNC_TIMEOUT_S, SimState
from .wires import WireDriver


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
        self.outages = capture_outages(scenario, self.rate, self.period, self.loop)
        self.state = SimState(realtime, self.rate)
        self.unplugged = self.state.unplugged   # lines whose capture device is out right now
        line_ids = [line.id for line in scenario.lines]
        self.pins = MockFactory()
        Device.pin_factory = self.pins   # anything else creating a device gets mock pins too
        self._threads: list[threading.Thread] = []
        self._ready: set[int] = set()
        self._opening = threading.Semaphore(0)   # released by each audio feeder as it opens its FIFO
        self.played = PlayedAudio(self.dir, line_ids, self.state)
        devices = SimDevices(scenario, data_dir, self.dir, {i for i, outages in self.outages.items() if outages})
        self.config, self.modems, self.monitors = devices.config, devices.modems, devices.monitors
        self.wires = WireDriver(self.pins, self.modems, self.monitors, realtime, line_ids)
        self.schedule = Schedule(scenario, self.rate, self.loop, self.outages)
        self.finishing = False   # finish_calls(): the off-hooks still to come are left out

    def clock(self, line_id: int, start: float) -> StreamClock:
        """The stream clock for a line's daemon side; the feeder adds that line's outages to it."""
        self.state.clocks[line_id] = StreamClock(start, self.rate)
        return self.state.clocks[line_id]

    def set_schedule(self, line_id: int, changes: list[tuple[int, bool]]) -> None:
        """Replace a line's hook changes with (frame, offhook) pairs, e.g. a bouncing contact."""
        self.schedule.replace(line_id, changes)

    def tick(self, line, pos: int) -> None:
        """Called by a line's thread after each read: make what is due happen on the wires."""
        line_id = line.cfg.id
        self.state.lines[line_id] = line
        if line_id not in self._ready:
            # At max speed the first second of audio passes before a serial device is opened
            # and initialised: wait for it, as a real office would not call that fast.
            self._ready.add(line_id)
            for source in (line.hook, line.callerid):
                if hasattr(source, "healthy"):
                    self.wires.await_source(source, healthy=True)
        for kind, arg in self.schedule.due(line_id, pos):
            if not (self.finishing and kind == "hook" and arg):    # no new call once the demo is stopping
                self.wires.act(line, kind, arg)
        if not self.realtime and line.player is not None:
            self.played.catch_up(line)
        if self.end_frame is not None and pos >= self.outages[line_id].stream_frame(self.end_frame):
            line.stop()

    def finish_calls(self) -> None:
        """From now on no call starts: the ones in progress go on to their scripted on-hook."""
        self.finishing = True

    def start(self) -> None:
        for line in self.scenario.lines:
            feeder = CaptureFeeder(self.scenario, line, capture_fifo(self.dir, line.id), self.outages[line.id],
                                   self.period, self.end_frame, self.state, self.played, self._opening)
            for target, args, name in ((feeder.run, (), "sim-audio"), (self.played.read, (line,), "sim-played")):
                t = threading.Thread(target=target, args=args, name=f"{name}{line.id}", daemon=True)
                t.start()
                self._threads.append(t)
        for _ in self.scenario.lines:   # every audio feeder is (all but) inside open() before the daemon starts
            self._opening.acquire(timeout=SYNC_TIMEOUT_S)
        time.sleep(0.01)

    def stop(self) -> None:
        self.state.stop.set()
        for peer in [*self.modems.values(), *self.monitors.values()]:
            peer.close()
        self.played.wake_readers()   # so they see the stop and exit
