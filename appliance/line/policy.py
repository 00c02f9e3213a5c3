"""Whether a call is kept: the record policy, asked at off-hook, again whenever the call's
caller ID or dialed digits change, and at on-hook. Its rules are tried in order, and the first
that drops the call decides, with the reason a person reads in the call's history.

Today's rules: the do-not-record list (at off-hook on the caller ID, then whenever the caller ID
or the dialed digits change), recording switched off for the line (at off-hook: the call is
logged, not recorded), a full disk when the box is set to stop recording then (at off-hook)
and the minimum length (at on-hook: too short to keep).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..store.dnr import NOTHING_LISTED, Listed

DO_NOT_RECORD = "do-not-record"


@dataclass(frozen=True)
class Verdict:
    keep: bool
    reason: str | None = None
    # The rule and its figures, stored beside the reason so pages can word it (present.reasons).
    facts: dict[str, Any] = field(default_factory=dict)

    def detail(self) -> dict[str, Any]:
        """What the call's 'discard' event records."""
        return {"reason": self.reason, **self.facts}


KEEP = Verdict(True)


class Rule:
    """One reason to drop a call; each method answers None for "no objection"."""

    def at_offhook(self, info, settings: dict[str, Any]) -> Verdict | None:
        return None

    def on_update(self, info, settings: dict[str, Any]) -> Verdict | None:
        return None

    def at_end(self, info, talk_s: float, settings: dict[str, Any]) -> Verdict | None:
        return None


class DoNotRecord(Rule):
    """A number on the do-not-record list (store.dnr): an inbound call on its caller ID (at the
    answer, or when a late caller ID comes), an outbound one on its digits as they are dialed (a
    prefix matches once it is dialed, an exact number at its last digit). The line replaces
    `listed` when the list changes."""

    def __init__(self, listed: Listed = NOTHING_LISTED) -> None:
        self.listed = listed

    def at_offhook(self, info, settings):
        return self.on_update(info, settings)

    def on_update(self, info, settings):
        entry = self.listed.match(info.remote_number) or self.listed.match(info.dialed)
        if entry is None:
            return None
        return Verdict(False, "not recorded: do-not-record list" + (f", {entry.label}" if entry.label else ""),
                       {"rule": DO_NOT_RECORD, "label": entry.label})


def listed(verdict: Verdict | None) -> bool:
    """Whether the call was dropped for being on the do-not-record list."""
    return verdict is not None and verdict.facts.get("rule") == DO_NOT_RECORD


class RecordingOff(Rule):
    def at_offhook(self, info, settings):
        if not settings["recording"]:
            return Verdict(False, "recording is off for this line", {"rule": "recording-off"})
        return None


class DiskFull(Rule):
    """The disk is below its free-space floor and when_full is stop-recording: the retention
    thread gives the lines the reason as the live value `disk_full` (None: there is room)."""

    def at_offhook(self, info, settings):
        reason = settings.get("disk_full")
        if reason:
            return Verdict(False, reason, {"rule": "disk-full"})
        return None


# The data disk is too full for audio (recording/room.py): a call that starts then is not recorded.
NO_ROOM = Verdict(False, "not recorded: the data disk is full, and what is left is kept for the catalog",
                  {"rule": "no-room"})


class MinimumLength(Rule):
    def at_end(self, info, talk_s, settings):
        minimum = settings["min_call_s"]
        if info.part == 1 and talk_s < minimum:     # a later part is the rest of a kept call
            return Verdict(False, f"shorter than min_call_s ({talk_s:.2f} s < {minimum:g} s)",
                           {"rule": "too-short", "talk_s": round(talk_s, 3), "min_call_s": minimum})
        return None


class RecordPolicy:
    def __init__(self, rules: list[Rule] | None = None) -> None:
        # The list comes first: a listed call on a line that does not record keeps its number out too.
        self.do_not_record = DoNotRecord()
        self.rules = rules if rules is not None else [self.do_not_record, RecordingOff(), DiskFull(),
                                                           MinimumLength()]

    def _first_drop(self, answers) -> Verdict:
        for verdict in answers:
            if verdict is not None and not verdict.keep:
                return verdict
        return KEEP

    def at_offhook(self, info, settings: dict[str, Any]) -> Verdict:
        return self._first_drop(rule.at_offhook(info, settings) for rule in self.rules)

    def on_update(self, info, settings: dict[str, Any]) -> Verdict:
        return self._first_drop(rule.on_update(info, settings) for rule in self.rules)

    def at_end(self, info, talk_s: float, settings: dict[str, Any]) -> Verdict:
        return self._first_drop(rule.at_end(info, talk_s, settings) for rule in self.rules)
