"""Telling the parties that the call is recorded: the consent tone, once when recording starts
(`consent = start`) or then again every beep_interval_s (`periodic`), played through the line's
playback device from the player's own thread so a missing output never stalls the recording.
"""
from __future__ import annotations

from ..audio import tones

NO_PLAYER = "consent is on but this line has no playback device in the config"


class Consent:
    """The beeps of the call in progress, in stream time."""

    def __init__(self, sample_rate: int, player) -> None:
        self.rate = sample_rate
        self.player = player
        self.tone = tones.beep(sample_rate)
        self.next_beep: int | None = None       # frame of the next periodic beep

    def begin(self, pos: int, mode: str, interval_s: float) -> str | None:
        """A recording starts at pos: "beep" if the tone was played, NO_PLAYER if it should be
        and cannot, None when consent is off."""
        self.next_beep = None
        if mode == "off":
            return None
        if self.player is None:
            return NO_PLAYER
        self.beep(pos, mode, interval_s)
        return "beep"

    def due(self, pos: int) -> bool:
        return self.next_beep is not None and pos >= self.next_beep

    def beep(self, pos: int, mode: str, interval_s: float) -> bool:
        """Play the tone now (mode as set now: it may have been turned off during the call);
        True if it was played."""
        if mode == "off":
            self.next_beep = None
            return False
        self.next_beep = pos + interval_s * self.rate if mode == "periodic" else None
        self.player.play(self.tone)
        return True

    def end(self) -> None:
        self.next_beep = None
