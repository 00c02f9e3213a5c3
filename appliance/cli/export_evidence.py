"""`hookline export --number N --evidence --to DIR [--since] [--until] [--json]`: the access
package for one number (appliance/export/evidence.py). Exit codes as the export's: 0 complete,
1 some recordings no longer match their hash (left out, listed), 2 bad input, 3 another export
runs, 4 the target filled up, 5 the target is missing, read-only or failed."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from . import DEFAULT_CONFIG, _bad_input, _console_person, _data_dir, _open_db
from .box_view import BoxView
from .export_progress import Bar


def _seal_path(data_dir: Path, config_path: str | None) -> Path | None:
    """Where the audit log's sealed head is, found as the export finds it."""
    from .export import seal_path
    config = Path(config_path) if config_path else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    return seal_path(data_dir, config)


def evidence_export(params: dict[str, Any]) -> NoReturn:
    """The export command's arguments (its click context's params) with --evidence."""
    from ..export import evidence, evidence_package, selection
    from ..present import zone as zonemod
    from ..store import by_number
    number, as_json = params["number"], params["as_json"]
    if number is None:
        _bad_input("--evidence needs --number: the access package is every call with one number")
    if params.get("line_id") is not None or params.get("new"):
        _bad_input("--evidence takes every call with the number: --line and --new do not apply")
    data_dir = _data_dir(params.get("data"), params.get("config_path"))
    db = _open_db(data_dir)
    facts = BoxView.of(db).facts
    zone = zonemod.box_zone(facts.timezone)
    try:
        sel = selection.Selection(selection.parse_day(params.get("since")), selection.parse_day(params.get("until")))
        plan = evidence_package.plan(db, data_dir, number, facts.phone_region, zone, sel.since, sel.until)
    except (selection.SelectionError, by_number.NumberError) as e:
        _bad_input(str(e))
    # Not a terminal (a service's journal): no line per file, whose names hold the number's digits.
    progress = Bar() if sys.stderr.isatty() and not as_json else None
    person, console, address = _console_person()
    result = evidence.run(db, data_dir, Path(params["to"]), plan, by=person,
                          seal_path=_seal_path(data_dir, params.get("config_path")), progress=progress,
                          audit_detail=console, remote_addr=address)
    if progress is not None:
        progress.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1))
    else:
        _say(result)
    sys.exit(result.exit_code)


def _say(result) -> None:
    for m in result.mismatched:
        click.echo(f"hookline: NOT in the package: call {m['call_id']} ({m['path']}): {m['reason']}", err=True)
    if result.folder is None:
        click.echo(f"hookline: no package written: {result.stopped_because}", err=True)
        return
    click.echo(f"access package written: {result.calls} call(s), {result.recordings} recording(s) in "
               f"{result.folder}", err=True)
