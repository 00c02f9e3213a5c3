"""What a call's page says besides the player: its heading, its story as sentences (line events
and what people did to it), who wrote its note and when, why it has no recording, and, for
technicians only, the raw facts (file, hash, device paths, modem strings, levels)."""
from __future__ import annotations

import json
import time
from typing import Any

from appliance.present import events as eventwords, pause_events, reasons, retention as retention_words, timeline, words
from appliance.present.numbers import readable
from appliance.present.words import person
from appliance.recording.peaks import DECODER_DELAY
from appliance.store import ages as agesmod, audit, catalog
from appliance.store.kinds import FINISHED, NOT_KEPT, Event

from .db import get_box, get_db, get_zone

# Call fields a technician reads in the technical details: label, and how the value is written.
TECHNICAL_FIELDS = (
    ("id", "Call id", str), ("path", "File", str),
    ("size_bytes", "Size", lambda n: f"{words.size(n)} ({n} bytes)"), ("sha256", "SHA-256", str),
    ("audio_s", "Audio length", lambda s: f"{s:g} s"), ("preroll_s", "Pre-roll", lambda s: f"{s:g} s"),
    ("sample_rate", "Sample rate", lambda n: f"{n} Hz"), ("bitrate_kbps", "MP3 bit rate", lambda n: f"{n} kbit/s"),
    ("previous_id", "Previous part", str),
    ("clock_synced", "Clock", lambda synced: "synchronised" if synced else "not synchronised"),
)


def heading(call: dict[str, Any]) -> str:
    """'Call from DOE JOHN, (555) 123-4567 on Front desk', 'Call to 020 7946 0000 from Warehouse',
    'Call on Line 2' (what is known, nothing that isn't)."""
    box = get_box()
    line = box.line_name(call["line"])
    number = readable(call.get("remote_number") or "", box.phone_region)
    if call.get("direction") == "outbound":
        to = readable(call.get("dialed") or "", box.phone_region) or number
        return f"Call to {to} from {line}" if to else f"Outgoing call from {line}"
    caller = ", ".join(p for p in (call.get("remote_name"), number) if p)
    if not caller and call.get("remote_withheld"):
        caller = "a withheld number"
    if call.get("direction") == "inbound":
        return f"Call from {caller} on {line}" if caller else f"Incoming call on {line}"
    if call.get("dialed") and not caller:       # digits heard, but the line cannot tell who called whom
        return f"Call on {line}: dialed {eventwords.dialed(call['dialed'], box.phone_region)}"
    return f"Call with {caller} on {line}" if caller else f"Call on {line}"


def linked_events(following: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The next part's split or resumed event: on this part's page it says the call goes on there."""
    if not following:
        return []
    return [e for e in catalog.list_events(get_db(), call_id=following["id"]) if e["kind"] in (Event.SPLIT,
                                                                                              Event.RESUMED)]


def people_entries(call_id: str) -> list[dict[str, Any]]:
    """The audit entries of what people did to the call that belong to its story (kept, released, noted)."""
    db = get_db()
    return [e for action in timeline.AUDIT_ACTIONS
            for e in audit.entries(db, action=action, target=call_id, limit=audit.MAX_LIMIT)]


def note_author(call: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Who wrote the note as it stands, and when: the newest 'note' audit entry, if it set one."""
    notes = sorted((e for e in entries if e["action"] == "note"), key=lambda e: e["id"])
    if not call.get("note") or not notes or (notes[-1].get("detail") or {}).get("length") == 0:
        return None
    return {"who": person(notes[-1].get("user")), "at": notes[-1]["at"]}


def reasons_for(call_ids: list[str]) -> dict[str, str]:
    """call id -> why it has no recording, in plain words (one query for them all)."""
    found = catalog.reasons_not_kept(get_db(), call_ids)
    return {call_id: reasons.why_not_kept(*found[call_id]) if call_id in found else reasons.NO_REASON
            for call_id in call_ids}


def not_kept_reasons(calls: list[dict[str, Any]]) -> dict[str, str]:
    """For a list of calls on a page (today's): the reasons of those that were not kept."""
    return reasons_for([c["id"] for c in calls if c.get("status") in NOT_KEPT])


def why_not_kept(call: dict[str, Any]) -> str | None:
    """Why a discarded or deleted call has no recording, in plain words."""
    return reasons_for([call["id"]])[call["id"]] if call["status"] in NOT_KEPT else None


def protected(calls: list[dict[str, Any]]) -> dict[str, str]:
    """call id -> the day until which its line's minimum age protects it, for the calls that are
    protected now (none deleted, none still recording)."""
    ages, now = agesmod.load(get_db()), time.time()
    out = {}
    for call in calls:
        until = ages.protected_until(call.get("line"), call.get("started_at"))
        if until is not None and now < until and call.get("status") in FINISHED:
            out[call["id"]] = retention_words.day(until, get_zone())
    return out


def technical_facts(call: dict[str, Any]) -> list[tuple[str, str]]:
    return [(label, shown(call[key])) for key, label, shown in TECHNICAL_FIELDS if call.get(key) is not None]


def technical_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The raw events for a technician: kind and every field of the detail, as stored."""
    return [{"at": e["at"], "kind": e["kind"], "call_id": e.get("call_id"),
             "fields": [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                        for k, v in sorted((e.get("detail") or {}).items())]}
            for e in events]


def context(row: dict[str, Any], previous: dict[str, Any] | None, following: dict[str, Any] | None,
            technical: bool) -> dict[str, Any]:
    """Everything call.html shows of a call, but its forms and player."""
    call = catalog.public_call(row)
    events = catalog.call_timeline(get_db(), row, time.time()) + linked_events(following)
    people = people_entries(call["id"])
    ctx = eventwords.Context(region=get_box().phone_region, call_id=call["id"], direction=call.get("direction"),
                             part=call.get("part") or 1, started_at=call["started_at"])
    return {
        "call": call, "previous": previous, "following": following, "heading": heading(call),
        "rows": timeline.rows(events, ctx, people), "note_by": note_author(call, people),
        "reason": why_not_kept(call), "protected": retention_words.protected_until(protected([call]).get(call["id"])),
        "dialed": eventwords.dialed(call.get("dialed") or "", ctx.region),
        "pauses": pause_events.windows(call, events),
        # The waveform and the player run on the decoded file's timeline, the codec's delay later.
        "playback_lead_s": DECODER_DELAY / call["sample_rate"] if call.get("sample_rate") else 0.0,
        "technical": {"facts": technical_facts(call), "events": technical_events(events)} if technical else None,
    }
