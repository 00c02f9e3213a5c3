"""What the access package says about one call (appliance/export/evidence_package.py): its catalog
fields in plain keys (times in UTC and in the box's zone, the line and its name, the numbers, the
recording's SHA-256 and size, the note, the hold, the pause windows), its events as the call page
words them beside their raw kind, time and detail, and the audit entries that name it.

The events are the call's own and its line's context from just before it (rings, caller ID,
device trouble), as the call page shows them, less what happened on the line before its previous
call ended and a caller ID heard on the line that is not this number: another caller's number is
not theirs to receive."""
from __future__ import annotations

from datetime import tzinfo
from typing import Any

import sqlite_utils

from ..present import events as eventwords, numbers, pause_events, reasons, timeline, zone as zonemod
from ..present.words import direction, status
from ..store import by_number, catalog, exports, times
from ..store.box import BoxFacts
from ..store.kinds import NOT_KEPT, Event


def _moment(iso_text: str | None, zone: tzinfo) -> dict[str, str | None]:
    return {"utc": iso_text, "local": zonemod.iso_local(iso_text, zone)}


def _foreign_callerid(event: dict[str, Any], key: str, region: str) -> bool:
    """A caller ID heard on the line, not tied to a call, that is some other number (or none)."""
    if event.get("call_id") is not None or event.get("kind") != Event.CALLERID:
        return False
    said = str((event.get("detail") or {}).get("number") or "")
    try:
        return by_number.key_of(said, region) != key
    except by_number.NumberError:
        return True


def events_of(db: sqlite_utils.Database, call: dict[str, Any], key: str, region: str) -> list[dict[str, Any]]:
    """The call's timeline (catalog.call_timeline), less the line's events from before the line's
    previous call ended (they are that call's) and other numbers' caller IDs."""
    found = catalog.call_timeline(db, call, times.seconds(times.now()))
    free_since = exports.line_free_since(db, call)
    return [e for e in found if e.get("call_id") == call["id"] or (
        e.get("call_id") is None and (free_since is None or times.parse(e["at"]) > times.parse(free_since))
        and not _foreign_callerid(e, key, region))]


def _party_numbers(call: dict[str, Any], region: str) -> dict[str, Any]:
    return {"party": numbers.party(call, region),
            "caller_id_number": call.get("remote_number"), "caller_id_name": call.get("remote_name"),
            "number_withheld": bool(call.get("remote_withheld")), "dialed_digits": call.get("dialed")}


def _recording(call: dict[str, Any], file: str | None, left_out: str | None) -> dict[str, Any] | None:
    if not call.get("path"):
        return None
    shown = {"file": file, "sha256": call.get("sha256"), "size_bytes": call.get("size_bytes"),
             "audio_s": call.get("audio_s"), "preroll_s": call.get("preroll_s"),
             "sample_rate_hz": call.get("sample_rate"), "bitrate_kbps": call.get("bitrate_kbps")}
    if left_out:
        shown["left_out_because"] = left_out
    return shown


def _why_not_kept(db: sqlite_utils.Database, call: dict[str, Any]) -> str | None:
    if call.get("status") not in NOT_KEPT:
        return None
    found = catalog.reasons_not_kept(db, [call["id"]])
    return reasons.why_not_kept(*found[call["id"]]) if call["id"] in found else reasons.NO_REASON


def record(db: sqlite_utils.Database, call: dict[str, Any], box: BoxFacts, zone: tzinfo, key: str,
           file: str | None, left_out: str | None, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The call's metadata JSON (file: the recording's name in the package, None when there is none
    or it was left out; left_out: why; entries: the audit entries that name this call)."""
    region = box.phone_region
    found = events_of(db, call, key, region)
    ctx = eventwords.Context(region=region, call_id=call["id"], direction=call.get("direction"),
                             part=call.get("part") or 1, started_at=call["started_at"])
    story = timeline.rows(found, ctx, [e for e in entries if e.get("target") == call["id"]])
    return {
        "call_id": call["id"], "part": call.get("part") or 1, "previous_part": call.get("previous_id"),
        "started": _moment(call.get("started_at"), zone), "ended": _moment(call.get("ended_at"), zone),
        "time_zone": zonemod.zone_label(zone, times.parse(call["started_at"])), "duration_s": call.get("duration_s"),
        "line": call.get("line"), "line_name": box.line_name(call["line"]),
        "direction": call.get("direction"), "direction_words": direction(call.get("direction")),
        **_party_numbers(call, region),
        "status": call.get("status"), "status_words": status(call.get("status")),
        "why_no_recording": _why_not_kept(db, call),
        "recording": _recording(call, file, left_out),
        "clock_synchronised": bool(call.get("clock_synced")),
        "on_hold": bool(call.get("held")), "note": call.get("note"),
        "deleted": _moment(call.get("deleted_at"), zone) if call.get("deleted_at") else None,
        "pause_windows": pause_events.windows(call, found),
        "story": [{"at": _moment(r.at, zone), "text": r.text} for r in story],
        "events": [{"at": _moment(e["at"], zone), "call_id": e.get("call_id"), "kind": e["kind"],
                    "sentence": eventwords.sentence(e, ctx), "detail": e.get("detail")} for e in found],
        "audit_entry_ids": [e["id"] for e in entries],
    }
