"""What a recording's ID3 tags say, in the owner's words: a title a car stereo or Windows
Explorer can show in a list ("Inbound from ACME PLUMBING, 4 Mar 2026 14:12, line 1"), the other
party as the artist, the line as the album, and a comment with the call id and its length.
Times are in the box's zone, numbers as written in its region, lines by their names; caller-ID
names lose any control characters on the way, so a tag never carries one."""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from ..store import times
from ..store.box import BoxFacts
from . import zone as zonemod
from .events import dialed as dialed_words
from .numbers import party, readable
from .words import clock, first_upper

TEXT_MAX = 80            # caller-ID names are at most 15 characters; anything longer is noise
_SPACES = re.compile(r"\s+")


def clean(text: Any) -> str:
    """Text fit for a tag: control and format characters (a modem's CR, NUL, bidi marks) become
    spaces, runs of spaces one, at most TEXT_MAX characters."""
    if text is None:
        return ""
    kept = "".join(" " if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in str(text))
    return _SPACES.sub(" ", kept).strip()[:TEXT_MAX].strip()


def _who(call: dict[str, Any], region: str) -> str:
    """Who the call was with, in a title: the caller-ID name, else the number; '' when not known."""
    if call.get("direction") == "outbound":
        digits = call.get("dialed")
        return clean(dialed_words(digits, region) if digits else readable(call.get("remote_number"), region))
    name = clean(call.get("remote_name"))
    if name:
        return name
    if call.get("remote_number"):
        return clean(readable(call["remote_number"], region))
    if call.get("remote_withheld"):
        return "a withheld number"
    return clean(dialed_words(call["dialed"], region)) if call.get("dialed") else ""


def line_words(box: BoxFacts, line_id: int) -> str:
    """A line as a title names it: its own name ('Front desk'), or 'line 2' when it has none."""
    name = clean(box.line_name(line_id))
    return f"line {line_id}" if name in ("", f"Line {line_id}") else name


def moment(call: dict[str, Any], box: BoxFacts) -> datetime:
    """When the call started, in the box's zone."""
    return times.parse(call["started_at"]).astimezone(zonemod.box_zone(box.timezone))


def title(call: dict[str, Any], box: BoxFacts) -> str:
    """'Inbound from ACME PLUMBING, 4 Mar 2026 14:12, line 1', 'Outbound to (415) 555-0123, …',
    'Call on Front desk, 4 Mar 2026 14:12' when nothing is known; ', part 2' for a later part."""
    when = zonemod.day_and_time(moment(call, box))
    line = line_words(box, call["line"])
    who = _who(call, box.phone_region)
    way = call.get("direction")
    if who:
        head = {"inbound": "Inbound from", "outbound": "Outbound to"}.get(way or "", "Call with")
        text = f"{head} {who}, {when}, {line}"
    else:
        head = {"inbound": "Inbound call", "outbound": "Outbound call"}.get(way or "", "Call")
        text = f"{head} on {line}, {when}"
    part = call.get("part") or 1
    return f"{text}, part {part}" if part > 1 else text


def artist(call: dict[str, Any], box: BoxFacts) -> str:
    """The other party, so a player lists each caller's calls together: the name caller ID gave,
    else the number ('Number withheld', 'Number not known')."""
    return clean(call.get("remote_name")) or first_upper(clean(party(call, box.phone_region)))


def album(call: dict[str, Any], box: BoxFacts) -> str:
    """'Hookline — Front desk': one album per line."""
    return f"Hookline — {clean(box.line_name(call['line']))}"


def comment(call: dict[str, Any], box: BoxFacts) -> str:
    """'Call 20260304-141200-ab12 on line 1, inbound, (415) 555-0123, 3:05 long. Left channel: the
    office; right channel: the line.'"""
    way = call.get("direction") or "direction not known"
    length = f", {clock(call['duration_s'])} long" if call.get("duration_s") is not None else ""
    return (f"Call {clean(call['id'])} on {line_words(box, call['line'])}, {way}, "
            f"{clean(party(call, box.phone_region))}{length}. Left channel: the office; right channel: the line.")
