"""When things happen on each simulated line, in frames of its capture stream.

The scenario's calls and faults become (frame, action, argument) events: hook (off-hook True or
False), ring, sense (a `rings = "sense"` line's pin blinking while it rings: the level, True where
an off-hook would drive it), cid (caller-ID lines), and the serial devices' faults hang, gone and
monitor-gone (True at the start, False at the end), and button (a press of the line's pause
button). A line with `audio-gone` faults has capture outages
instead: the scenario's time during one never reaches the stream, so everything after it
happens that much earlier in stream frames.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from .office import RING_ON_S, RING_PERIOD_S, Scenario, SimCall
from .scenario import CALLERID_AFTER_RING_S, SENSE_RING_HZ

Event = tuple[int, str, Any]   # (stream frame, action, argument)
FAULT_ACTIONS = {"modem-hang": "hang", "modem-gone": "gone", "monitor-gone": "monitor-gone"}


class Outages:
    """One line's capture-device outages: (first, end) scenario frames within one loop of `loop`
    frames (0: the scenario does not repeat), period-aligned so the stream stops and resumes on
    whole periods."""

    def __init__(self, spans: list[tuple[int, int]], loop: int) -> None:
        self.spans = spans
        self.loop = loop

    def __bool__(self) -> bool:
        return bool(self.spans)

    def stream_frame(self, frame: int) -> int:
        """Where scenario frame `frame` falls in the line's capture stream. Outages before it never
        reach the stream; what happens during one is heard just after the device is back."""
        if not self.spans:
            return frame
        cycle, within = divmod(frame, self.loop) if self.loop else (0, frame)
        lost = cycle * sum(end - first for first, end in self.spans)
        for first, end in self.spans:
            if within >= end:
                lost += end - first
            elif within >= first:
                lost += within - first - 1
        return frame - lost

    def next_from(self, pos: int) -> tuple[int, int] | None:
        """The next outage (first, end) in absolute scenario frames starting at or after pos."""
        if not self.spans:
            return None
        cycle = pos // self.loop if self.loop else 0
        for c in (cycle, cycle + 1) if self.loop else (0,):
            for first, end in self.spans:
                if c * self.loop + first >= pos:
                    return c * self.loop + first, c * self.loop + end
        return None


def capture_outages(scenario: Scenario, rate: int, period: int, loop: int) -> dict[int, Outages]:
    """Every line's Outages, from the scenario's audio-gone faults."""
    spans: dict[int, list[tuple[int, int]]] = {line.id: [] for line in scenario.lines}
    for fault in (f for f in scenario.faults if f.kind == "audio-gone"):
        first = round(fault.at * rate / period) * period
        spans[fault.line].append((first, first + max(1, round(fault.duration * rate / period)) * period))
    return {line_id: Outages(line_spans, loop) for line_id, line_spans in spans.items()}


def caller_id_lines(scenario: Scenario, call: SimCall) -> list[str]:
    """What a modem prints for the call's caller ID (the raw form is sent verbatim)."""
    if "lines" in call.caller_id:
        return call.caller_id["lines"]
    when = datetime.fromtimestamp(scenario.start + call.at, timezone.utc)
    lines = [f"DATE = {when:%m%d}", f"TIME = {when:%H%M}", f"NMBR = {call.caller_id['number']}"]
    if call.caller_id.get("name"):
        lines.append(f"NAME = {call.caller_id['name']}")
    return lines


def sense_ring(at: float) -> list[tuple[float, int, str, Any]]:
    """One ring burst on a sense input from scenario second `at`: SENSE_RING_HZ for RING_ON_S,
    starting towards the off-hook level and ending back at the on-hook one."""
    half = 1 / (2 * SENSE_RING_HZ)
    return [(at + k * half, 0, "sense", k % 2 == 0) for k in range(round(RING_ON_S / half))]


def line_actions(scenario: Scenario, line_id: int) -> list[tuple[float, int, str, Any]]:
    """(scenario seconds, order, action, argument) for one loop of a line, in order; at the same
    moment a ring, caller ID or fault (order 0) comes before a hook change (order 1)."""
    sim_line = next(x for x in scenario.lines if x.id == line_id)
    actions: list[tuple[float, int, str, Any]] = []
    for call in (c for c in scenario.calls if c.line == line_id):
        if sim_line.offhook != "vox":
            actions += [(call.offhook_s, 1, "hook", True), (call.onhook_s, 1, "hook", False)]
        if call.direction == "inbound":
            actions += [(call.at + k * RING_PERIOD_S, 0, "ring", None) for k in range(call.rings)]
            if sim_line.rings == "sense":
                actions += [edge for k in range(call.rings) for edge in sense_ring(call.at + k * RING_PERIOD_S)]
            if call.caller_id and sim_line.callerid == "modem":
                actions.append((call.at + RING_ON_S + CALLERID_AFTER_RING_S, 0, "cid",
                                caller_id_lines(scenario, call)))
    actions += [(action.at, 0, "button", None) for action in scenario.actions if action.line == line_id]
    for fault in (f for f in scenario.faults if f.line == line_id and f.kind != "audio-gone"):
        kind = FAULT_ACTIONS[fault.kind]
        actions += [(fault.at, 0, kind, True), (fault.end_s, 0, kind, False)]
    actions.sort(key=lambda a: (a[0], a[1]))
    return actions


def line_events(scenario: Scenario, line_id: int, rate: int, loop: int, outages: Outages) -> Iterator[Event]:
    """A line's events in stream frames, in order; forever for a looping scenario."""
    actions = line_actions(scenario, line_id)
    cycle = 0
    while True:
        for at, _, kind, arg in actions:
            yield outages.stream_frame(cycle * loop + int(round(at * rate))), kind, arg
        if not loop or not actions:   # a looping line with nothing to do would spin here forever
            return
        cycle += 1


class Schedule:
    """Every line's events still to come, handed out as the line's stream reaches them."""

    def __init__(self, scenario: Scenario, rate: int, loop: int, outages: dict[int, Outages]) -> None:
        self._events = {line.id: line_events(scenario, line.id, rate, loop, outages[line.id])
                        for line in scenario.lines}
        self._next = {line_id: next(it, None) for line_id, it in self._events.items()}

    def replace(self, line_id: int, changes: list[tuple[int, bool]]) -> None:
        """Replace a line's events with hook changes, (frame, offhook) pairs."""
        self._events[line_id] = iter(sorted((frame, "hook", level) for frame, level in changes))
        self._next[line_id] = next(self._events[line_id], None)

    def due(self, line_id: int, pos: int) -> Iterator[tuple[str, Any]]:
        """(action, argument) of each event at or before stream frame pos, in order; an event is
        taken off the schedule once the caller has acted on it."""
        due = self._next[line_id]
        while due is not None and due[0] <= pos:
            yield due[1], due[2]
            due = self._next[line_id] = next(self._events[line_id], None)
