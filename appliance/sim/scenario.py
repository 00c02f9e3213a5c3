"""Scenario files (docs/scenario.md): parse and validate a simulated office and its calls.

Errors are ScenarioError with one line naming the table and key, like the hardware config.
"""
from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import ConfigError, _check_keys, _get, _parse_region, _parse_timezone
from .office import (
    DTMF_OFF_S,
    DTMF_ON_S,
    Scenario,
    SimAction,
    SimCall,
    SimFault,
    SimLine,
    Source,
)

PAUSE_BUTTON_LINES = 6         # the first lines get a pause button and LED (sim/devices.py PAUSE_PINS)
CALLERID_AFTER_RING_S = 0.5   # formatted caller ID starts this long after the first ring ends
SENSE_RING_HZ = 20.0          # a `rings = "sense"` line's sense input blinks this fast while it rings (US)
# monitor-gone was added to the original contract (docs/scenario.md): a serial line monitor's
# port disappears for `for` s.
FAULT_KINDS = ("modem-hang", "modem-gone", "audio-gone", "monitor-gone")
ACTION_KINDS = ("pause-button", "resume-button")   # a press of the line's pause button (it toggles)
KEYPAD = re.compile(r"[0-9A-D*#]+")


class ScenarioError(ConfigError):
    prefix = "scenario error"


_SOURCE = re.compile(r"^(?:(silence)|tone:(\d+(?:\.\d+)?)(?:@(-?\d+(?:\.\d+)?))?"
                     r"|noise(?:@(-?\d+(?:\.\d+)?))?|file:(.+))$")


def parse_source(text: Any, where: str, base: Path) -> Source:
    m = _SOURCE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ScenarioError(where, f"{text!r} is not an audio source",
                            "use silence, tone:HZ[@DBFS], noise[@DBFS] or file:PATH")
    if m.group(1):
        return Source("silence")
    if m.group(2):
        freq = float(m.group(2))
        level = float(m.group(3)) if m.group(3) else -12.0
        if not 20 <= freq <= 7000 or level > 0:
            raise ScenarioError(where, f"{text!r}: tone must be 20-7000 Hz at or below 0 dBFS")
        return Source("tone", freq=freq, dbfs=level)
    if m.group(5):
        path = (base / m.group(5)).resolve()
        if not path.is_file():
            raise ScenarioError(where, f"audio file {path} not found", "paths are relative to the scenario file")
        return Source("file", path=path)
    level = float(m.group(4)) if m.group(4) else -20.0
    if level > 0:
        raise ScenarioError(where, f"{text!r}: noise level must be at or below 0 dBFS")
    return Source("noise", dbfs=level)


def _parse_caller_id(table: dict | None, where: str) -> dict[str, Any] | None:
    """{number, name} or raw modem {lines}; returned as given after checking."""
    if table is None:
        return None
    if "lines" in table:
        _check_keys(table, {"lines"}, where)
        lines = table["lines"]
        if not isinstance(lines, list) or not all(isinstance(x, str) and not {"\n", "\r"} & set(x) for x in lines):
            raise ScenarioError(f"{where}.lines", "must be a list of single-line strings")
        return {"lines": list(lines)}
    _check_keys(table, {"number", "name"}, where)
    number = _get(table, "number", where, str)
    name = _get(table, "name", where, str, None)
    if not re.fullmatch(r"[0-9+*#]{1,32}|[PO]", number):
        raise ScenarioError(f"{where}.number", f"{number!r} is not a phone number", 'digits, or "P" / "O"')
    return {"number": number, "name": name}


def parse(doc: dict, base_dir: Path = Path(".")) -> Scenario:
    """Validate a parsed scenario; every problem is a ScenarioError naming the key."""
    try:
        return _parse(doc, base_dir)
    except ScenarioError:
        raise
    except ConfigError as e:   # from the checks shared with the hardware config
        raise ScenarioError(e.key, e.problem, e.fix) from None


