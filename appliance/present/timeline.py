"""A call's story as rows a person reads, one per thing that happened, in time order: its line
events (a ring train is one row, "Rang 3 times"; a run of dialed digits is one row, "Dialed
0123 456 789") and what people did to it from the audit log (kept, released, noted).

A device that is ready or working is news only after it failed: a 'device-ok' with no error
before it in the story (the modem answering at the recorder's start) is left to the technician."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..store import times
from ..store.kinds import Event
from .events import TONES, Context, device_kind, dialed, sentence
from .words import person, times_word

RING_GAP_S = 10.0    # rings further apart are another ring train (a cadence is 2 s on, 4 s off)
ANSWER_WITHIN_S = 8.0   # an off-hook this soon after a ring answers it (line/who_called.py's memory)
DIGIT_GAP_S = 5.0    # a pause this long while dialing starts another run (a menu choice, an extension)
AUDIT_ACTIONS = ("hold", "release", "note")     # what people do to a call that belongs to its story


@dataclass
class Row:
    at: str                 # ISO time of the first event in the row
    text: str
    kind: str               # the event kind (or audit action), for the page's styling
    tone: str = ""          # "", "ok", "warn", "bad", "muted"


def _seconds(at: Any) -> float:
    try:
        return times.seconds(str(at))
    except ValueError:       # a tampered row: it goes first rather than breaking the page
        return float("-inf")


def _audit_text(entry: dict[str, Any], noted_before: bool) -> str:
    who = person(entry.get("user"))
    action = entry.get("action")
    if action == "hold":
        return f"Kept by {who}: retention and deletion skip this call"
    if action == "release":
        return f"Hold released by {who}: the call follows the retention settings again"
    length = (entry.get("detail") or {}).get("length")
    if length == 0:
        return f"Note removed by {who}"
    return f"Note {'changed' if noted_before else 'written'} by {who}"


class _Runs:
    """Joins a ring train, and a run of dialed digits, into one row each."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.ring: tuple[Row, int, float] | None = None     # the row, rings so far, the last ring's time
        self.digits: tuple[Row, str, float] | None = None   # the row, digits so far, the last digit's time

    def add(self, event: dict[str, Any], when: float) -> Row | None:
        """The row for a ring or digit event if it starts a run (None: it joined one); other
        events end the runs they break, and give None."""
        kind = event["kind"]
        if kind == Event.RING:
            self.digits = None
            if self.ring and when - self.ring[2] <= RING_GAP_S:
                row, count, _ = self.ring
                row.text = f"Rang {times_word(count + 1)}"
                self.ring = (row, count + 1, when)
                return None
            row = Row(event["at"], "Rang once", kind)
            self.ring = (row, 1, when)
            return row
        if kind == Event.DIGIT:
            digit = str((event.get("detail") or {}).get("digit") or "")
            self.ring = None
            if self.digits and when - self.digits[2] <= DIGIT_GAP_S:
                row, digits, _ = self.digits
                row.text = f"Dialed {dialed(digits + digit, self.region)}"
                self.digits = (row, digits + digit, when)
                return None
            row = Row(event["at"], f"Dialed {dialed(digit, self.region)}", kind)
            self.digits = (row, digit, when)
            return row
        if kind != Event.CALLERID:       # caller ID comes between the rings of one train
            self.ring = None
        self.digits = None
        return None


def _not_this_calls_rings(events: list[tuple[float, dict[str, Any]]], ctx: Context) -> set[int]:
    """Indexes of the line's rings and caller IDs before the call that are not the ring train it
    answered (an earlier call's, or a missed one): the train ends at most ANSWER_WITHIN_S before
    the off-hook and has no gap over RING_GAP_S; a call made from the office answered none."""
    if not ctx.started_at:
        return set()
    started = _seconds(ctx.started_at)
    before = [i for i, (when, e) in enumerate(events) if when < started and e.get("call_id") is None
              and e["kind"] in (Event.RING, Event.CALLERID)]
    edge, gap, dropped = started, ANSWER_WITHIN_S, set()
    for i in reversed(before):
        if dropped or ctx.direction == "outbound" or edge - events[i][0] > gap:
            dropped.add(i)
        else:
            edge, gap = events[i][0], RING_GAP_S
    return dropped


def rows(events: Iterable[dict[str, Any]], ctx: Context | None = None,
         audit_entries: Iterable[dict[str, Any]] = ()) -> list[Row]:
    """The call's rows: `events` as catalog.call_timeline gives them (with, for a split call, the
    next part's split or resumed event), `audit_entries` as audit.entries gives them (any order)."""
    ctx = ctx or Context()
    timed = [(_seconds(e["at"]), e) for e in events]
    others = _not_this_calls_rings(timed, ctx)
    merged = [(when, 0, i, e) for i, (when, e) in enumerate(timed) if i not in others]
    merged += [(_seconds(a["at"]), 1, i, a) for i, a in enumerate(audit_entries) if a.get("action") in AUDIT_ACTIONS]
    merged.sort(key=lambda item: item[:3])
    runs, out, noted, failed = _Runs(ctx.region), [], False, set()
    for when, source, _, item in merged:
        if source == 1:
            out.append(Row(item["at"], _audit_text(item, noted), f"audit-{item['action']}"))
            if item["action"] == "note":
                noted = (item.get("detail") or {}).get("length") != 0
            continue
        if not isinstance(item.get("detail"), dict):
            item = {**item, "detail": {}}
        started = runs.add(item, when)
        if item["kind"] in (Event.RING, Event.DIGIT):
            if started:
                out.append(started)
            continue
        text = sentence(item, ctx)
        if item["kind"] in (Event.DEVICE_ERROR, Event.DEVICE_OK):
            device = device_kind(item["detail"])
            if item["kind"] == Event.DEVICE_ERROR:
                failed.add(device)
            elif device not in failed:
                continue
            else:
                failed.discard(device)
                text += " again"
        out.append(Row(item["at"], text, str(item["kind"]), TONES.get(item["kind"], "")))
    return out
