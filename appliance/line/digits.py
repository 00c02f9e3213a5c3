"""Touch-tones heard on the office leg become the call's dialed digits, and may tell its direction.

A digit may be heard before its call is confirmed (a VOX start comes after the sound, and
the off-hook is debounced): it waits a little and goes to the call that starts around it.
Only calls that are not inbound collect dialed digits; every digit is still an event.

A call whose direction the rings could not tell (its line hears none) is outbound when its
first digit comes within DIAL_WINDOW_S of the off-hook: whoever picks up a handset to call out
hears the dial tone and starts dialing within a few seconds, while on a call that was answered
the office only keys digits once the talking is under way (a menu choice, a transfer).
"""
from __future__ import annotations

from typing import Any

WAIT_S = 2.0            # a digit heard with no call waits this long for one
DIAL_WINDOW_S = 10.0    # dial tone, then a number looked up or read out: the first digit comes by then
DIALING_QUIET_S = 3.0   # no new digit for this long: the number is dialed (the notice, keyed digits)


class DialedDigits:
    def __init__(self, sample_rate: int, lead_frames: int) -> None:
        self.wait = int(WAIT_S * sample_rate)
        self.lead = lead_frames         # how long before its off-hook a call's digit may be heard
        self._waiting: list[tuple[int, str]] = []

    def wait_for_call(self, frame: int, digit: str) -> None:
        self._waiting = [d for d in self._waiting if frame - d[0] <= self.wait]
        self._waiting.append((frame, digit))

    def take_for(self, offhook_frame: int) -> list[tuple[int, str]]:
        """The waiting digits that belong to a call going off-hook at offhook_frame (the rest
        are dropped: they belonged to nothing)."""
        mine = [(f, d) for f, d in self._waiting if f >= offhook_frame - self.lead]
        self._waiting = []
        return mine


def dialed_after(info, digit: str) -> str | None:
    """The call's dialed digits once this one is added, or None when the call does not collect
    them (an inbound call: the office keying a menu choice is not a number dialed)."""
    if info.direction == "inbound":
        return None
    return (info.dialed or "") + digit


def learnt_from_digit(info, digit: str, after_s: float) -> dict[str, Any]:
    """What a digit heard after_s seconds after the call's off-hook changes in the call's fields
    (appliance.recording.call.CallInfo): its dialed digits, and its direction when the rings could
    not tell it and this is the first digit, dialed in time. Empty when nothing changes."""
    fields: dict[str, Any] = {}
    if info.direction is None and not info.dialed and after_s <= DIAL_WINDOW_S:
        fields["direction"] = "outbound"
    dialed = dialed_after(info, digit)
    if dialed is not None:
        fields["dialed"] = dialed
    return fields
