"""The audit log in plain words: "Changed Shortest call kept on Front desk from 2 to 5 seconds",
"Kept the call from (415) 555-0123 of 4 Mar 14:12", "Created API token 'nightly export' for bob".

Worded when shown, from each entry's stored action, target and detail, which stay as they are
(the hash chain covers them, and `hookline audit --json` prints them). Free of Flask: the page
and the command share it. An entry this module does not know, or one whose detail is not what
Hookline writes, still reads as something rather than failing the page.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from ..store import settings as settingsmod, times
from ..store.box import BoxFacts
from . import numbers, zone as zonemod
from .words import plural

# The actions about one call: their target is the call's id, and the page links them to it.
CALL_ACTIONS = ("listen", "download", "delete", "hold", "release", "note", "pause", "resume")

# How each action reads in the page's filter.
ACTION_LABELS = {
    "login": "Logged in", "login-failed": "Failed logins", "logout": "Logged out",
    "listen": "Listened to calls", "download": "Downloaded calls", "delete": "Deleted calls",
    "hold": "Kept calls", "release": "Released calls", "note": "Notes on calls",
    "settings": "Changed settings", "user-add": "Added users", "user-change": "Changed users",
    "user-remove": "Removed users", "token-create": "Created API tokens", "token-revoke": "Revoked API tokens",
    "export": "Exports", "recover": "Recovered calls",
    "evidence-export": "Access packages by number",
    "dnr-add": "Added to the do-not-record list", "dnr-remove": "Removed from the do-not-record list",
    "announcement": "Announcement to callers",
    "pause": "Paused recording", "resume": "Resumed recording",
    "erase": "Erasures by number",
    "export-cancel": "Cancelled exports",
    "store-repair": "Catalog repairs",
}


@dataclass(frozen=True)
class Context:
    """What the words need beyond the entry: the box (line names, phone region), its zone, and
    the catalog rows of the calls the entries are about (id -> row; a missing one is fine)."""
    box: BoxFacts
    zone: tzinfo
    calls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Said:
    lines: tuple[str, ...]         # one sentence, or one per change of a settings entry
    call_id: str | None = None     # the call it is about, to link to

    @property
    def text(self) -> str:
        return "; ".join(self.lines)


def who(user: str | None, action: str | None = None) -> str:
    """The entry's author as people read it: "bob", "alice (at the console)", "the box" (a failed
    login has none: "nobody logged in")."""
    if user is None:
        return "nobody logged in" if action == "login-failed" else "the box"
    if user.startswith("console:"):
        return f"{user[len('console:'):]} (at the console)"
    return user


def describe(entry: Mapping[str, Any], ctx: Context) -> Said:
    """One audit entry (as store.audit.entries gives it) in plain words."""
    action, target = entry.get("action"), entry.get("target")
    detail = entry.get("detail") if isinstance(entry.get("detail"), dict) else {}
    try:
        if action in CALL_ACTIONS and isinstance(target, str):
            return Said((_call_sentence(action, target, detail, ctx, entry.get("at")),), target)
        wording = _WORDING.get(action)
        if wording is not None:
            said = wording(entry, _text(target), detail, ctx)
            return Said(said if isinstance(said, tuple) else (said,))
    except (TypeError, ValueError, AttributeError, KeyError):
        pass                        # a detail Hookline did not write: said plainly below
    return Said((_unknown(action, target),))


# -- calls -------------------------------------------------------------------------------------------
def _call_sentence(action: str, call_id: str, detail: dict, ctx: Context, at: Any) -> str:
    call = _call(call_id, detail, ctx, at)
    if action == "listen":
        return f"Listened to {call}"
    if action == "download":
        return f"Downloaded {call}"
    if action == "hold":
        return f"Kept {call}"
    if action == "release":
        return f"Released the hold on {call}"
    if action in ("pause", "resume"):
        return f"{'Paused' if action == 'pause' else 'Resumed'} the recording of {call}"
    if action == "note":
        return f"Removed the note on {call}" if detail.get("length") == 0 else f"Wrote a note on {call}"
    reason = detail.get("reason")
    if isinstance(reason, str) and reason:
        return f"Deleted {call} ({_deletion_reason(reason)})"
    return f"Deleted {call}"


def _call(call_id: str, detail: dict, ctx: Context, at: Any) -> str:
    """ "the call from (415) 555-0123 of 4 Mar 14:12", "the call on Front desk of 4 Mar 14:12" (the
    year too when the entry, written at `at`, is from another year)."""
    row = ctx.calls.get(call_id) or {k: detail.get(k) for k in ("started_at", "line")}
    started = row.get("started_at")
    if not isinstance(started, str):
        return f"call {call_id}"
    when = _when(started, ctx.zone, at if isinstance(at, str) else started)
    number = row.get("remote_number") or row.get("dialed")
    if isinstance(number, str) and number:
        towards = {"inbound": "from", "outbound": "to"}.get(row.get("direction"), "with")
        return f"the call {towards} {numbers.readable(number, ctx.box.phone_region)} of {when}"
    if row.get("remote_withheld"):
        return f"the call from a withheld number of {when}"
    line = row.get("line")
    return f"the call on {ctx.box.line_name(line)} of {when}" if isinstance(line, int) else f"the call of {when}"


def _when(iso_text: str, zone: tzinfo, than: str) -> str:
    """ "4 Mar 14:12" in the box's zone (with the year when it is not the year of `than`)."""
    moment = times.parse(iso_text).astimezone(zone)
    return zonemod.day_and_time(moment, year=moment.year != times.parse(than).astimezone(zone).year)


