"""Who is on the other end: rings, caller ID and the call's direction.

A call that goes off-hook within RING_MEMORY_S of a ring answers it: it is inbound and takes
the caller ID that came with that ring train. Otherwise it is outbound. A line that hears no
rings (no modem, no ring pattern, no sense input wired for rings) cannot tell at the off-hook;
dialing may tell it later (digits.py). Fed stream positions only.
"""
from __future__ import annotations

from typing import Any

RING_MEMORY_S = 8.0     # an off-hook this soon after a ring answers it (cadence: 2 s on, 4 s off)
SAME_RING_S = 1.5       # rings this close are one: heard by a modem and a sense input, or a UK double ring


def hears_rings(line) -> bool:
    """Whether a line (appliance.config.LineConfig) has a source of rings: a modem, a line monitor
    that reports them, or a sense input wired to see them."""
    return (line.callerid is not None or bool(getattr(line.offhook, "ring_pattern", None))
            or getattr(line.offhook, "rings", False))


def caller_fields(cid: dict[str, Any]) -> dict[str, Any]:
    """A caller-ID report as the call's catalog fields."""
    return {"remote_number": cid.get("number"), "remote_name": cid.get("name"),
            "remote_withheld": bool(cid.get("withheld"))}


class WhoCalled:
    def __init__(self, sample_rate: int, hears_rings: bool) -> None:
        self.memory = int(RING_MEMORY_S * sample_rate)
        self.same_ring = int(SAME_RING_S * sample_rate)
        self.hears_rings = hears_rings
        self.last_ring: int | None = None
        self.ring_train_start: int | None = None
        self.pending: tuple[int, dict[str, Any]] | None = None    # (frame, caller-ID report)

    def ring(self, frame: int) -> bool:
        """A ring heard at frame; False when it is one already heard from another source."""
        if self.last_ring is not None and abs(frame - self.last_ring) < self.same_ring:
            return False
        if self.last_ring is None or frame - self.last_ring > self.memory:
            self.ring_train_start = frame
        self.last_ring = max(frame, self.last_ring or 0)
        return True

    def ringing(self, pos: int) -> bool:
        return self.last_ring is not None and pos - self.last_ring <= self.memory

    def caller_id(self, frame: int, cid: dict[str, Any]) -> None:
        self.pending = (frame, cid)

    def late_caller_id(self, frame: int, call_started: int, info) -> dict[str, Any] | None:
        """Caller ID reported at frame, while a call that began at call_started is on: some
        exchanges send it just after the answer. The fields for that call (taken), or None."""
        if (info.direction == "inbound" and not info.remote_number and not info.remote_withheld
                and frame - call_started <= self.memory):
            return self.take()
        return None

    def take(self) -> dict[str, Any]:
        _, cid = self.pending
        self.pending = None
        return caller_fields(cid)

    def answer(self, frame: int) -> dict[str, Any]:
        """Direction and caller of a call going off-hook at frame, from the rings before it; the
        ring train and its caller ID are used up."""
        if not self.hears_rings:
            return {}
        rung = self.ringing(frame)
        who: dict[str, Any] = {"direction": "inbound" if rung else "outbound"}
        if rung and self.pending and self.pending[0] >= self.ring_train_start - self.memory:
            who.update(caller_fields(self.pending[1]))
        self.pending = None
        self.last_ring = None
        return who
