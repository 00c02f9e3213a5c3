"""The box's export button and LED (gpiozero Button and LED, `[export] button/led/pull/long_press_s`
in hookline.toml): the owner's way to take the calls home with no laptop.

- A press (released before long_press_s) exports everything new to the stick that is plugged in
  (`--new`, through the daemon's export runner, like the web page's).
- A long press cancels the export under way: what is verified stays, the file under way goes.
- A press while an export runs does nothing to it: the runner refuses it ("busy", in the events)
  and the LED goes on blinking.
- The LED blinks while copying, stays on once the stick is done and ejected (safe to remove)
  until that stick is pulled out or the button is pressed again, and flashes fast for a while on
  an error: no stick, a stick with a problem, full, pulled, a recording that no longer matches.
  A cancelled export leaves it off.

Every outcome is also a line in the box's event log and the journal (runner.py), so a technician
can read why a press did what it did. Both parts are optional; a pin that cannot be opened is
reported and the recorder goes on without it.
"""
from __future__ import annotations

import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

from gpiozero import LED, Button, PinFactoryFallback

from ..config import ExportConfig
from . import runner as runnermod, selection

log = logging.getLogger("hookline.export")

BLINK_S = 0.5             # on and off while copying
FLASH_S = 0.1             # on and off on an error ...
FLASH_FOR_S = 10.0        # ... for this long, then off
STICK_POLL_S = 1.0        # how often a steady LED checks that its stick is still plugged in


def plugged_in(device: int) -> bool:
    """Whether the block device (st_dev of what was the stick's mount) is still there: a pulled USB
    stick's node goes from /sys, an emptied loop device reads size 0."""
    try:
        return int(Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}/size").read_text()) > 0
    except (OSError, ValueError):
        return False


class ExportButton:
    def __init__(self, cfg: ExportConfig, runner: runnermod.ExportRunner, *, flash_for_s: float = FLASH_FOR_S,
                 poll_s: float = STICK_POLL_S) -> None:
        self.cfg = cfg
        self.runner = runner
        self.flash_for_s, self.poll_s = flash_for_s, poll_s
        self.button: Button | None = None
        self.led: LED | None = None
        self._held = False
        self._device: int | None = None       # the stick of the export under way, or of the steady LED
        self._steady = False
        self._lit = threading.Lock()        # the runner's thread, the button's and the watcher's
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    def start(self) -> None:
        """Open the pins and follow the runner; raises what gpiozero raises for a pin it cannot open."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PinFactoryFallback)
            if self.cfg.led is not None:
                self.led = LED(self.cfg.led)
            if self.cfg.button is not None:
                self.button = Button(self.cfg.button, pull_up=self.cfg.pull == "up", hold_time=self.cfg.long_press_s)
        if self.button is not None:
            self.button.when_pressed = self._pressed
            self.button.when_held = self._long_press
            self.button.when_released = self._released
        self.runner.listen(self._show)
        if self.led is not None:
            self._watch = threading.Thread(target=self._watch_stick, name="export-led", daemon=True)
            self._watch.start()

    def close(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.join(5)
        for device in (self.button, self.led):
            if device is not None:
                device.close()
        self.button = self.led = None

    # -- the button ---------------------------------------------------------------------------------
    def _pressed(self) -> None:
        self._held = False

    def _long_press(self) -> None:
        self._held = True
        if not self.runner.cancel(via="button"):
            log.info("export button held: no export is running, nothing to cancel")

    def _released(self) -> None:
        if self._held:                  # the end of a long press: it has done its part
            return
        try:
            self.runner.start(selection.Selection(new=True), via="button")
        except runnermod.ExportRefused as e:
            if e.code != "busy" or not self.runner.running:     # busy: the LED goes on blinking
                self._light("flash")

    # -- the LED ------------------------------------------------------------------------------------
    def _show(self, status: dict[str, Any]) -> None:
        """Follow the runner's state (called after each change)."""
        state = status["state"]
        if state == runnermod.COPYING:
            self._device = _device_of(status["stick"])
            self._light("blink")
        elif state == runnermod.DONE:
            self._light("steady")
        elif state == runnermod.ERROR:
            self._light("flash")
        else:
            self._light("off")

    def _light(self, how: str) -> None:
        with self._lit:
            self._steady = how == "steady"
            if self.led is not None:
                self._set(how)

    def _set(self, how: str) -> None:
        if how == "blink":
            self.led.blink(on_time=BLINK_S, off_time=BLINK_S)
        elif how == "steady":
            self.led.on()
        elif how == "flash":
            self.led.blink(on_time=FLASH_S, off_time=FLASH_S, n=max(1, round(self.flash_for_s / (2 * FLASH_S))))
        else:
            self.led.off()

    def _watch_stick(self) -> None:
        """A steady LED goes off once its stick is pulled out: nothing is left to take away."""
        while not self._stop.wait(self.poll_s):
            with self._lit:
                gone = self._steady and (self._device is None or not plugged_in(self._device))
            if gone:
                log.info("the exported stick was pulled out: the export LED goes off")
                self._light("off")


def _device_of(stick: dict[str, Any] | None) -> int | None:
    try:
        return os.stat(stick["path"]).st_dev if stick else None
    except OSError:
        return None


def start_button(cfg: ExportConfig, runner: runnermod.ExportRunner) -> ExportButton | None:
    """The export button and LED when the config has either; one that cannot start is logged
    (the recorder records on without it) and None."""
    if cfg.button is None and cfg.led is None:
        return None
    button = ExportButton(cfg, runner)
    try:
        button.start()
    except Exception as e:
        log.error("the export button or LED failed to start: %s", e)
        button.close()
        return None
    return button
