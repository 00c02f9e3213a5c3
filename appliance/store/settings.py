"""Runtime settings: what a person changes while the box runs, kept in SQLite.

A setting has a name (the contract of `hookline settings`, the catalog and the audit log), a type
and a range, and for people a label, a unit, a group and one line of help (the settings page and
the audit log speak of "Shortest call kept", never of min_call_s). Line settings resolve per line
in this order: ``line.N`` row, box-wide row, the default the hardware config gave (recorded by the
daemon in ``meta``), the built-in default. Box-wide settings (``per_line=False``: the size cap, the
disk guard) have no ``line.N`` form and do not appear among a line's values; line-only ones
(``line_only``: a line's name) have no box-wide form. The daemon polls the database and applies
changes within a second, without a restart.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from . import times


class SettingError(ValueError):
    """A bad setting name or value; str() is the message for the person who typed it."""


# The groups, in the order the settings page shows them.
GROUPS = ("Line name", "Recording", "Notice to callers", "Card payments", "Voice activation", "Retention",
          "Do not record")

DTMF_KEYS = "0123456789*#ABCD"
_SINGULAR = {"seconds": "second", "days": "day", "milliseconds": "millisecond"}


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str                      # bool | int | float | choice | text
    label: str                     # what people call it: "Shortest call kept"
    help: str                      # one line: what it does
    default: Any                   # text: may name the line, as in "Line {line}"
    group: str = "Recording"
    unit: str = ""                 # seconds | dBFS | milliseconds | days | % of the disk
    per_line: bool = True          # may be set for one line (line.N.NAME) as well as box-wide
    line_only: bool = False        # only for one line: no box-wide value (a line's name)
    needs: str | None = None       # what a line must have for it to apply: "vox" or "playback"
    choices: tuple[str, ...] = ()
    choice_labels: tuple[str, ...] = ()   # how each choice reads, in the same order
    lo: float | None = None        # text: the shortest and longest length
    hi: float | None = None
    config_key: str | None = None  # LineConfig attribute that supplies the default
    zero: str | None = None        # what 0 means, in words ("keep every call")
    chars: str | None = None       # text: the only characters allowed (a touch-tone code: DTMF keys)

    def parse(self, text: Any) -> Any:
        """Turn a typed value (CLI text, scenario TOML value) into this setting's type."""
        if self.kind == "text":
            return self._parse_text(text)
        raw = text.strip().lower() if isinstance(text, str) else text
        if self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            if raw in ("on", "true", "yes", "1"):
                return True
            if raw in ("off", "false", "no", "0"):
                return False
            raise SettingError(f"{self.name}: {text!r} is not on/off (use on or off)")
        if self.kind == "choice":
            if raw not in self.choices:
                raise SettingError(f"{self.name}: {text!r} is not allowed (use one of: {', '.join(self.choices)})")
            return raw
        try:
            value = int(raw) if self.kind == "int" else float(raw)
            if isinstance(raw, bool) or value != value:  # no booleans, no NaN
                raise ValueError
        except (TypeError, ValueError):
            kind = "an integer" if self.kind == "int" else "a number"
            raise SettingError(f"{self.name}: {text!r} is not {kind}") from None
        if self.kind == "int" and isinstance(raw, float) and raw != int(raw):
            raise SettingError(f"{self.name}: {text!r} is not an integer")
        if self.lo is not None and value < self.lo or self.hi is not None and value > self.hi:
            raise SettingError(f"{self.name}: {text!r} is out of range (use {self.lo:g} to {self.hi:g})")
        return value

    def _parse_text(self, text: Any) -> str:
        if not isinstance(text, str):
            raise SettingError(f"{self.name}: {text!r} is not text")
        value = text.strip()
        if not self.lo <= len(value) <= self.hi:
            raise SettingError(f"{self.name}: use {self.lo:g} to {self.hi:g} characters "
                               f"({'it is empty' if not value else f'this has {len(value)}'})")
        if self.chars is not None and not set(value) <= set(self.chars):
            raise SettingError(f"{self.name}: {value!r} has keys a phone cannot send (use {self.chars})")
        if not value.isprintable():
            raise SettingError(f"{self.name}: use letters, digits, spaces and punctuation only "
                               "(no tabs, line breaks or control characters)")
        return value

    def shown(self, value: Any) -> str:
        """A value as people read it: "5 seconds", "-40 dBFS", "on", "A beep every few seconds"."""
        if value is None:
            return "the default"
        if self.kind == "bool":
            return "on" if value else "off"
        if self.kind == "choice":
            labels = dict(zip(self.choices, self.choice_labels))
            return labels.get(value, str(value))
        if self.kind == "text" or isinstance(value, bool) or not isinstance(value, (int, float)):
            return str(value)
        if value == 0 and self.zero:
            return self.zero
        number = f"{value:g}"
        if not self.unit:
            return number
        if self.unit.startswith("%"):
            return f"{number}{self.unit}"
        hours = f" ({value / 3600:g} hours)" if self.unit == "seconds" and value >= 3600 and value % 900 == 0 else ""
        return f"{number} {_SINGULAR.get(self.unit, self.unit) if value == 1 else self.unit}{hours}"

    def range_text(self) -> str:
        """The allowed values, for the help next to a field: "0 to 600 seconds", "1 to 40 characters"."""
        if self.kind == "text":
            return f"{self.lo:g} to {self.hi:g} characters"
        if self.lo is None or self.hi is None:
            return ""
        unit = f" {self.unit}" if self.unit and not self.unit.startswith("%") else self.unit
        return f"{self.lo:g} to {self.hi:g}{unit}"

    def applies(self, line: Any) -> bool:
        """Whether this setting does anything on a line (box.LineFacts: its wiring and devices;
        None: not known, so it may). VOX thresholds serve VOX lines and the watchdog that stands
        in for a silent line monitor; the notice needs a device to play it."""
        if line is None or self.needs is None:
            return True
        if self.needs == "vox":
            return line.wiring in ("vox", "serial")
        return bool(line.playback)

    def default_for(self, line_id: int | None) -> Any:
        return self.default.format(line=line_id) if self.kind == "text" else self.default


