"""Makes a simulated line's scheduled events happen on its wires: the hook sense pin (a mock
gpiozero pin, which also blinks while a `rings = "sense"` line rings), the pause button's pin or the serial line
monitor's reports, the modem's rings and caller ID, and the serial devices' faults, both through
their ptys (serial_peer.py). At max speed each step waits until the daemon's source has taken it,
so it is stamped where it would be in real time."""
from __future__ import annotations

import time
from typing import Any

from gpiozero.pins.mock import MockFactory

from .serial_peer import PtyPeer
from .state import SYNC_TIMEOUT_S


class WireDriver:
    def __init__(self, pins: MockFactory, modems: dict[int, PtyPeer], monitors: dict[int, PtyPeer],
                 realtime: bool, line_ids: list[int]) -> None:
        self.pins = pins
        self.modems = modems
        self.monitors = monitors
        self.realtime = realtime
        self._hook_state: dict[int, bool] = {line_id: False for line_id in line_ids}

    def act(self, line, kind: str, arg: Any) -> None:
        """One event of the line's schedule (schedule.py lists the actions)."""
        line_id = line.cfg.id
        modem, monitor = self.modems.get(line_id), self.monitors.get(line_id)
        if kind == "hook":
            self._hook_state[line_id] = arg
            if monitor:
                self.send(line.hook, monitor, "OFFHOOK" if arg else "ONHOOK")
            else:
                self.sense(line, arg)
        elif kind == "sense":
            self.sense(line, arg)
        elif kind == "button" and line.cfg.pause:
            self.press(line.cfg.pause.button)
        elif kind == "ring":
            if modem:
                self.send(line.callerid, modem, "RING")
            elif monitor:
                self.send(line.hook, monitor, "RING")
        elif kind == "cid" and modem:
            self.send(line.callerid, modem, *arg)
        elif kind == "hang":
            modem.hang(arg)
            self.await_source(line.callerid, healthy=not arg)
        elif kind == "gone":
            modem.unplug() if arg else modem.plug()
            self.await_source(line.callerid, healthy=not arg)
        elif kind == "monitor-gone":
            if arg:
                monitor.unplug()
            else:   # like a board powering up, it reports the state it sees once it is back
                monitor.plug()
                self.await_source(line.hook, healthy=True)
                self.send(line.hook, monitor, "OFFHOOK" if self._hook_state[line_id] else "ONHOOK")
            self.await_source(line.hook, healthy=not arg)

    def sense(self, line, offhook_level: bool) -> None:
        """Drive the line's active-low sense pin: low is what an off-hook (or a ring's swing) shows."""
        pin = self.pins.pin(line.cfg.offhook.pin)
        pin.drive_low() if offhook_level else pin.drive_high()

    def press(self, pin_number: int) -> None:
        """Press and release a button wired from its pin to ground (the pin pulled up): gpiozero
        calls the line's handler from here, in the line's own thread, so the press is stamped now."""
        pin = self.pins.pin(pin_number)
        pin.drive_low()
        pin.drive_high()

    def send(self, source, peer: PtyPeer, *lines: str) -> None:
        """Write lines to a device; at max speed, hold the line until its source has read them,
        so they are stamped where they would be in real time."""
        before = source.lines_seen if source is not None else 0
        peer.send(*lines)
        if self.realtime or source is None or peer.hung or not peer.plugged:
            return      # (what a hung or absent device is sent is lost: nothing to wait for)
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while source.lines_seen < before + len(lines) and time.monotonic() < deadline:
            time.sleep(0.0005)

    def await_source(self, source, healthy: bool) -> None:
        """At max speed, give a faulty device's source the wall time it needs to notice."""
        if self.realtime or source is None:
            return
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while source.healthy != healthy and time.monotonic() < deadline:
            time.sleep(0.005)
