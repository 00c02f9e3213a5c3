"""What one line event means, as a sentence an owner reads: "Answered", "Hung up after 4:12",
"Caller ID: ACME PLUMBING, (415) 555-0123", "The audio interface stopped responding".

Device paths, modem strings, pins and levels stay out of the sentences: the technician reads
them in the raw event (the call page's technical details, `hookline events --json`). Rings and
dialed digits come in runs, which present.timeline joins into one row. A kind this module does
not know still reads as a sentence (its name, and its message if it has one).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ..store.kinds import Event
from . import pause_events
from .numbers import readable
from .reasons import why_not_kept
from .words import as_number, clock, first_upper, plural, span


@dataclass(frozen=True)
class Context:
    """What the sentences need to know about the call whose page they are on."""
    region: str = "US"                  # the box's phone region, for numbers
    call_id: str | None = None          # the call the page is about (a next part's events say so)
    direction: str | None = None        # the call's direction as finally known
    part: int = 1
    started_at: str | None = None       # when it went off-hook (ISO): rings before it may be its own


# -- the call -------------------------------------------------------------------------------------
def _offhook(d: dict[str, Any], ctx: Context) -> str:
    direction = ctx.direction or d.get("direction")
    said = {"inbound": "Answered", "outbound": "Picked up to make a call"}.get(direction, "Picked up")
    return said + (", not recorded" if d.get("recording") is False else "")


ONHOOK_REASONS = {
    "recorder stopped": "Recording ended after {t}: the recorder was stopped",
    "hung up before recording could resume": "Hung up before recording could resume",
}


def _onhook(d: dict[str, Any], ctx: Context) -> str:
    seconds = as_number(d.get("duration_s"))
    reason = str(d.get("reason") or "")
    if reason in ONHOOK_REASONS:
        return ONHOOK_REASONS[reason].format(t=clock(seconds))
    said = "Hung up" if seconds is None else f"Hung up after {clock(seconds)}"
    if seconds is not None and ctx.part > 1:
        said = f"Hung up, {clock(seconds)} into part {ctx.part}"
    return said + (f" ({reason})" if reason else "")


def caller_id(d: dict[str, Any], region: str) -> str:
    """'Caller ID: ACME PLUMBING, (415) 555-0123'; a withheld or unavailable number says so, and
    one on the do-not-record list is not stored."""
    if d.get("hidden") == "do-not-record":
        return "Caller ID: a number on the do-not-record list (not stored)"
    name = str(d.get("name") or "").strip()
    number = readable(str(d.get("number") or ""), region)
    if not number and d.get("withheld"):
        why = d.get("withheld_reason")
        number = "no number (out of area or unavailable)" if why == "unavailable" else "the number is withheld"
    shown = ", ".join(p for p in (name, number) if p)
    return f"Caller ID: {shown}" if shown else "Caller ID came, but empty"


def dialed(digits: str, region: str) -> str:
    """Digits as one reads them: a phone number as written in the region ('(415) 555-0123'), else
    in groups of three from the right ('0123 456 789'); short codes and star codes as they came."""
    if not digits.isdigit() or len(digits) <= 4:
        return digits
    shown = readable(digits, region)
    if shown != digits:
        return shown
    groups = [digits[max(0, end - 3):end] for end in range(len(digits), 0, -3)][::-1]
    if len(groups[0]) == 1:                     # '0 123 456 789' reads worse than '0123 456 789'
        groups[:2] = [groups[0] + groups[1]]
    return " ".join(groups)


def _split(d: dict[str, Any], ctx: Context, own: bool) -> str:
    limit = as_number(d.get("max_call_s"))
    if limit is None:
        match = re.search(r"max_call_s \(([\d.]+) s\)", str(d.get("reason") or ""))
        limit = float(match[1]) if match else None
    why = f" (a recording is cut every {span(limit)})" if limit else ""
    part = d.get("part")
    if own:
        return f"Part {part} begins: the call goes on from the part before{why}"
    return f"Recording split: continues in part {part}{why}"


def _resumed(d: dict[str, Any], ctx: Context, own: bool) -> str:
    if own:
        return "Recording resumed after an interruption: this part goes on from the one before"
    return "Recording interrupted: the call goes on in the next part"


def _stuck(d: dict[str, Any], ctx: Context) -> str:
    silent = as_number(d.get("silent_s"))
    if silent is None:
        match = re.search(r"off-hook for (\d+) s", str(d.get("message") or ""))
        silent = float(match[1]) if match else None
    how_long = f" for {span(silent)}" if silent else ""
    return (f"Only silence{how_long}: the phone may have been left off the hook, or the hook sensor is stuck. "
            "Recording paused until it is hung up")


def _recovered(d: dict[str, Any], ctx: Context) -> str:
    audio = as_number(d.get("audio_s"))
    saved = f": {clock(audio)} of audio saved" if audio is not None else ""
    return f"Finished after the recorder stopped unexpectedly{saved}"


def _gap(d: dict[str, Any], ctx: Context) -> str:
    at, lost = as_number(d.get("at_s")), as_number(d.get("lost_s"))
    where = f" at {clock(at)}" if at is not None else ""
    how_long = f"{span(lost)} of" if lost else "Some"
    return (f"{how_long} audio{where} could not be read after the recorder stopped unexpectedly; "
            "it is replaced by silence and the rest was kept")


def _cut_short(d: dict[str, Any], ctx: Context) -> str:
    audio = as_number(d.get("audio_s"))
    kept = f" ({clock(audio)} of audio)" if audio is not None else ""
    return f"Recording cut short because the disk was full: what was recorded up to then{kept} is kept"


def _reconciled(d: dict[str, Any], ctx: Context) -> str:
    if d.get("action") == "relink":
        return "The store check found this recording's file under another name and linked it back"
    return "The store check found this recording with no entry in the catalog and added it back"


def _error(d: dict[str, Any], ctx: Context) -> str:
    if d.get("cause") == "disk-full":
        return ("Saving the recording stopped because the disk is full. What was recorded up to then is kept and "
                "can be played; recording goes on in a linked part when there is room again")
    text = str(d.get("error") or "")
    cause = " because the disk is full" if "No space left" in text or "disk is full" in text else ""
    return (f"Saving the recording failed{cause}. What was recorded is kept, "
            "and finished when the recorder starts again")


# -- devices --------------------------------------------------------------------------------------
DEVICE_NAMES = {
    "capture": "the audio interface", "playback": "the speaker output for the recording notice",
    "modem": "the caller-ID modem", "line monitor": "the hook monitor", "serial device": "a serial device",
    "hook": "the hook sensor", "callerid": "the caller-ID input", "pause": "the pause button",
}


def device_kind(d: dict[str, Any]) -> str:
    """Which device an event is about: its own field, or for older events a guess from the rest."""
    kind = d.get("device_kind")
    if kind in DEVICE_NAMES:
        return kind
    device = str(d.get("device") or "")
    if device in ("hook", "callerid"):
        return device
    if "refused" in d or "modem" in d or "init" in d:
        return "modem"
    if device.startswith(("/dev/tty", "/dev/serial", "COM")):
        return "serial device"
    return "capture"


def _device_error(d: dict[str, Any], ctx: Context) -> str:
    kind = device_kind(d)
    if kind == "modem" and d.get("refused"):
        return "The caller-ID modem took none of its caller-ID commands: rings still count, but no caller ID will show"
    if kind in ("hook", "callerid", "pause"):
        return f"{first_upper(DEVICE_NAMES[kind])} could not be started"
    return f"{first_upper(DEVICE_NAMES[kind])} stopped responding"


def _device_ok(d: dict[str, Any], ctx: Context) -> str:
    kind = device_kind(d)
    if kind == "modem":
        return "The caller-ID modem is ready"
    return f"{first_upper(DEVICE_NAMES[kind])} is working"


def _garbage(d: dict[str, Any], ctx: Context) -> str:
    count = int(as_number(d.get("count")) or 0)
    lines = plural(count, "unreadable line") if count else "unreadable lines"
    return f"{first_upper(DEVICE_NAMES[device_kind(d)])} sent {lines}: check its cable and speed (baud rate)"


# -- warnings -------------------------------------------------------------------------------------
# The warnings the recorder writes, by how their text begins (appliance/line: session.py,
# consent.py, hook_state.py; store/retention.py gives its own a code).
WARNINGS = {
    "inbound call without caller ID": "A call came in without caller ID: check that the line has caller ID "
                                      "and that the modem took its caller-ID command",
    "consent is on but this line has no playback device": "The recording notice is on, but this line has no "
                                                          "speaker output to play it",
    "the announcement is on but none has been uploaded": "The recording notice is set to the announcement, but "
                                                         "none has been uploaded: the tone was played instead",
    "the hook monitor is not answering": "The hook monitor is not answering: calls start and end by voice until "
                                         "it is back",
    "the hook monitor answers again": "The hook monitor answers again",
}


def _warning(d: dict[str, Any], ctx: Context) -> str:
    if d.get("code") == "disk-nearly-full":
        free = as_number(d.get("free_pct"))
        said = "The disk is nearly full" + (f" ({free:g}% free)" if free is not None else "")
        if d.get("held_recordings"):
            return said + ": every recording left is kept on hold. Release holds, or export and delete calls"
        return said + ": no recordings are left to delete, so something else is filling it"
    if d.get("code") == "store-check" and isinstance(d.get("findings"), dict):
        return _store_check(d["findings"])
    message = str(d.get("message") or "").strip()
    for start, sentence in WARNINGS.items():
        if message.startswith(start):
            return sentence
    return first_upper(message) if message else "Something here needs a look"


STORE_FINDINGS = {"no-file": ("recording", "is missing its file", "are missing their files"),
                  "no-row": ("file", "has no entry in the catalog", "have no entry in the catalog"),
                  "wrong-size": ("recording", "has the wrong size", "have the wrong size"),
                  "wrong-hash": ("recording", "is not what was recorded", "are not what was recorded"),
                  "quarantined": ("unreadable file", "is kept aside", "are kept aside")}


def _store_check(findings: dict[str, Any]) -> str:
    """The store check after an unclean stop: '2 recordings are missing their files, 1 file has no
    entry in the catalog'."""
    said = []
    for kind, (noun, one, many) in STORE_FINDINGS.items():
        count = as_number(findings.get(kind))
        if count:
            said.append(f"{plural(int(count), noun)} {one if count == 1 else many}")
    found = ", ".join(said or ["something to look at"])
    return f"After an unexpected stop, the check of the recordings found: {found}. " \
           "A technician can list them with hookline store check"