REGISTRY: dict[str, Setting] = {s.name: s for s in (
    Setting("recording", "bool", "Record calls", "Off: calls are still logged, with the reason, but no audio "
            "is kept.", True),
    Setting("min_call_s", "float", "Shortest call kept", "Calls with less talk time than this are discarded; "
            "the call's log says so.", 2.0, unit="seconds", lo=0, hi=600, config_key="min_call_s"),
    Setting("max_call_s", "float", "Longest single recording", "A longer call goes on in a linked next part.",
            4 * 3600.0, unit="seconds", lo=10, hi=24 * 3600, config_key="max_call_s"),
    Setting("consent", "choice", "Recording notice", "What the other party hears so they know the call is "
            "recorded: a beep, the announcement uploaded on the announcement page, or both; whether one is "
            "required depends on where the office is.", "off",
            group="Notice to callers", needs="playback",
            choices=("off", "start", "periodic", "announcement", "announcement+periodic"),
            choice_labels=("no notice", "one beep when the call begins", "a beep at regular intervals",
                           "the announcement when the call begins",
                           "the announcement, then a beep at regular intervals")),
    Setting("beep_interval_s", "int", "Time between beeps", "With a beep at regular intervals: how often it "
            "sounds (the recorder warning tone: every 15 seconds).", 15, group="Notice to callers",
            unit="seconds", needs="playback", lo=5, hi=300),
    Setting("beep_hz", "float", "Beep pitch", "The beep's frequency (the recorder warning tone: 1400 Hz).",
            1400.0, group="Notice to callers", unit="Hz", needs="playback", lo=300, hi=3400),
    Setting("beep_ms", "int", "Beep length", "How long each beep lasts (the recorder warning tone: half a "
            "second).", 500, group="Notice to callers", unit="milliseconds", needs="playback", lo=50, hi=2000),
    Setting("beep_dbfs", "float", "Beep level", "How loud the beep is played onto the line (0 dBFS: the "
            "loudest the output can play).", -12.0, group="Notice to callers", unit="dBFS", needs="playback",
            lo=-40, hi=-3),
    Setting("pause_code", "text", "Code that pauses recording", "Keyed on the handset during a call (after "
            "dialing), it pauses the recording; its own tones are not recorded.", "*1", group="Card payments",
            lo=1, hi=8, chars=DTMF_KEYS),
    Setting("resume_code", "text", "Code that resumes recording", "Keyed on the handset while paused, it "
            "resumes the recording.", "*2", group="Card payments", lo=1, hi=8, chars=DTMF_KEYS),
    Setting("pause_max_s", "int", "Longest pause", "A pause ends by itself after this long, and the call's "
            "log says so.", 180, group="Card payments", unit="seconds", lo=10, hi=3600),
    Setting("pause_fill", "choice", "While paused, the recording holds", "What stands in for the paused "
            "audio, so the recording keeps the call's length.", "silence", group="Card payments",
            choices=("silence", "tone"), choice_labels=("silence", "a soft 425 Hz tone")),
    Setting("mask_dtmf", "bool", "Cut keyed digits out", "On: touch-tones keyed after dialing (a card number "
            "typed on the keypad) are cut out of the recording and not stored.", False, group="Card payments"),
    Setting("vox_start_dbfs", "float", "Sound that starts a call", "Sound louder than this (measured above "
            "300 Hz, so mains hum does not count) starts a call.", -40.0, group="Voice activation",
            unit="dBFS", needs="vox", lo=-70, hi=-10),
    Setting("vox_stop_dbfs", "float", "Quiet below", "Below this level the line counts as quiet; keep it a few "
            "dB under the level that starts a call.", -48.0, group="Voice activation", unit="dBFS", needs="vox",
            lo=-80, hi=-15),
    Setting("vox_hang_s", "float", "Quiet that ends a call", "This much quiet ends a call; shorter pauses and "
            "holds do not.", 8.0, group="Voice activation", unit="seconds", needs="vox", lo=1, hi=120),
    Setting("vox_min_burst_ms", "int", "Shortest sound that starts a call", "Sound must last this long to start "
            "a call, so clicks do not.", 150, group="Voice activation", unit="milliseconds", needs="vox",
            lo=50, hi=2000),
    Setting("retention_days", "int", "Delete calls after", "Calls older than this are deleted, except kept "
            "ones; 0 keeps every call.", 0, group="Retention", unit="days", lo=0, hi=3650,
            zero="never (keep every call)"),
    Setting("min_age_days", "int", "Keep every call at least", "No person and no rule deletes a call younger "
            "than this (a legal minimum); 0: no minimum.", 0, group="Retention", unit="days", lo=0, hi=3650,
            zero="no minimum"),
    Setting("max_recordings_gb", "float", "Most space for recordings", "When the recordings take more than "
            "this, the oldest calls past their minimum age are deleted; 0: no cap.", 0.0, group="Retention",
            unit="GB", per_line=False, lo=0, hi=100000, zero="no cap"),
    Setting("disk_reserve_pct", "int", "Free space to keep", "When free space on the recordings disk falls "
            "below this, the oldest calls not kept are deleted until it is above again.", 5,
            group="Retention", unit="% of the disk", per_line=False, lo=1, hi=50),
    Setting("disk_reserve_gb", "float", "Free space to keep, in GB", "The same floor in GB; the stricter of "
            "the two applies; 0: only the percentage.", 0.0, group="Retention", unit="GB", per_line=False,
            lo=0, hi=100000, zero="off (the percentage alone)"),
    Setting("when_full", "choice", "When the disk is full", "What happens when free space is below the floor "
            "and no rule may delete a call.", "delete-oldest", group="Retention", per_line=False,
            choices=("delete-oldest", "stop-recording"),
            choice_labels=("delete the oldest calls past their minimum age",
                           "stop recording new calls and raise an alarm")),
    Setting("dnr_keep_number", "bool", "Keep the number of calls not recorded", "On: a call on the "
            "do-not-record list still shows its number in the call list; off: only the list's label.", False,
            group="Do not record", per_line=False),
    Setting("name", "text", "Line name", "What the pages and the command call this line; empty: the name "
            "in the config.", "Line {line}", group="Line name", line_only=True, lo=1, hi=40, config_key="name"),
)}