def _deletion_reason(reason: str) -> str:
    """What the retention sweep and the disk guard recorded, as a reason ("older than 90 days")."""
    for prefix, why in (("retention: ", "retention rule: "), ("disk guard: ", "to free disk space: "),
                        ("size cap: ", "size cap: ")):
        if reason.startswith(prefix):
            return why + reason[len(prefix):]
    return reason


# -- people, logins, tokens ------------------------------------------------------------------------
def _login_failed(entry, target, detail, ctx) -> str:
    reason = detail.get("reason")
    why = f" ({reason})" if isinstance(reason, str) and reason else ""
    return f"Failed login as '{target}'{why}" if target else f"Failed login{why}"


def _logout(entry, target, detail, ctx) -> str:
    if detail.get("everywhere_else"):
        ended = detail.get("sessions_ended")
        return f"Logged out of {plural(ended, 'other session')}" if isinstance(ended, int) else \
            "Logged out everywhere else"
    return "Logged out"


def _user_add(entry, target, detail, ctx) -> str:
    if detail.get("first_run"):
        return f"Set up the box, with {target} as its administrator"
    role = detail.get("role")
    return f"Added user {target} ({role})" if isinstance(role, str) else f"Added user {target}"


def _user_change(entry, target, detail, ctx) -> tuple[str, ...]:
    said = []
    role = detail.get("role")
    if isinstance(role, dict):
        said.append(f"Changed {target}'s role from {role.get('before')} to {role.get('after')}")
    elif isinstance(role, str):
        said.append(f"Made {target} {_article(role)} {role}")
    disabled = detail.get("disabled")
    if isinstance(disabled, dict):
        disabled = disabled.get("after")
    if isinstance(disabled, bool):
        said.append(f"Disabled {target}: they can no longer log in" if disabled else f"Enabled {target} again")
    password = detail.get("password")
    if password == "change refused":
        reason = detail.get("reason")
        said.append("Tried to change their own password" + (f" ({reason})" if isinstance(reason, str) else ""))
    elif password in ("changed", "reset"):
        said.append("Changed their own password" if entry.get("user") == target
                    else f"Set a new password for {target}")
        said[-1] += _ended(detail)
    return tuple(said) or (f"Changed user {target}",)