def _direction(d: dict[str, Any], ctx: Context) -> str:
    """The direction learnt during the call (the 'direction' event: direction, learnt_from)."""
    said = {"outbound": "An outgoing call", "inbound": "An incoming call"}.get(d.get("direction"), "Direction known")
    return said + (": a number was dialed" if d.get("learnt_from") == "dialing" else "")


def _watchdog(d: dict[str, Any], ctx: Context) -> str:
    """The recorder was restarted because this line stopped reading audio (appliance.watchdog)."""
    if d.get("process") == "unresponsive":
        return "The recorder was restarted: it had stopped responding (systemd's watchdog)"
    if d.get("thread") == "ended":
        return "The recorder was restarted: this line's recording had stopped"
    seconds = as_number(d.get("silent_s"))
    silent = f" for {span(seconds)}" if seconds is not None else ""
    return f"The recorder was restarted: the audio interface had sent nothing{silent}"


def _xrun(d: dict[str, Any]) -> str:
    """The capture fell behind and the sound card dropped audio (line/thread.py)."""
    seconds = as_number(d.get("lost_s"))
    if seconds is None or seconds < 0.05:
        return "A moment of audio was lost: the recorder fell behind"
    return f"{first_upper(span(seconds))} of audio was lost: the recorder fell behind"


