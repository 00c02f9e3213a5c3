"""`hookline settings list|get|set|unset`: the runtime settings."""
from __future__ import annotations

import json

import click

from . import _bad_input, _console_audit, _data_dir, _open_db, data_option, main


@main.group()
def settings() -> None:
    """Runtime settings (picked up by a running daemon within a second)."""


@settings.command("list")
@data_option
@click.option("--json", "as_json", is_flag=True)
def settings_list(data: str | None, as_json: bool) -> None:
    from ..store import settings as s
    resolved = s.resolve(_open_db(_data_dir(data), must_exist=False, read_only=True))
    if as_json:
        click.echo(json.dumps({"box": {k: {"value": v, "source": src} for k, (v, src) in resolved["box"].items()},
                               "lines": {str(n): {k: {"value": v, "source": src} for k, (v, src) in vals.items()}
                                         for n, vals in resolved["lines"].items()}}, indent=1))
        return
    for name, (value, source) in resolved["box"].items():
        click.echo(f"{name:16} {json.dumps(value):10} ({source})  {s.REGISTRY[name].help}")
    for line_id, vals in resolved["lines"].items():
        for name, (value, source) in vals.items():
            click.echo(f"line.{line_id}.{name:10} {json.dumps(value):10} ({source})")


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
    return setting, line


def _audit_change(db, setting, line: int | None, before, after) -> None:
    from ..store import settings as s
    key = s.key(setting.name, line)
    _console_audit(db, "settings", key, changes={key: {"before": before, "after": after}})


line_option = click.option("--line", type=int)


@settings.command("get")
@click.argument("name")
@data_option
@line_option
def settings_get(name: str, data: str | None, line: int | None) -> None:
    from ..store import settings as s
    setting, line = _named_setting(name, line)
    resolved = s.resolve(_open_db(_data_dir(data), must_exist=False, read_only=True),
                         [line] if line is not None else None)
    value = (resolved["lines"][line] if line is not None else resolved["box"])[setting.name][0]
    click.echo(json.dumps(value))


@settings.command("set", context_settings={"ignore_unknown_options": True})  # lets "-1" be a value
@click.argument("name")
@click.argument("value")
@data_option
@line_option
def settings_set(name: str, value: str, data: str | None, line: int | None) -> None:
    from ..store import settings as s
    setting, line = _named_setting(name, line, value)   # refuse before touching (or creating) the catalog
    db = _open_db(_data_dir(data), must_exist=False)
    before = s.stored_value(db, setting.name, line)
    parsed = s.set_value(db, setting.name, value, line)
    if parsed != before:
        _audit_change(db, setting, line, before, parsed)
    click.echo(f"{name} = {json.dumps(parsed)}", err=True)


@settings.command("unset")
@click.argument("name")
@data_option
@line_option
def settings_unset(name: str, data: str | None, line: int | None) -> None:
    """Go back to the default (the config's, or the built-in one)."""
    from ..store import settings as s
    setting, line = _named_setting(name, line)
    db = _open_db(_data_dir(data))
    before = s.stored_value(db, setting.name, line)
    s.clear_value(db, setting.name, line)
    if before is not None:
        _audit_change(db, setting, line, before, None)