def _ended(detail: dict) -> str:
    """ " (2 sessions ended, 1 API token revoked)", or nothing."""
    parts = [plural(n, what) + f" {done}" for key, what, done in (("sessions_ended", "session", "ended"),
                                                                 ("tokens_revoked", "API token", "revoked"))
             if isinstance(n := detail.get(key), int) and not isinstance(n, bool) and n > 0]
    return f" ({', '.join(parts)})" if parts else ""


def _token(entry, target, detail, ctx, verb: str, preposition: str) -> str:
    label = detail.get("label")
    named = f" '{label}'" if isinstance(label, str) and label else ""
    return f"{verb} API token{named} {preposition} {target}"


def _recover(entry, target, detail, ctx) -> str:
    calls = detail.get("calls")
    if isinstance(calls, list):
        return f"Recovered {plural(len(calls), 'call')} left unfinished (after a power cut or a crash)"
    return "Recovered calls left unfinished"


def _store_repair(entry, target, detail, ctx) -> str:
    changed = detail.get("changed")
    count = f" ({plural(len(changed), 'call')})" if isinstance(changed, list) else ""
    return "Repaired the catalog to match the files on the disk" + count + (" (forced)" if detail.get("force") else "")


# -- settings --------------------------------------------------------------------------------------
def _settings(entry, target, detail, ctx) -> tuple[str, ...]:
    changes = detail.get("changes")
    if isinstance(changes, dict) and changes:
        return tuple(setting_change(key, change, ctx) for key, change in changes.items())
    if target and "value" in detail:            # an entry written before changes= existed
        return (setting_change(target, {"before": None, "after": detail["value"]}, ctx),)
    return ("Changed settings",)


def setting_change(key: str, change: Any, ctx: Context) -> str:
    """One setting's change (key box.NAME or line.N.NAME; change {"before": .., "after": ..}, None
    for the default) in words; the settings page says what it saved with it too."""
    before, after = (change.get("before"), change.get("after")) if isinstance(change, dict) else (None, change)
    try:
        setting, line = settingsmod.split_name(key[len("box."):] if key.startswith("box.") else key)
    except settingsmod.SettingError:
        return f"Changed {key} from {_plain(before)} to {_plain(after)}"
    if setting.name == "name" and line is not None:
        return _renamed(line, before, after)
    where = "for the whole box" if line is None else f"on {ctx.box.line_name(line)}"
    if after is None:
        return f"Reset {setting.label} {where} to the default (it was {setting.shown(before)})"
    if before is None:
        return f"Set {setting.label} {where} to {setting.shown(after)} (it followed the default)"
    return f"Changed {setting.label} {where} from {_bare(setting, before, after)} to {setting.shown(after)}"


def _renamed(line: int, before: Any, after: Any) -> str:
    if after is None:
        return f"Gave line {line} back the name in the config (it was '{before}')"
    if before is None:
        return f"Named line {line} '{after}'"
    return f"Renamed line {line} from '{before}' to '{after}'"


def _bare(setting: settingsmod.Setting, before: Any, after: Any) -> str:
    """The value before, without its unit when the value after says it: "from 2 to 5 seconds"."""
    plain_numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and (v or not setting.zero)
                        for v in (before, after))
    if plain_numbers and setting.unit and not setting.unit.startswith("%"):
        return f"{before:g}"
    return setting.shown(before)


def _announcement(entry, target, detail, ctx) -> str:
    """An upload, replacement or removal of the announcement to callers ({"before", "after"}: the
    file's name and length, None where there was none)."""
    before, after = detail.get("before"), detail.get("after")
    if before and after:
        return f"Replaced the announcement to callers {_sound(before)} with {_sound(after)}"
    if after:
        return f"Uploaded the announcement to callers: {_sound(after)}"
    return f"Removed the announcement to callers {_sound(before)}" if before else "Removed the announcement to callers"