def _parse(doc: dict, base_dir: Path) -> Scenario:
    _check_keys(doc, {"appliance", "line", "call", "fault", "action"}, "")
    app = _get(doc, "appliance", "", dict, {})
    _check_keys(app, {"start", "sample_rate", "seed", "settings", "loop_s", "timezone", "phone_region", "dnr",
                      "announcement"}, "appliance")
    start_dt = _parse_start(app)
    rate = _get(app, "sample_rate", "appliance", int, 8000, choices=(8000, 16000))
    seed = _get(app, "seed", "appliance", int, 1)
    loop_s = _get(app, "loop_s", "appliance", (int, float), None, lo=10)
    lines = _parse_lines(doc)
    calls = _parse_calls(doc, lines, base_dir)
    faults = _parse_faults(doc, lines)
    actions = _parse_actions(doc, lines)
    _check_outages(faults, loop_s)
    _check_one_call_at_a_time(calls)
    if loop_s is not None and calls and max(c.onhook_s for c in calls) + 1 > loop_s:
        raise ScenarioError("appliance.loop_s", "shorter than the calls it repeats")
    return Scenario(start=start_dt.timestamp(), sample_rate=rate, seed=seed,
                    settings=_get(app, "settings", "appliance", dict, {}), lines=tuple(lines),
                    calls=tuple(sorted(calls, key=lambda c: c.at)), faults=tuple(faults), loop_s=loop_s,
                    actions=tuple(sorted(actions, key=lambda a: a.at)),
                    base_dir=base_dir, dnr=_parse_dnr(app), announcement=_announcement(app, base_dir),
                    **_box(app))


def _parse_dnr(app: dict) -> tuple[tuple[str, str], ...]:
    """`dnr = [{ pattern = "...", label = "..." }]`, checked as `hookline dnr add` checks them."""
    from ..store import dnr
    out = []
    for i, raw in enumerate(_get(app, "dnr", "appliance", list, []), 1):
        where = f"appliance.dnr[{i}]"
        if not isinstance(raw, dict):
            raise ScenarioError(where, "is not a table", 'write { pattern = "+1 415 555 0123", label = "Doctor" }')
        _check_keys(raw, {"pattern", "label"}, where)
        try:
            pattern = dnr.clean_pattern(_get(raw, "pattern", where, str))
            label = dnr.clean_label(_get(raw, "label", where, str, ""))
        except dnr.DnrError as e:
            raise ScenarioError(where, str(e)) from None
        out.append((pattern, label))
    return tuple(out)


def _announcement(app: dict, base_dir: Path) -> Path | None:
    """`announcement = "file:PATH"`: the file an admin would upload (checked when it is installed)."""
    text = _get(app, "announcement", "appliance", str, None)
    if text is None:
        return None
    source = parse_source(text, "appliance.announcement", base_dir)
    if source.kind != "file":
        raise ScenarioError("appliance.announcement", f"{text!r} is not a file", 'write it as "file:notice.wav"')
    return source.path


def _box(app: dict) -> dict[str, Any]:
    """The box's time zone and phone region, checked as the hardware config checks them."""
    try:
        return {"timezone": _parse_timezone(app), "phone_region": _parse_region(app)}
    except ConfigError as e:
        raise ScenarioError(f"appliance.{e.key}", e.problem, e.fix) from None


def _parse_start(app: dict) -> datetime:
    start_text = _get(app, "start", "appliance", (str, datetime), "2026-01-01T09:00:00Z")
    try:
        start_dt = (start_text if isinstance(start_text, datetime)
                    else datetime.fromisoformat(start_text.replace("Z", "+00:00")))
        if start_dt.tzinfo is None:
            raise ValueError
    except ValueError:
        raise ScenarioError("appliance.start", f"{start_text!r} is not a UTC time",
                            'write it like "2026-03-15T14:12:00Z"') from None
    return start_dt


