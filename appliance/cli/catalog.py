"""`hookline calls`, `events` and `recover`: the catalog of calls and line events."""
from __future__ import annotations

import json

import click

from . import _console_audit, _data_dir, _open_db, _setup_logging, data_option, main


@main.command()
@data_option
@click.option("--json", "as_json", is_flag=True, help="one JSON array on stdout")
@click.option("--line", type=int, help="only this line")
def calls(data: str | None, as_json: bool, line: int | None) -> None:
    """List the recorded calls, oldest first."""
    from ..store import catalog
    rows = catalog.list_calls(_open_db(_data_dir(data)), line=line)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        who = r["remote_number"] or r["dialed"] or "-"
        click.echo(f"{r['id']}  line {r['line']}  {r['started_at']}  {r['duration_s'] or 0:8.1f} s  "
                   f"{r['direction'] or '-':8}  {who:14}  {r['status']:10}  {r['path'] or ''}")


@main.command()
@data_option
@click.option("--json", "as_json", is_flag=True, help="one JSON array on stdout")
@click.option("--line", type=int, help="only this line")
@click.option("--call", "call_id", help="only this call")
def events(data: str | None, as_json: bool, line: int | None, call_id: str | None) -> None:
    """List the line events: off-hook, on-hook, discards and their reasons, device errors."""
    from ..store import catalog
    rows = catalog.list_events(_open_db(_data_dir(data)), line=line, call_id=call_id)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        detail = " ".join(f"{k}={v}" for k, v in r["detail"].items())
        click.echo(f"{r['at']}  line {r['line']}  {r['kind']:12} {r['call_id'] or '-':10}  {detail}")


@main.command()
@data_option
def recover(data: str | None) -> None:
    """Finalize calls left unfinished by a crash or power cut."""
    from ..recording.recover import recover as do_recover
    _setup_logging()
    data_dir = _data_dir(data)
    db = _open_db(data_dir)
    ids = do_recover(db, data_dir)
    if ids:
        _console_audit(db, "recover", None, calls=ids)
    click.echo(f"recovered {len(ids)} call(s)" + (f": {', '.join(ids)}" if ids else ""))