def _sound(meta: dict) -> str:
    """ "'notice.wav' (12.5 s)" """
    length = meta.get("duration_s")
    return f"'{meta.get('name')}'" + (f" ({length:g} s)" if isinstance(length, (int, float)) else "")


# -- what is left --------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _plain(value: Any) -> str:
    return "the default" if value is None else str(value)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _unknown(action: Any, target: Any) -> str:
    words = str(action or "something").replace("-", " ")
    return f"{words[:1].upper()}{words[1:]}" + (f": {target}" if target else "")


def _dnr(entry, target, detail, ctx, done: str) -> str:
    """'Added (415) 555-0123 to the do-not-record list (Doctor)'."""
    label = str(detail.get("label") or "")
    return f"{done} {numbers.readable(target, ctx.box.phone_region)} " \
           f"{'to' if done == 'Added' else 'from'} the do-not-record list" + (f" ({label})" if label else "")


_WORDING = {
    "login": lambda entry, target, detail, ctx: "Logged in",
    "login-failed": _login_failed,
    "logout": _logout,
    "settings": _settings,
    "user-add": _user_add,
    "user-change": _user_change,
    "user-remove": lambda entry, target, detail, ctx: f"Removed user {target}",
    "token-create": lambda *args: _token(*args, "Created", "for"),
    "token-revoke": lambda *args: _token(*args, "Revoked", "of"),
    "export": lambda entry, target, detail, ctx: _exported(detail),
    "evidence-export": lambda entry, target, detail, ctx: _evidence(detail),
    "recover": _recover,
    "store-repair": _store_repair,
    "dnr-add": lambda *args: _dnr(*args, "Added"),
    "dnr-remove": lambda *args: _dnr(*args, "Removed"),
    "announcement": _announcement,
    "erase": lambda entry, target, detail, ctx: _erased(detail),
    "export-cancel": lambda entry, target, detail, ctx: "Cancelled the export to the USB stick"
                                                        + (" (by the API)" if detail.get("via") == "api" else ""),
}


def _exported(detail: dict) -> str:
    """'Exported 12 recordings to /media/usb (incomplete: The target is full.)'."""
    if "copied" not in detail:
        return "Exported the catalog"
    copied = detail.get("copied") if isinstance(detail.get("copied"), int) else 0
    text = f"Exported {plural(copied, 'recording')} to {detail.get('to') or 'a stick'}"
    return text if detail.get("complete") else f"{text} (incomplete: {detail.get('stopped_because') or 'stopped'})"


def _erased(detail: dict) -> str:
    """An erasure by number: how many calls, what stayed, and the number's hash (never the number)."""
    count, refused = detail.get("count", 0), detail.get("refused", 0)
    said = f"Erased {plural(int(count), 'call')} with one number (SHA-256 {str(detail.get('number_hash', ''))[:12]}…)"
    return said + (f"; {plural(int(refused), 'call')} refused (on hold or under the minimum age)" if refused else "")


def _evidence(detail: dict) -> str:
    """'Made the access package for one number (SHA-256 36a2cef4ff9b…): 3 calls, 2 recordings, as a
    ZIP; 1 recording left out (it no longer matches its hash)'."""
    count, recordings = detail.get("count", 0), detail.get("recordings", 0)
    said = (f"Made the access package for one number (SHA-256 {str(detail.get('number_hash', ''))[:12]}…): "
            f"{plural(int(count), 'call')}, {plural(int(recordings), 'recording')}, "
            + ("as a ZIP" if detail.get("via") == "web zip" else f"to {detail.get('to') or 'a folder'}"))
    if detail.get("via") != "web zip" and not detail.get("written", True):
        return f"{said} (not written: {detail.get('stopped_because') or 'stopped'})"
    left_out = detail.get("left_out") if isinstance(detail.get("left_out"), list) else []
    return said + (f"; {plural(len(left_out), 'recording')} left out (no longer matching its hash)" if left_out else "")