def _parse_lines(doc: dict) -> list[SimLine]:
    lines = []
    for i, raw in enumerate(_get(doc, "line", "", list, []), 1):
        where = f"line[{i}]"
        _check_keys(raw, {"id", "name", "offhook", "callerid", "rings", "noise_dbfs", "settings"}, where)
        offhook = _get(raw, "offhook", where, str, "gpio", choices=("gpio", "serial", "vox"))
        callerid = _get(raw, "callerid", where, str, "none", choices=("modem", "none"))
        rings = _get(raw, "rings", where, str, "none", choices=("sense", "none"))
        if rings == "sense" and offhook != "gpio":
            raise ScenarioError(f"{where}.rings", "only a gpio sense input sees rings", 'set offhook = "gpio"')
        lines.append(SimLine(
            id=_get(raw, "id", where, int, lo=1, hi=99), offhook=offhook, callerid=callerid,
            noise_dbfs=float(_get(raw, "noise_dbfs", where, (int, float), -70.0, hi=0)),
            settings=_get(raw, "settings", where, dict, {}), rings=rings,
            name=_get(raw, "name", where, str, None),
        ))
    if not lines:
        raise ScenarioError("line", "no lines", "add at least one [[line]] table")
    ids = [line.id for line in lines]
    if len(set(ids)) != len(ids):
        raise ScenarioError("line", "two lines have the same id")
    return lines


def _line_of(raw: dict, where: str, lines: list[SimLine]) -> SimLine:
    """The [[line]] a call or fault names."""
    line = _get(raw, "line", where, int)
    for sim_line in lines:
        if sim_line.id == line:
            return sim_line
    raise ScenarioError(f"{where}.line", f"line {line} is not defined", "add it as a [[line]]")


def _parse_calls(doc: dict, lines: list[SimLine], base_dir: Path) -> list[SimCall]:
    calls = []
    for i, raw in enumerate(_get(doc, "call", "", list, []), 1):
        where = f"call[{i}]"
        _check_keys(raw, {"line", "at", "direction", "rings", "caller_id", "talk", "near", "far", "dial", "keys"},
                    where)
        line = _line_of(raw, where, lines).id
        direction = _get(raw, "direction", where, str, "inbound", choices=("inbound", "outbound"))
        dial = _get(raw, "dial", where, str, None)
        if dial is not None and not KEYPAD.fullmatch(dial):
            raise ScenarioError(f"{where}.dial", f"{dial!r} has characters a keypad cannot send", "use 0-9, *, #, A-D")
        caller_id = _parse_caller_id(_get(raw, "caller_id", where, dict, None), f"{where}.caller_id")
        talk = float(_get(raw, "talk", where, (int, float), lo=0, hi=24 * 3600))
        calls.append(SimCall(
            index=i, line=line, at=float(_get(raw, "at", where, (int, float), lo=0)), direction=direction,
            rings=_get(raw, "rings", where, int, 2 if direction == "inbound" else 0, lo=0, hi=20),
            caller_id=caller_id, talk=talk, keys=_parse_keys(raw, where, talk),
            near=parse_source(_get(raw, "near", where, str, "silence"), f"{where}.near", base_dir),
            far=parse_source(_get(raw, "far", where, str, "silence"), f"{where}.far", base_dir),
            dial=dial,
        ))
    return calls


def _parse_keys(raw: dict, where: str, talk: float) -> tuple[tuple[float, str], ...]:
    """A call's `keys = [{ at = 12.0, digits = "*1" }]`: keyed that long after its off-hook."""
    keys = []
    for j, entry in enumerate(_get(raw, "keys", where, list, []), 1):
        at_where = f"{where}.keys[{j}]"
        if not isinstance(entry, dict):
            raise ScenarioError(at_where, "must be a table", 'write it as { at = 12.0, digits = "*1" }')
        _check_keys(entry, {"at", "digits"}, at_where)
        at = float(_get(entry, "at", at_where, (int, float), lo=0))
        digits = _get(entry, "digits", at_where, str)
        if not KEYPAD.fullmatch(digits):
            raise ScenarioError(f"{at_where}.digits", f"{digits!r} has characters a keypad cannot send",
                                "use 0-9, *, #, A-D")
        if at + len(digits) * (DTMF_ON_S + DTMF_OFF_S) > talk:
            raise ScenarioError(f"{at_where}.at", "the keys run past the call's end",
                                f"key them within talk = {talk:g}")
        keys.append((at, digits))
    return tuple(sorted(keys))


