"""How a running recorder is asked to stop: SIGTERM (systemd, `kill`) and SIGINT (Ctrl-C) alike.

A stop never waits for a caller to hang up (nobody can say when that will be) and never drops
what was recorded: every call in progress ends at that moment, keeping all its audio as a complete,
hashed file with an event saying the recorder stopped (Line and CallSession.stopped do that).
While that finalizing runs, further signals are noted and ignored, so a second Ctrl-C or a
repeated SIGTERM cannot cut it short; systemd's TimeoutStopSec (30 s) is far more than it needs.

`hookline demo` gives the first signal a gentler meaning: no new calls start and the scripted
calls in progress end as scripted; the second stops at once (runner.demo).
"""
from __future__ import annotations

import os
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
ALREADY_STOPPING = "hookline: already stopping: finalizing the calls in progress"


class StopRequests:
    """While installed (a `with` block, in the main thread): `first` is set by the first SIGINT or
    SIGTERM, `again` by the second; later ones print `busy` and change nothing."""

    def __init__(self, busy: str = ALREADY_STOPPING) -> None:
        self.first = threading.Event()
        self.again = threading.Event()
        self.count = 0
        self.busy = busy
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopRequests":
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame) -> None:
        self.count += 1
        if self.count == 1:
            self.first.set()
        elif self.count == 2:
            self.again.set()
        else:
            os.write(2, f"{self.busy}\n".encode())   # not print(): the main thread may be inside one

    def wait_first(self, poll_s: float = 0.5) -> None:
        """Block until the first request (in short waits: the handler runs between them)."""
        while not self.first.wait(poll_s):
            pass