# The settings the retention sweeper reads (the two ages also per line: store.ages).
RETENTION = ("retention_days", "min_age_days", "max_recordings_gb", "disk_reserve_pct", "disk_reserve_gb",
             "when_full")


# The two ages a call lives by (store.ages): the minimum never above the maximum, in any scope.
AGES = ("min_age_days", "retention_days")


def typed(value: Any) -> str:
    """A value as a person types it (what Setting.parse reads back): True -> "on", 2.0 -> "2";
    None (nothing set) -> ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def split_name(name: str, line: int | None = None) -> tuple[Setting, int | None]:
    """Accept NAME or line.N.NAME (or NAME with line=N); return the setting and the line."""
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "line":
        if not parts[1].isdigit():
            raise SettingError(f"{name}: line must be a number, as in line.1.{parts[2]}")
        if line is not None and line != int(parts[1]):
            raise SettingError(f"{name}: the name says line {parts[1]} but --line says {line}")
        line, parts = int(parts[1]), [parts[2]]
    if len(parts) != 1 or parts[0] not in REGISTRY:
        known = ", ".join(REGISTRY)
        raise SettingError(f"unknown setting {name!r} (known: {known}; one line: line.N.NAME)")
    setting = REGISTRY[parts[0]]
    if line is not None and not setting.per_line:
        raise SettingError(f"{setting.name} is box-wide and cannot be set for one line "
                           f"(use {setting.name}, without line.N or --line)")
    if line is None and setting.line_only:
        raise SettingError(f"{setting.name} belongs to one line: name it with --line N or as "
                           f"line.N.{setting.name}")
    return setting, line


def key(name: str, line: int | None = None) -> str:
    """How a setting is named on the settings page and in the audit log: box.NAME or line.N.NAME."""
    return f"box.{name}" if line is None else f"line.{line}.{name}"


def stored_value(db: sqlite_utils.Database, name: str, line: int | None = None) -> Any:
    """What has been set for this setting in this scope (None: nothing, the default applies)."""
    row = db.execute("SELECT value FROM settings WHERE scope = ? AND name = ?", (_scope(line), name)).fetchone()
    return json.loads(row[0]) if row else None


def _scope(line: int | None) -> str:
    return "" if line is None else f"line.{line}"


def set_value(db: sqlite_utils.Database, name: str, value: Any, line: int | None = None, *,
              check_ages: bool = True) -> Any:
    """Store a setting (refused: SettingError). check_ages False: the caller checked the two ages
    of several changes made together (ages.check), which one by one might pass through a conflict."""
    setting, line = split_name(name, line)
    parsed = setting.parse(value)
    if setting.name in AGES and check_ages:
        from . import ages  # it reads the settings: imported here, not at the top
        ages.check(db, [(setting.name, line, parsed)])
    db["settings"].upsert({"scope": _scope(line), "name": setting.name, "value": json.dumps(parsed),
                           "updated_at": times.now()}, pk=("scope", "name"))
    return parsed


def clear_value(db: sqlite_utils.Database, name: str, line: int | None = None, *, check_ages: bool = True) -> None:
    setting, line = split_name(name, line)
    if setting.name in AGES and check_ages:
        from . import ages
        ages.check(db, [(setting.name, line, None)])
    db.execute("DELETE FROM settings WHERE scope = ? AND name = ?", (_scope(line), setting.name))


def record_config_defaults(db: sqlite_utils.Database, lines: list) -> None:
    """Remember what the hardware config says, so `hookline settings` shows the real defaults."""
    defaults = {str(line.id): {s.name: getattr(line, s.config_key) for s in REGISTRY.values() if s.config_key}
                for line in lines}
    db["meta"].upsert({"key": "config_defaults", "value": json.dumps(defaults)}, pk="key")


def _config_defaults(db: sqlite_utils.Database) -> dict:
    row = db.execute("SELECT value FROM meta WHERE key = 'config_defaults'").fetchone()
    return json.loads(row[0]) if row else {}


def stored_values(db: sqlite_utils.Database) -> dict[tuple[str, str], Any]:
    """What has been set: (scope, name) -> value, scope '' for the box or 'line.N'."""
    return {(r[0], r[1]): json.loads(r[2]) for r in db.execute("SELECT scope, name, value FROM settings")}


def with_changes(stored: dict[tuple[str, str], Any],
                 changes: list[tuple[str, int | None, Any]]) -> dict[tuple[str, str], Any]:
    """stored_values() as they would be after these changes ((name, line, value); value None:
    cleared), to check or preview a change before it is made."""
    out = dict(stored)
    for name, line, value in changes:
        if value is None:
            out.pop((_scope(line), name), None)
        else:
            out[(_scope(line), name)] = value
    return out


def snapshot(db: sqlite_utils.Database) -> list[tuple[str, str, str]]:
    """Every stored row (scope, name, value as stored), in a fixed order: two snapshots are equal
    when nothing was set or cleared in between (the daemon polls this)."""
    return [tuple(r) for r in db.execute("SELECT scope, name, value FROM settings ORDER BY scope, name")]


def resolve(db: sqlite_utils.Database, line_ids: list[int] | None = None) -> dict:
    """Effective settings: {"box": {name: (value, source)}, "lines": {id: {name: (value, source)}}}.

    source is one of: set (box-wide row), line (line row), config, default. Line-only settings
    (a line's name) are among the lines' values only.
    """
    stored = stored_values(db)
    if line_ids is None:
        line_ids = sorted({int(k) for k in _config_defaults(db)} | set(_stored_lines(stored)))
    box = {s.name: (stored[("", s.name)], "set") if ("", s.name) in stored else (s.default, "default")
           for s in REGISTRY.values() if not s.line_only}
    lines = {}
    for line_id, inherited_values in inherited(db, line_ids, stored).items():
        own = {name: (stored[(f"line.{line_id}", name)], "line")
               for name in inherited_values if (f"line.{line_id}", name) in stored}
        lines[line_id] = {**inherited_values, **own}
    return {"box": box, "lines": lines}


def inherited(db: sqlite_utils.Database, line_ids: list[int],
              stored: dict[tuple[str, str], Any] | None = None) -> dict[int, dict[str, tuple[Any, str]]]:
    """What each line's settings would be without its own rows (the box-wide value, the config's,
    the built-in default): {id: {name: (value, source)}}, for the page's "empty: ..." hints."""
    stored = stored_values(db) if stored is None else stored
    cfg = _config_defaults(db)
    lines = {}
    for line_id in line_ids:
        values = {}
        for s in REGISTRY.values():
            if not s.per_line:
                continue
            if not s.line_only and ("", s.name) in stored:
                values[s.name] = (stored[("", s.name)], "set")
            elif s.name in cfg.get(str(line_id), {}):
                values[s.name] = (cfg[str(line_id)][s.name], "config")
            else:
                values[s.name] = (s.default_for(line_id), "default")
        lines[line_id] = values
    return lines


def _stored_lines(stored: dict[tuple[str, str], Any]) -> list[int]:
    """The lines that have rows of their own (scope line.N)."""
    return [int(scope[5:]) for scope, _ in stored if scope.startswith("line.") and scope[5:].isdigit()]


def line_rows(db: sqlite_utils.Database, name: str) -> dict[int, Any]:
    """Each line's own value of one setting (its line.N row), by line: the lines' runtime names."""
    rows = db.execute("SELECT scope, value FROM settings WHERE name = ? AND scope LIKE 'line.%'", (name,))
    return {int(scope[5:]): json.loads(value) for scope, value in rows if scope[5:].isdigit()}


def box_values(db: sqlite_utils.Database) -> dict[str, Any]:
    """The plain effective box-wide values (every setting, box-wide ones included)."""
    return {name: value for name, (value, _) in resolve(db, [])["box"].items()}


def line_values(db: sqlite_utils.Database, line_id: int) -> dict[str, Any]:
    """The plain effective values for one line."""
    return {name: value for name, (value, _) in resolve(db, [line_id])["lines"][line_id].items()}
