"""What a scenario describes (docs/scenario.md): the office's lines, the calls on them, the
faults and the button presses, with the call timing the simulated handset and exchange keep.
scenario.py parses and checks a file into these."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RING_ON_S = 2.0
RING_PERIOD_S = 6.0          # 2 s on, 4 s off
ANSWER_AFTER_RING_S = 1.0    # an inbound call is answered this long after its last ring ends
DIAL_START_S = 0.5           # outbound: the handset starts dialing this long after off-hook
DTMF_ON_S = 0.07
DTMF_OFF_S = 0.07


@dataclass(frozen=True)
class Source:
    kind: str                    # silence | tone | noise | file
    freq: float = 0.0
    dbfs: float = -12.0
    path: Path | None = None


@dataclass(frozen=True)
class SimLine:
    id: int
    offhook: str
    callerid: str
    noise_dbfs: float
    settings: dict[str, Any]
    rings: str = "none"          # "sense": the gpio sense input also blinks while the line rings
    name: str | None = None      # the config's line name (None: "Line N")


@dataclass(frozen=True)
class SimCall:
    index: int
    line: int
    at: float
    direction: str
    rings: int
    caller_id: dict[str, Any] | None
    talk: float
    near: Source
    far: Source
    dial: str | None
    keys: tuple[tuple[float, str], ...] = ()    # (seconds after off-hook, digits) keyed on the office handset

    @property
    def offhook_s(self) -> float:
        if self.direction == "inbound" and self.rings:
            return self.at + (self.rings - 1) * RING_PERIOD_S + RING_ON_S + ANSWER_AFTER_RING_S
        return self.at

    @property
    def onhook_s(self) -> float:
        return self.offhook_s + self.talk

    @property
    def speech_start_s(self) -> float:
        """Where the near/far sources begin: after any dialing."""
        if self.dial:
            return self.offhook_s + DIAL_START_S + len(self.dial) * (DTMF_ON_S + DTMF_OFF_S)
        return self.offhook_s


@dataclass(frozen=True)
class SimFault:
    line: int
    at: float
    kind: str
    duration: float

    @property
    def end_s(self) -> float:
        return self.at + self.duration


@dataclass(frozen=True)
class SimAction:
    line: int
    at: float
    kind: str       # ACTION_KINDS


@dataclass(frozen=True)
class Scenario:
    start: float                  # UTC seconds at scenario time 0
    sample_rate: int
    seed: int
    settings: dict[str, Any]
    lines: tuple[SimLine, ...]
    calls: tuple[SimCall, ...]
    faults: tuple[SimFault, ...] = ()
    loop_s: float | None = None   # demo: the calls repeat with this period, forever
    base_dir: Path = field(default=Path("."))
    timezone: str | None = None   # the box's config: the zone pages show times in (None: the system's)
    phone_region: str = "US"      # and the region numbers are read for
    actions: tuple[SimAction, ...] = ()
    dnr: tuple[tuple[str, str], ...] = ()   # the do-not-record list: (pattern, label)
    announcement: Path | None = None   # a WAV or MP3 installed as the announcement to callers

    @property
    def end_s(self) -> float:
        """Scenario time by which every call is over, plus a little idle tail."""
        return max([c.onhook_s for c in self.calls] + [f.end_s for f in self.faults]
                   + [a.at for a in self.actions] + [0.0]) + 2.0