def _unknown(kind: str, d: dict[str, Any]) -> str:
    name = first_upper(str(kind).replace("-", " ").replace("_", " ")) or "Something happened"
    said = str(d.get("message") or d.get("reason") or "").strip()
    return f"{name}: {said}" if said else name


SENTENCES: dict[str, Callable[[dict[str, Any], Context], str]] = {
    Event.OFFHOOK: _offhook,
    Event.ONHOOK: _onhook,
    Event.RING: lambda d, ctx: "Rang once",
    Event.CALLERID: lambda d, ctx: caller_id(d, ctx.region),
    Event.DIGIT: lambda d, ctx: f"Dialed {dialed(str(d.get('digit') or ''), ctx.region)}",
    Event.BEEP: lambda d, ctx: "Recording notice played",
    Event.ANNOUNCEMENT: lambda d, ctx: "Announcement played: this call is recorded",
    Event.STUCK: _stuck,
    Event.DISCARD: lambda d, ctx: why_not_kept(Event.DISCARD, d),
    Event.RECOVERED: _recovered,
    Event.GAP: _gap,
    Event.CUT_SHORT: _cut_short,
    Event.RECONCILED: _reconciled,
    Event.DELETED: lambda d, ctx: why_not_kept(Event.DELETED, d),
    Event.DEVICE_ERROR: _device_error,
    Event.DEVICE_OK: _device_ok,
    Event.XRUN: lambda d, ctx: _xrun(d),
    Event.ERROR: _error,
    Event.WARNING: _warning,
    Event.SERIAL_GARBAGE: _garbage,
    "direction": _direction,     # written once the line learns a call's direction (dialing heard)
    Event.PAUSED: pause_events.paused,
    Event.RESUME: pause_events.resumed,
    Event.MASKED: pause_events.masked,
    Event.WATCHDOG: _watchdog,
    Event.EXPORT: lambda d, ctx: str(d.get("message") or "An export to a USB stick").rstrip("."),
}
# About the call before or after it (the next part's split says this one goes on there).
LINKED = {Event.SPLIT: _split, Event.RESUMED: _resumed}

# How a row looks: things that went wrong, and things to look at.
TONES = {Event.DEVICE_ERROR: "bad", Event.ERROR: "bad", Event.WATCHDOG: "bad", Event.XRUN: "warn",
         Event.WARNING: "warn", Event.GAP: "warn", Event.CUT_SHORT: "warn",
         Event.STUCK: "warn", Event.SERIAL_GARBAGE: "warn",
         Event.DISCARD: "muted", Event.DELETED: "muted", Event.DEVICE_OK: "ok"}


def sentence(event: dict[str, Any], ctx: Context | None = None) -> str:
    """One event ({kind, detail, call_id, ...}) as a sentence."""
    ctx = ctx or Context()
    kind = event.get("kind")
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    if kind in LINKED:
        own = ctx.call_id is None or event.get("call_id") == ctx.call_id
        return LINKED[kind](detail, ctx, own)
    if kind in SENTENCES:
        return SENTENCES[kind](detail, ctx)
    return _unknown(str(kind or ""), detail)

