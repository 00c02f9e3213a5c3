"""What the settings page shows: the whole box, then each line titled with its name, each in
groups (Recording, Notice to callers, ...) of fields with their label, unit, help and what an
empty field means. A line shows only what applies to its wiring: voice activation on VOX and
line-monitor lines, the notice where there is a device to play it (else it says so); the whole
box shows what applies to some line. Flask-free, so it is tested directly."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from appliance.store import settings as settingsmod
from appliance.store.box import BoxFacts, LineFacts
from appliance.store.settings import typed

WIRING = {"gpio": "hook switch on a GPIO input", "serial": "line monitor on a serial port",
          "vox": "voice-activated (no hook signal)"}
SOURCES = {"set": "the whole box's value", "config": "from the config", "default": "built in"}

# A group's note where a line's wiring changes what it means (None: nothing to say).
_NOTES = {
    ("Voice activation", "serial"): "Used only while the line monitor is silent: the line then tells "
                                    "calls by their sound.",
    ("Voice activation", "vox"): "This line starts and ends calls by their sound.",
}
NO_PLAYBACK = "This line has no playback device, so no notice can be played on it."
NO_PLAYBACK_BOX = "No line has a playback device, so no notice can be played on this box."
SERIAL_ONLY_BOX = "Only line-monitor lines use these, while their monitor is silent."


@dataclass
class Field:
    setting: settingsmod.Setting
    line: int | None                   # None: the whole box
    value: str = ""                    # what is stored, or what was typed
    placeholder: str = ""              # what applies when empty, as typed
    empty_means: str = ""              # the same in words: "2 seconds, from the config"
    error: str | None = None

    @property
    def key(self) -> str:
        """The form field's name: box.NAME or line.N.NAME, as in the audit log."""
        return settingsmod.key(self.setting.name, self.line)

    @property
    def scope(self) -> str:
        return "" if self.line is None else f"line.{self.line}"

    @property
    def options(self) -> list[tuple[str, str]]:
        """A choice's values and how each reads (on/off for a switch)."""
        if self.setting.kind == "bool":
            return [("on", "On"), ("off", "Off")]
        return [(value, label[:1].upper() + label[1:])
                for value, label in zip(self.setting.choices, self.setting.choice_labels)]


@dataclass
class Group:
    title: str
    fields: list[Field]
    note: str | None = None


@dataclass
class Scope:
    line: int | None
    title: str                         # "Whole box", or the line's name
    about: str                         # "line 1 · hook switch on a GPIO input"
    groups: list[Group] = field(default_factory=list)

    @property
    def key(self) -> str:
        return "box" if self.line is None else f"line-{self.line}"

    def fields(self) -> Iterator[Field]:
        for group in self.groups:
            yield from group.fields


def layout(box: BoxFacts, lines: list[int], stored: dict[tuple[str, str], Any],
           inherited: dict[int, dict[str, tuple[Any, str]]]) -> list[Scope]:
    """The page's scopes with their fields, values as stored (None facts for a line: its wiring is
    not known yet, so every setting is shown)."""
    known = [box.lines[n] for n in lines if n in box.lines]
    scopes = [_box_scope(known if len(known) == len(lines) else None, stored)]
    for n in lines:
        scopes.append(_line_scope(n, box.lines.get(n), box.line_name(n), stored, inherited[n]))
    return scopes


def _box_scope(lines: list[LineFacts] | None, stored: dict) -> Scope:
    scope = Scope(None, "Whole box", "every line follows these unless it has its own value")
    wirings = {line.wiring for line in lines or ()}
    for title in settingsmod.GROUPS:
        settings = [s for s in _in_group(title) if not s.line_only]
        shown = settings if lines is None else [s for s in settings if any(s.applies(line) for line in lines)]
        note = None
        if settings and not shown and settings[0].needs == "playback":
            note = NO_PLAYBACK_BOX
        elif shown and shown[0].needs == "vox" and lines is not None and "vox" not in wirings:
            note = SERIAL_ONLY_BOX
        fields = [_box_field(s, stored) for s in shown]
        if fields or note:
            scope.groups.append(Group(title, fields, note))
    return scope


def _box_field(setting: settingsmod.Setting, stored: dict) -> Field:
    if setting.config_key:          # each line's config gives its own default
        placeholder, means = "", "each line's own default, from its config"
    else:
        placeholder, means = typed(setting.default), f"{setting.shown(setting.default)}, built in"
    return Field(setting, None, typed(stored.get(("", setting.name))), placeholder, means)


def _line_scope(n: int, facts: LineFacts | None, name: str, stored: dict,
                inherited: dict[str, tuple[Any, str]]) -> Scope:
    about = [f"line {n}"] if name != f"Line {n}" else []
    if facts is not None:
        about.append(WIRING.get(facts.wiring, facts.wiring))
        about += ["caller-ID modem"] * facts.callerid + ["no playback device"] * (not facts.playback)
    scope = Scope(n, name, " · ".join(about))
    for title in settingsmod.GROUPS:
        settings = [s for s in _in_group(title) if s.per_line]
        shown = [s for s in settings if s.applies(facts)]
        note = _NOTES.get((title, facts.wiring)) if facts is not None and shown else None
        if settings and not shown and settings[0].needs == "playback":
            note = NO_PLAYBACK
        fields = []
        for s in shown:
            value, source = inherited[s.name]
            fields.append(Field(s, n, typed(stored.get((f"line.{n}", s.name))), typed(value),
                                f"{s.shown(value)}, {SOURCES[source]}"))
        if fields or note:
            scope.groups.append(Group(title, fields, note))
    return scope


def _in_group(title: str) -> list[settingsmod.Setting]:
    return [s for s in settingsmod.REGISTRY.values() if s.group == title]