def _parse_actions(doc: dict, lines: list[SimLine]) -> list[SimAction]:
    actions = []
    for i, raw in enumerate(_get(doc, "action", "", list, []), 1):
        where = f"action[{i}]"
        _check_keys(raw, {"line", "at", "kind"}, where)
        sim_line = _line_of(raw, where, lines)
        if lines.index(sim_line) >= PAUSE_BUTTON_LINES:
            raise ScenarioError(f"{where}.line", f"only the first {PAUSE_BUTTON_LINES} lines have a pause button",
                                "press the button of one of them")
        actions.append(SimAction(line=sim_line.id, at=float(_get(raw, "at", where, (int, float), lo=0)),
                                 kind=_get(raw, "kind", where, str, choices=ACTION_KINDS)))
    return actions


def _parse_faults(doc: dict, lines: list[SimLine]) -> list[SimFault]:
    faults = []
    for i, raw in enumerate(_get(doc, "fault", "", list, []), 1):
        where = f"fault[{i}]"
        _check_keys(raw, {"line", "at", "kind", "for"}, where)
        sim_line = _line_of(raw, where, lines)
        line = sim_line.id
        kind = _get(raw, "kind", where, str, choices=FAULT_KINDS)
        if kind.startswith("modem") and sim_line.callerid != "modem":
            raise ScenarioError(f"{where}.kind", f"line {line} has no modem", 'set callerid = "modem" on it')
        if kind == "monitor-gone" and sim_line.offhook != "serial":
            raise ScenarioError(f"{where}.kind", f"line {line} has no serial line monitor",
                                'set offhook = "serial" on it')
        faults.append(SimFault(line=line, at=float(_get(raw, "at", where, (int, float), lo=0)), kind=kind,
                               duration=float(_get(raw, "for", where, (int, float), lo=0.1, hi=24 * 3600))))
    return faults


def _check_one_call_at_a_time(calls: list[SimCall]) -> None:
    """A line's next call starts only once the one before it is over."""
    by_line: dict[int, list[SimCall]] = {}
    for call in sorted(calls, key=lambda c: c.at):
        prev = by_line.get(call.line, [None])[-1]
        if prev is not None and call.at < prev.onhook_s:
            raise ScenarioError(f"call[{call.index}].at", f"line {call.line} is still busy with call[{prev.index}]",
                                f"start it at {prev.onhook_s:g} s or later")
        by_line.setdefault(call.line, []).append(call)


def _check_outages(faults: list[SimFault], loop_s: float | None) -> None:
    """A line's capture device can only be unplugged while it is plugged in, and within one loop."""
    last_end: dict[int, float] = {}
    for i, fault in sorted(enumerate(faults, 1), key=lambda f: f[1].at):
        if fault.kind != "audio-gone":
            continue
        if fault.at < last_end.get(fault.line, -1.0):
            raise ScenarioError(f"fault[{i}].at", f"line {fault.line}'s capture device is already gone then",
                                f"start it at {last_end[fault.line]:g} s or later")
        if loop_s is not None and fault.end_s >= loop_s:
            raise ScenarioError(f"fault[{i}].for", "the outage runs past appliance.loop_s",
                                "end it within the loop")
        last_end[fault.line] = fault.end_s


def load(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(str(path), "scenario file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(str(path), f"not valid TOML: {e}") from None
    return parse(doc, path.parent)
