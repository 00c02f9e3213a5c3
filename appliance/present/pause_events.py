"""Sentences for the pause of a call for a card payment and the keys cut out of its recording
(appliance/line/pause.py, keyed.py): "Recording paused by ann (web page)", "Recording resumed by
itself after 3 minutes", "4 keys typed on the keypad were cut out of the recording"."""
from __future__ import annotations

from typing import Any

from ..store import times
from ..store.kinds import Status
from .words import as_number, plural, span

BY = {"web": "{user} (web page)", "api": "{user} (API)", "console": "{user} (console)",
      "button": "the line's pause button", "keypad": "a code keyed on the handset"}


CUT_OFF = "The recording was cut off while paused"


def by_whom(d: dict[str, Any]) -> str:
    """Who paused or resumed, as people say it: 'ann (web page)', "the line's pause button"."""
    how = BY.get(str(d.get("by") or ""))
    if how is None:
        return "someone"
    user = str(d.get("user") or "").removeprefix("console:") or "someone"
    return how.format(user=user)


def paused(d: dict[str, Any], ctx) -> str:
    if d.get("continued"):
        return "Still paused: the pause goes on from the part before"
    return f"Recording paused by {by_whom(d)}"


def resumed(d: dict[str, Any], ctx) -> str:
    seconds = as_number(d.get("after_s"))
    after = f" after {span(seconds)}" if seconds is not None else ""
    if d.get("ended") == "split":
        return "The pause goes on in the next part"
    if d.get("ended") == "call-end":
        return f"The pause ended with the call{after}"
    if d.get("automatic"):
        return f"Recording resumed by itself{after}, the longest pause allowed"
    return f"Recording resumed by {by_whom(d)}{after}"


def masked(d: dict[str, Any], ctx) -> str:
    keys = int(as_number(d.get("keys")) or 0)
    return f"{plural(keys, 'key')} typed on the keypad cut out of the recording"


def windows(call: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pause windows of one call part, from its paused and resume events: where each begins
    in the file and how long it lasts (seconds), who paused it, and how it ended when nobody
    resumed it (by itself, with the call, in the next part). One still open: length None while
    the call is in progress; in a part that is over (the recorder was killed mid-pause and the part
    recovered: no resume was logged) it lasts to the end of the file, which holds its silence."""
    started = times.seconds(call["started_at"]) - (call.get("preroll_s") or 0.0)
    found: list[dict[str, Any]] = []
    for event in events:
        if event.get("call_id") != call["id"]:
            continue
        detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
        at = times.seconds(event["at"]) - started
        if event.get("kind") == "paused":
            found.append({"start_s": round(at, 3), "length_s": None, "by": by_whom(detail),
                          "continued": bool(detail.get("continued")), "ended": None})
        elif event.get("kind") == "resume" and found and found[-1]["length_s"] is None:
            found[-1]["length_s"] = round(max(0.0, at - found[-1]["start_s"]), 3)
            found[-1]["ended"] = resumed(detail, None) if detail.get("automatic") else None
    end_s = (call.get("duration_s") or 0.0) + (call.get("preroll_s") or 0.0)
    if found and found[-1]["length_s"] is None and call.get("status") != Status.RECORDING and end_s:
        found[-1]["length_s"] = round(max(0.0, end_s - found[-1]["start_s"]), 3)
        found[-1]["ended"] = CUT_OFF
    return found
