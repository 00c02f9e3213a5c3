"""Off-hook from a line-voltage sense input on a GPIO pin (gpiozero DigitalInputDevice).

The pin only reports raw levels; debounce is done by the line in stream time (gpiozero's
bounce_time is not applied by every pin factory and would tie timing to wall clock).
"""
from __future__ import annotations

import warnings

from gpiozero import BadPinFactory, DigitalInputDevice, PinFactoryFallback

from ..config import GpioHook
from .base import HookEvent, Post


class GpioHookSource:
    def __init__(self, cfg: GpioHook, pin_factory=None) -> None:
        self.cfg = cfg
        self._factory = pin_factory
        self._device: DigitalInputDevice | None = None

    def _offhook(self) -> bool:
        high = bool(self._device.pin.state)
        return high == (self.cfg.active == "high")

    def start(self, post: Post) -> None:
        pull_up = {"up": True, "down": False, "none": None}[self.cfg.pull]
        # With a pull resistor gpiozero infers the active level; we read raw levels anyway.
        active_state = True if pull_up is None else None
        with warnings.catch_warnings():
            # gpiozero warns once per driver it cannot load; one clear error says it better.
            warnings.simplefilter("ignore", PinFactoryFallback)
            try:
                self._device = DigitalInputDevice(self.cfg.pin, pull_up=pull_up, active_state=active_state,
                                                  pin_factory=self._factory)
            except BadPinFactory:
                raise RuntimeError(f"no GPIO driver for the hook input on GPIO{self.cfg.pin} "
                                   "(on the box: install lgpio; elsewhere: use hookline simulate)") from None

        def changed() -> None:
            post(HookEvent("offhook" if self._offhook() else "onhook", detail={"pin": self.cfg.pin}))

        self._device.when_activated = changed
        self._device.when_deactivated = changed
        post(HookEvent("offhook" if self._offhook() else "onhook", detail={"pin": self.cfg.pin, "initial": True}))

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
