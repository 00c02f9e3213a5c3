"""What the simulator's parts share while a scenario plays: the speed, the stop signal, and what
the daemon's side has shown them of itself (its line threads and their stream clocks)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..clock import StreamClock

SYNC_TIMEOUT_S = 10.0   # longest a line waits for a serial source (or a device) at max speed


@dataclass
class SimState:
    realtime: bool
    rate: int
    stop: threading.Event = field(default_factory=threading.Event)
    lines: dict[int, Any] = field(default_factory=dict)   # the daemon's line threads by id, from their first tick
    clocks: dict[int, StreamClock] = field(default_factory=dict)   # each line's stream clock, once asked for
    unplugged: set[int] = field(default_factory=set)   # lines whose capture device is out right now
