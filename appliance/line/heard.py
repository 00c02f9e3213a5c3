"""What a line's sources and detectors told it, applied in order by the line's own thread: hook
levels (and the rings a sense input shows among them), rings, caller ID, digits (keyed.py) and
the ends of their tones, pause commands and the pause button, new settings.
"""
from __future__ import annotations

from typing import Any

from ..hook.base import HookEvent
from ..store.dnr import hidden_caller_id
from ..store.kinds import Event
from .pause import command as pause_command
from .policy import listed


def apply_event(line, ev: HookEvent) -> None:
    """One event from the line's queue (line: appliance.line.thread.Line)."""
    call = line.session.call
    if ev.kind in ("offhook", "onhook"):
        line.hook_level.report(ev.kind == "offhook", ev.frame)
        if line.sense_rings is not None:
            rang = line.sense_rings.edge(ev.kind == "offhook", ev.frame, idle=not line.hook_level.offhook)
            if rang is not None:
                ring(line, rang, {"source": "sense"})
    elif ev.kind == "settings":
        line.settings.update(ev.detail)
        line.detectors.update(line.settings)
    elif ev.kind == "dnr":
        line.session.policy.do_not_record.listed = ev.detail["listed"]
    elif ev.kind == "carry":        # the daemon, at start: the call a crash cut may go on (line/carry.py)
        line.session.retry.carry(ev.detail["previous"], line.pos + ev.detail["frames"])
        if ev.detail.get("paused") is not None:     # paused then: the part that goes on starts paused
            line.pause.carry(ev.detail["previous"][0], ev.detail["paused"])
    elif ev.kind == "ring":
        ring(line, ev.frame, ev.detail)
    elif ev.kind == "callerid":
        line.who.caller_id(ev.frame, ev.detail)
        # A number on the do-not-record list is matched as it comes, before the answer: not stored.
        line.event(Event.CALLERID, ev.frame, line.session.call_id,
                   **hidden_caller_id(ev.detail, line.session.policy.do_not_record.listed))
        fields = line.who.late_caller_id(ev.frame, call.offhook_frame, call.info) if call and not listed(call.dropped) \
            else None
        if fields:
            line.session.learnt(fields, line.pos)
    elif ev.kind == "digit":
        if call is None:
            line.digits.wait_for_call(ev.frame, ev.detail["digit"])
        elif not listed(call.dropped):      # keyed on a call on the do-not-record list: not stored
            line.keys.heard(ev.frame, ev.detail["digit"], line.settings)
    elif ev.kind == "digit-end":
        line.keys.released(ev.frame)
    elif ev.kind in ("pause", "resume", "button"):
        pause_command(line, ev)
    else:
        line.event(ev.kind, ev.frame, **ev.detail)


def ring(line, frame: int, detail: dict[str, Any]) -> None:
    """A ring from any of the line's sources; one heard by two of them is one ring event."""
    if line.who.ring(frame):
        line.event(Event.RING, frame, line.session.call_id, **detail)
