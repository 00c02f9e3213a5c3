"""`hookline settings list|get|set|unset`: the runtime settings."""
from __future__ import annotations

import json

import click

from ..store.settings import typed
from . import _bad_input, _console_audit, _data_dir, _open_db, data_option, main, table
from .box_view import NO_RECORDER_YET, BoxView

# Where a value in force comes from (settings.resolve's source), as the table and messages say it.
SOURCES = {"set": "box setting", "line": "line setting", "config": "config", "default": "built-in default"}
BACK_TO = {"set": "the box setting", "config": "the config's default", "default": "the default"}


@main.group()
def settings() -> None:
    """Runtime settings (picked up by a running daemon within a second)."""


@settings.command("list")
@data_option
@click.option("--json", "as_json", is_flag=True)
def settings_list(data: str | None, as_json: bool) -> None:
    """Every setting for the whole box and for each line, with where its value comes from."""
    from ..store import settings as s
    db = _open_db(_data_dir(data))
    resolved = s.resolve(db)
    if as_json:
        click.echo(json.dumps({"box": {k: {"value": v, "source": src} for k, (v, src) in resolved["box"].items()},
                               "lines": {str(n): {k: {"value": v, "source": src} for k, (v, src) in vals.items()}
                                         for n, vals in resolved["lines"].items()}}, indent=1))
        return
    view = BoxView.of(db)
    def meaning(name: str) -> str:
        setting = s.REGISTRY[name]
        return f"{setting.label} ({setting.unit})" if setting.unit else setting.label

    rows = [(name, "whole box", typed(value), SOURCES[source], meaning(name))
            for name, (value, source) in resolved["box"].items()]
    rows += [(name, f"line {view.line(line_id)}", typed(value), SOURCES[source], meaning(name))
             for line_id, vals in resolved["lines"].items() for name, (value, source) in vals.items()]
    table.show(("SETTING", "FOR", "VALUE", "SOURCE", "MEANING"), rows)


def _named_setting(name: str, line: int | None, value: str | None = None):
    """The setting NAME (or line.N.NAME) names, and its line (None: the box); exit 2 when there
    is no such setting, or when value is given and the setting does not take it."""
    from ..store import settings as s
    try:
        setting, line = s.split_name(name, line)
        if value is not None:
            setting.parse(value)
    except s.SettingError as e:
        _bad_input(str(e))
    if line is not None and line < 1:
        _bad_input(f"there is no line {line} (lines are numbered from 1)")
    return setting, line


def _on_line(db, line: int | None) -> BoxView:
    """The box, once the line named (if any) is known to be one of its lines (exit 2 if not)."""
    view = BoxView.of(db)
    if line is not None and not view.check_line(line):
        click.echo(f"hookline: note: {NO_RECORDER_YET}; line {line} is taken as given", err=True)
    return view


def _subject(view: BoxView, name: str, line: int | None) -> str:
    """'min_call_s (whole box)', 'line 2 (Warehouse) recording': what a message is about."""
    if line is None:
        return f"{name} (whole box)"
    line_name = view.facts.line_name(line)
    return f"line {line} {name}" if line_name == f"Line {line}" else f"line {line} ({line_name}) {name}"


def _audit_change(db, setting, line: int | None, before, after) -> None:
    from ..store import settings as s
    key = s.key(setting.name, line)
    _console_audit(db, "settings", key, changes={key: {"before": before, "after": after}})


def _effective(db, name: str, line: int | None):
    """The value in force now, and where it comes from."""
    from ..store import settings as s
    resolved = s.resolve(db, [line] if line is not None else [])
    return (resolved["lines"][line] if line is not None else resolved["box"])[name]


line_option = click.option("--line", type=int, help="one line's value (or name it line.N.NAME)")


@settings.command("get")
@click.argument("name")
@data_option
@line_option
def settings_get(name: str, data: str | None, line: int | None) -> None:
    """Print a setting's value in force (JSON) on stdout."""
    setting, line = _named_setting(name, line)
    db = _open_db(_data_dir(data))
    _on_line(db, line)
    click.echo(json.dumps(_effective(db, setting.name, line)[0]))


@settings.command("set", context_settings={"ignore_unknown_options": True})  # lets "-1" be a value
@click.argument("name")
@click.argument("value")
@data_option
@line_option
def settings_set(name: str, value: str, data: str | None, line: int | None) -> None:
    """Set a setting for the whole box, or for one line."""
    from ..store import settings as s
    setting, line = _named_setting(name, line, value)   # refuse before touching (or creating) the catalog
    data_dir = _data_dir(data)
    db = _open_db(data_dir, create=True)
    view = _on_line(db, line)
    before = s.stored_value(db, setting.name, line)
    was, source = _effective(db, setting.name, line)
    warning = _deletes(db, data_dir, setting, line, value)
    try:
        parsed = s.set_value(db, setting.name, value, line)
    except s.SettingError as e:           # a minimum age above a maximum
        _bad_input(str(e))
    subject = _subject(view, setting.name, line)
    if parsed == before:
        click.echo(f"{subject}: already {typed(parsed)}, nothing changed", err=True)
        return
    _audit_change(db, setting, line, before, parsed)
    click.echo(f"{subject}: now {typed(parsed)} (was {typed(was)}, the {SOURCES[source]})", err=True)
    _warn_deletes(warning)


def _warn_deletes(warning: str | None) -> None:
    if warning:
        click.echo(f"hookline: warning: {warning[:1].lower()}{warning[1:]} The recorder applies it within a "
                   "minute (hookline retention sweep --dry-run lists them).", err=True)


def _deletes(db, data_dir, setting, line: int | None, value: str | None) -> str | None:
    """What setting a retention setting to `value` (None: unsetting it) would delete that is not
    due now (None: nothing)."""
    import time

    from ..present import retention as words, zone
    from ..store import box, retention, settings as s
    if setting.name not in s.RETENTION:
        return None
    parsed = None if value is None else setting.parse(value)
    after, before = retention.preview_change(db, data_dir, [(setting.name, line, parsed)], time.time())
    return words.change_warning(after, before, zone.box_zone(box.facts(db).timezone))


@settings.command("unset")
@click.argument("name")
@data_option
@line_option
def settings_unset(name: str, data: str | None, line: int | None) -> None:
    """Go back to the default (for a line: the box's value; else the config's, or the built-in one)."""
    from ..store import settings as s
    setting, line = _named_setting(name, line)
    data_dir = _data_dir(data)
    db = _open_db(data_dir)
    view = _on_line(db, line)
    before = s.stored_value(db, setting.name, line)
    warning = _deletes(db, data_dir, setting, line, None)
    try:
        s.clear_value(db, setting.name, line)
    except s.SettingError as e:
        _bad_input(str(e))
    now, source = _effective(db, setting.name, line)
    subject = _subject(view, setting.name, line)
    if before is None:
        click.echo(f"{subject}: nothing was set, still {typed(now)} (the {SOURCES[source]})", err=True)
        return
    _audit_change(db, setting, line, before, None)
    click.echo(f"{subject}: back to {BACK_TO[source]} ({typed(now)}; was {typed(before)})", err=True)
    _warn_deletes(warning)
