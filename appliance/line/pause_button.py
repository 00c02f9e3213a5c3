"""A line's pause button and its "paused" LED (gpiozero Button and LED, `[line.pause]` in the
config): a press toggles the pause of the call in progress (through the line's queue, like every
source), and the line lights the LED while paused. Both are optional, and a pin that cannot be
opened is reported without stopping the line."""
from __future__ import annotations

import logging
import warnings

from gpiozero import LED, Button, PinFactoryFallback

from ..hook.base import HookEvent, Post
from ..store.kinds import Event

log = logging.getLogger("hookline.line")


class PauseButton:
    def __init__(self, cfg) -> None:
        self.cfg = cfg                      # config.PauseInputs
        self.button: Button | None = None
        self.led: LED | None = None

    def start(self, post: Post) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PinFactoryFallback)
            if self.cfg.led is not None:
                self.led = LED(self.cfg.led)
            self.button = Button(self.cfg.button, pull_up=self.cfg.pull == "up")
        self.button.when_pressed = lambda: post(HookEvent("button", detail={"by": "button"}))

    def close(self) -> None:
        for device in (self.button, self.led):
            if device is not None:
                device.close()
        self.button = self.led = None


def start_button(line):
    """Start the line's pause button, if it has one (a press comes through its queue); its LED,
    or None. A button that cannot start is an event and a log line, and the line goes on."""
    if line.button is None:
        return None
    try:
        line.button.start(line.post)
    except Exception as e:
        log.error("line %s: pause button failed to start: %s", line.cfg.id, e)
        line.event(Event.DEVICE_ERROR, line.pos, device="pause button", device_kind="pause", error=str(e))
        line.button = None
    return line.button.led if line.button else None
