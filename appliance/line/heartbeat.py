"""A line's heartbeat, for the watchdog (appliance/watchdog.py): when its thread last read ALSA,
and whether its capture is running yet (a period read, or the device found missing and retried)."""
from __future__ import annotations

import threading
import time


class Heartbeat:
    def __init__(self) -> None:
        self.at = time.monotonic()          # monotonic; a retry's wait counts ahead
        self.capturing = threading.Event()

    def beat(self, ahead_s: float = 0.0) -> None:
        """Alive now (after a read), or until ahead_s from now (before waiting to retry a device)."""
        self.at = time.monotonic() + ahead_s
        if not self.capturing.is_set():     # the check is cheaper than set() at every period
            self.capturing.set()
