"""Runtime settings: what a person changes while the box runs, kept in SQLite.

A setting has a name, a type and a range. Line settings resolve per line in this order:
``line.N`` row, box-wide row, the default the hardware config gave (recorded by the daemon in
``meta``), the built-in default. Box-wide settings (``per_line=False``: retention, the disk
guard) have no ``line.N`` form and do not appear among a line's values. The daemon polls the
database and applies changes within a second, without a restart.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from . import times


class SettingError(ValueError):
    """A bad setting name or value; str() is the message for the person who typed it."""


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str                      # bool | int | float | choice
    help: str
    default: Any
    per_line: bool = True          # may be set for one line (line.N.NAME) as well as box-wide
    choices: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    config_key: str | None = None  # LineConfig attribute that supplies the default

    def parse(self, text: Any) -> Any:
        """Turn a typed value (CLI text, scenario TOML value) into this setting's type."""
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


REGISTRY: dict[str, Setting] = {s.name: s for s in (
    Setting("recording", "bool", "record calls on this line (off: calls are logged, not kept)", True),
    Setting("min_call_s", "float", "calls shorter than this many seconds are discarded",
            2.0, lo=0, hi=600, config_key="min_call_s"),
    Setting("max_call_s", "float", "a call longer than this many seconds continues in a linked next part",
            4 * 3600.0, lo=10, hi=24 * 3600, config_key="max_call_s"),
    Setting("consent", "choice", "recording notice played onto the line: off, start (one beep when "
            "recording starts) or periodic (a beep every beep_interval_s)", "off",
            choices=("off", "start", "periodic")),
    Setting("beep_interval_s", "int", "seconds between consent beeps when consent is periodic", 15, lo=5, hi=300),
    Setting("vox_start_dbfs", "float", "VOX lines: sound above this level (dBFS, measured above 300 Hz so "
            "hum does not count) starts a call", -40.0, lo=-70, hi=-10),
    Setting("vox_stop_dbfs", "float", "VOX lines: below this level (dBFS) the line counts as quiet; "
            "keep it a few dB under vox_start_dbfs", -48.0, lo=-80, hi=-15),
    Setting("vox_hang_s", "float", "VOX lines: this much quiet ends a call; shorter pauses and holds do not",
            8.0, lo=1, hi=120),
    Setting("vox_min_burst_ms", "int", "VOX lines: sound must last this long to start a call (clicks do not)",
            150, lo=50, hi=2000),
    Setting("retention_days", "int", "delete calls older than this many days, except those on hold "
            "(0: keep forever)", 0, per_line=False, lo=0, hi=3650),
    Setting("disk_reserve_pct", "int", "when free space on the recordings disk falls below this percentage, "
            "the oldest calls not on hold are deleted until it is above again", 5, per_line=False, lo=1, hi=50),
)}

# The settings the retention sweeper reads (box-wide only).
RETENTION = ("retention_days", "disk_reserve_pct")


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


def set_value(db: sqlite_utils.Database, name: str, value: Any, line: int | None = None) -> Any:
    setting, line = split_name(name, line)
    parsed = setting.parse(value)
    db["settings"].upsert({"scope": _scope(line), "name": setting.name, "value": json.dumps(parsed),
                           "updated_at": times.now()}, pk=("scope", "name"))
    return parsed


def clear_value(db: sqlite_utils.Database, name: str, line: int | None = None) -> None:
    setting, line = split_name(name, line)
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


def snapshot(db: sqlite_utils.Database) -> list[tuple[str, str, str]]:
    """Every stored row (scope, name, value as stored), in a fixed order: two snapshots are equal
    when nothing was set or cleared in between (the daemon polls this)."""
    return [tuple(r) for r in db.execute("SELECT scope, name, value FROM settings ORDER BY scope, name")]


def resolve(db: sqlite_utils.Database, line_ids: list[int] | None = None) -> dict:
    """Effective settings: {"box": {name: (value, source)}, "lines": {id: {name: (value, source)}}}.

    source is one of: set (box-wide row), line (line row), config, default.
    """
    stored = stored_values(db)
    cfg = _config_defaults(db)
    if line_ids is None:
        line_ids = sorted({int(k) for k in cfg} | {int(s.split(".")[1]) for s, _ in stored if s})
    box = {}
    for s in REGISTRY.values():
        box[s.name] = (stored[("", s.name)], "set") if ("", s.name) in stored else (s.default, "default")
    lines = {}
    for line_id in line_ids:
        values = {}
        for s in REGISTRY.values():
            if not s.per_line:
                continue
            if (f"line.{line_id}", s.name) in stored:
                values[s.name] = (stored[(f"line.{line_id}", s.name)], "line")
            elif ("", s.name) in stored:
                values[s.name] = (stored[("", s.name)], "set")
            elif s.name in cfg.get(str(line_id), {}):
                values[s.name] = (cfg[str(line_id)][s.name], "config")
            else:
                values[s.name] = (s.default, "default")
        lines[line_id] = values
    return {"box": box, "lines": lines}


def box_values(db: sqlite_utils.Database) -> dict[str, Any]:
    """The plain effective box-wide values (every setting, box-wide ones included)."""
    return {name: value for name, (value, _) in resolve(db, [])["box"].items()}


def line_values(db: sqlite_utils.Database, line_id: int) -> dict[str, Any]:
    """The plain effective values for one line."""
    return {name: value for name, (value, _) in resolve(db, [line_id])["lines"][line_id].items()}
