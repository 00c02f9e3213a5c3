"""`hookline dnr add|list|remove`: the do-not-record list (appliance.store.dnr)."""
from __future__ import annotations

import json

import click

from . import _bad_input, _console_audit, _console_person, _data_dir, _open_db, data_option, main, table
from .box_view import BoxView


@main.group()
def dnr() -> None:
    """The do-not-record list: calls from or to these numbers are never recorded."""


@dnr.command("add")
@click.argument("pattern")
@click.option("--label", default="", help="who it is: Doctor, Union, Helpline")
@data_option
def dnr_add(pattern: str, label: str, data: str | None) -> None:
    """Add a number (+1 415 555 0123), a prefix (555*) or a pattern with ? for one digit."""
    from ..store import dnr as store
    db = _open_db(_data_dir(data), create=True)
    try:
        entry = store.add(db, pattern, label, _console_person()[0], BoxView.of(db).facts.phone_region)
    except store.DnrError as e:
        _bad_input(f"dnr: {e}")
    _console_audit(db, "dnr-add", entry.pattern, label=entry.label)
    click.echo(f"added {entry.named} to the do-not-record list: its calls are not recorded from now on", err=True)


@dnr.command("list")
@data_option
@click.option("--json", "as_json", is_flag=True, help="one JSON array on stdout")
def dnr_list(data: str | None, as_json: bool) -> None:
    """The list, by pattern."""
    from ..store import dnr as store
    db = _open_db(_data_dir(data))
    entries = store.entries(db)
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in entries], indent=1))
        return
    view = BoxView.of(db)
    table.show(("PATTERN", "LABEL", "ADDED", "BY"),
               [(e.pattern, e.label, view.time(e.added_at), e.added_by or "") for e in entries],
               note=view.zone_note(), empty="the do-not-record list is empty (add a number with: hookline dnr add "
                                            "NUMBER --label TEXT)")


@dnr.command("remove")
@click.argument("pattern")
@data_option
def dnr_remove(pattern: str, data: str | None) -> None:
    """Take a number or pattern off the list (written in any form of it)."""
    from ..store import dnr as store
    db = _open_db(_data_dir(data))
    try:
        entry = store.remove(db, pattern, BoxView.of(db).facts.phone_region)
    except store.DnrError as e:
        _bad_input(f"dnr: {e}")
    _console_audit(db, "dnr-remove", entry.pattern, label=entry.label)
    click.echo(f"removed {entry.named} from the do-not-record list: its calls are recorded again", err=True)
