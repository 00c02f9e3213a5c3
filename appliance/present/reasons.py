"""Why a call has no recording, in plain words: the reason of its 'discard' or 'deleted' event.

New events carry the rule and its figures (`rule`, `talk_s`, `min_call_s`, `days`, ...) beside
the old `reason` text; older catalogs have the text alone, which is read by the same rules, so
a call discarded years ago reads like one discarded today. A reason no rule knows is shown as
it was written.
"""
from __future__ import annotations

import re
from typing import Any

from ..store.kinds import Event
from .words import as_number, first_upper, person, plural, seconds_text

NO_REASON = "No reason was recorded"

# The texts the recorder wrote before events carried their rule (and still writes beside it).
_TOO_SHORT = re.compile(r"shorter than min_call_s \((?P<talk_s>[\d.]+) s < (?P<min_call_s>[\d.]+) s\)")
_RETENTION = re.compile(r"retention: older than (?P<days>\d+) days?")
_GUARD = re.compile(r"disk guard: free space below (?P<reserve_pct>[\d.]+) ?%")
_BY_PERSON = re.compile(r"deleted by (?P<by>.+)")
_OLD_TEXTS = {
    "recording is off for this line": "recording-off",
    "recovered after a crash, but no audio had reached the disk": "crash-no-audio",
    "recovered after a crash, but the recording file was never written": "crash-no-file",
}


def rule_of(kind: str, detail: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The rule that dropped or deleted the call and its figures, from the structured fields or,
    for older events, from the reason text."""
    if detail.get("rule"):
        return str(detail["rule"]), detail
    text = str(detail.get("reason") or "")
    if text in _OLD_TEXTS:
        return _OLD_TEXTS[text], detail
    for rule, pattern in (("too-short", _TOO_SHORT), ("retention", _RETENTION), ("disk-guard", _GUARD)):
        match = pattern.fullmatch(text)
        if match:
            return rule, {**detail, **match.groupdict()}
    if kind == Event.DELETED and (detail.get("by") or _BY_PERSON.fullmatch(text)):
        return "person", {**detail, "by": detail.get("by") or _BY_PERSON.fullmatch(text)["by"]}
    return None, detail


def _too_short(facts: dict[str, Any]) -> str:
    talk, minimum = as_number(facts.get("talk_s")), as_number(facts.get("min_call_s"))
    if talk is None or minimum is None:
        return "Too short to keep"
    said = seconds_text(talk)
    if said == seconds_text(minimum):     # 1.96 s against 2 s: say the hundredths that made the difference
        said = seconds_text(talk, 2)
    return f"Too short to keep: {said} of talk, the minimum is {seconds_text(minimum)}"


def _retention(facts: dict[str, Any]) -> str:
    days = as_number(facts.get("days"))
    return "Deleted by retention" + (f": older than {plural(int(days), 'day')}" if days is not None else "")


def _disk_guard(facts: dict[str, Any]) -> str:
    pct, gb = as_number(facts.get("reserve_pct")), as_number(facts.get("reserve_gb"))
    if pct is None:
        return "Deleted to free disk space"
    floor = f"{pct:g}% of the disk" + (f" or {gb:g} GB" if gb else "")
    return f"Deleted to free disk space: less than {floor} was free"


def _size_cap(facts: dict[str, Any]) -> str:
    cap = as_number(facts.get("cap_gb"))
    return "Deleted by the size cap" + (f": the recordings took more than {cap:g} GB" if cap is not None else "")


def _erasure(facts: dict[str, Any]) -> str:
    by = facts.get("by")
    return "Erased on request, with every call with the same number" + (f", by {person(str(by))}" if by else "")


def _by_person(facts: dict[str, Any]) -> str:
    said = f"Deleted by {person(str(facts.get('by')))}"
    text = str(facts.get("reason") or "")
    if text and not _BY_PERSON.fullmatch(text):      # a reason of their own: "asked by the customer"
        said += f": {text}"
    return said


def _do_not_record(facts: dict[str, Any]) -> str:
    label = str(facts.get("label") or "").strip()
    return "Not recorded: do-not-record list" + (f", {label}" if label else "")


_SENTENCES = {
    "recording-off": lambda facts: "Recording is turned off for this line",
    "do-not-record": _do_not_record,
    "too-short": _too_short,
    "crash-no-audio": lambda facts: "The recorder stopped unexpectedly before any audio reached the disk",
    "crash-no-file": lambda facts: "The recorder stopped unexpectedly before the recording file was written",
    "crash-unreadable": lambda facts: "The recorder stopped unexpectedly and no audio in its file could be read. "
                                      "The file is kept in the quarantine folder for a technician",
    "missing-file": lambda facts: "The recording's file was missing when the store was checked",
    "retention": _retention,
    "disk-guard": _disk_guard,
    "size-cap": _size_cap,
    "erasure": _erasure,
    "disk-full": lambda facts: "Not recorded: the disk was below its free-space floor, and the box is set to "
                               "stop recording when full",
    "no-room": lambda facts: "Not recorded: the data disk was full (what was left is kept for the catalog)",
    "person": _by_person,
}


def why_not_kept(kind: str, detail: dict[str, Any] | None) -> str:
    """The reason of a 'discard' or 'deleted' event as a sentence: 'Too short to keep: 1 second of
    talk, the minimum is 2 seconds', 'Deleted by retention: older than 90 days', 'Deleted by alice'."""
    detail = detail if isinstance(detail, dict) else {}
    rule, facts = rule_of(kind, detail)
    if rule in _SENTENCES:
        return _SENTENCES[rule](facts)
    text = str(detail.get("reason") or "").strip()
    if not text:
        return "Deleted" if kind == Event.DELETED else NO_REASON
    return first_upper(text) if kind != Event.DELETED else f"Deleted: {text}"
