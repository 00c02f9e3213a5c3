"""Telling the other party that the call is recorded (`consent`): the tone once (`start`) or then
every beep_interval_s (`periodic`), the uploaded announcement (`announcement`), or the announcement
and then the tone every interval (`announcement+periodic`). Played through the line's playback
device from the player's own thread, so a missing output never stalls the recording.

When: an answered inbound call hears it at once. Any other call (outbound, or a line that cannot
tell) is still being dialed, and the far party is not there yet: the notice waits until no digit
has come for DIALING_QUIET_S, or FIRST_DIGIT_WAIT_S after the off-hook when none comes at all.
A pause (pause.py) does not stop it: the caller still hears it, and the events log it, while the
recording holds the pause's fill. Everything is in stream time (frames).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..audio import tones
from ..store.kinds import Event
from .digits import DIALING_QUIET_S

NO_PLAYER = "consent is on but this line has no playback device in the config"
NO_ANNOUNCEMENT = "the announcement is on but none has been uploaded: the tone was played instead"
FIRST_DIGIT_WAIT_S = 5.0    # dial tone, then the first digit: whoever calls out starts by then
PERIODIC = ("periodic", "announcement+periodic")

Played = tuple[str, dict[str, Any]]     # an event to log: (kind, detail)


class Consent:
    """The notice of the call in progress, in stream time."""

    def __init__(self, sample_rate: int, player, announcement=None) -> None:
        self.rate = sample_rate
        self.player = player
        self.announcement = announcement        # notice.stored.AnnouncementFile, or None
        self._tones: dict[tuple, np.ndarray] = {}
        self.first_at: int | None = None        # frame the first notice is due (it has not played yet)
        self.next_beep: int | None = None       # frame of the next periodic tone

    def begin(self, pos: int, mode: str, inbound: bool) -> str | None:
        """A recording starts at pos: NO_PLAYER if a notice is due and cannot be played, else None
        (the notice plays when due(): at once when inbound, after the dialing otherwise)."""
        self.end()
        if mode == "off":
            return None
        if self.player is None:
            return NO_PLAYER
        self.first_at = pos if inbound else pos + int(FIRST_DIGIT_WAIT_S * self.rate)
        return None

    def digit(self, frame: int) -> None:
        """A digit heard at frame: the dialing goes on, and the first notice waits for its end."""
        if self.first_at is not None:
            self.first_at = frame + int(DIALING_QUIET_S * self.rate)

    def due(self, pos: int) -> bool:
        return any(at is not None and pos >= at for at in (self.first_at, self.next_beep))

    def play(self, pos: int, settings: dict[str, Any]) -> list[Played]:
        """Play what is due at pos (by the settings as they are now: the notice may have been
        turned off during the call); returns the events to log."""
        mode = settings["consent"]
        if mode == "off":
            self.end()
            return []
        if self.first_at is not None and pos >= self.first_at:
            due, self.first_at = self.first_at, None
            return self._first(due, mode, settings)
        due, self.next_beep = self.next_beep, None
        played = [self._beep(mode, settings)]
        self._schedule(pos, due, 0, mode, settings)
        return played

    def _first(self, due: int, mode: str, settings: dict[str, Any]) -> list[Played]:
        """The first notice: the announcement when the mode has one and there is one, else the tone."""
        played: list[Played] = []
        if mode.startswith("announcement"):
            samples = self.announcement.samples() if self.announcement else None
            if samples is not None:
                self.player.play(samples)
                self._schedule(due, due, len(samples), mode, settings)
                return [(Event.ANNOUNCEMENT, {"consent": mode, "duration_s": round(len(samples) / self.rate, 2)})]
            played.append((Event.WARNING, {"message": NO_ANNOUNCEMENT}))
        played.append(self._beep(mode, settings))
        self._schedule(due, due, 0, mode, settings)
        return played

    def _schedule(self, pos: int, due: int, length: int, mode: str, settings: dict[str, Any]) -> None:
        """The next periodic tone: one interval after the last was due (so the interval does not
        drift with the capture's period), and never in the past."""
        if mode not in PERIODIC:
            return
        interval = int(settings["beep_interval_s"] * self.rate)
        self.next_beep = due + length + interval
        if self.next_beep <= pos:
            self.next_beep = pos + interval

    def _beep(self, mode: str, settings: dict[str, Any]) -> Played:
        hz, ms, level = settings["beep_hz"], settings["beep_ms"], settings["beep_dbfs"]
        key = (hz, ms, level)
        if key not in self._tones:
            self._tones = {key: tones.beep(self.rate, hz, ms, level)}   # the one in use only
        self.player.play(self._tones[key])
        return Event.BEEP, {"consent": mode, "hz": hz, "ms": ms}

    def end(self) -> None:
        self.first_at = self.next_beep = None
