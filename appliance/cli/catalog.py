"""`hookline calls`, `events` and `recover`: the catalog of calls and line events."""
from __future__ import annotations

import json

import click

from ..present.words import clock
from . import _bad_input, _console_audit, _data_dir, _open_db, _setup_logging, data_option, main, table
from .box_view import NO_RECORDER_YET, BoxView


def _who(view: BoxView, call: dict) -> str:
    """The other end: caller's name and number, the number dialed, or withheld."""
    number = view.number(call["remote_number"] or call["dialed"])
    name = call.get("remote_name")
    if name and number:
        return f"{name}, {number}"
    return name or number or ("withheld" if call["remote_withheld"] else "")


def _status(call: dict) -> str:
    """'complete', 'complete, part 2', 'complete, cut short: disk full'."""
    words = [call["status"]] + ([f"part {call['part']}"] if call["part"] != 1 else [])
    if call.get("cut_short"):
        words.append(f"cut short: {call['cut_short'].replace('-', ' ')}")
    return ", ".join(words)


def _nothing_on(view: BoxView, db, what: str, line: int | None) -> str:
    """What an empty listing says: 'no calls', 'no events on line 2 Warehouse', or, for a line it
    cannot check, that no recorder has started yet (an unknown line is refused)."""
    if line is None:
        return f"no {what}"
    if not view.check_line_with_calls(db, line):
        return f"no {what} on line {line} ({NO_RECORDER_YET})"
    return f"no {what} on line {view.line(line)}"


@main.command()
@data_option
@click.option("--json", "as_json", is_flag=True, help="one JSON array on stdout")
@click.option("--line", type=int, help="only this line")
def calls(data: str | None, as_json: bool, line: int | None) -> None:
    """List the recorded calls, oldest first."""
    from ..store import catalog
    db = _open_db(_data_dir(data))
    rows = catalog.list_calls(db, line=line)
    view = BoxView.of(db)
    empty = "" if rows else _nothing_on(view, db, "calls", line)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    table.show(("CALL", "LINE", "STARTED", "LENGTH", "DIRECTION", "WHO", "STATUS", "FILE"),
               [(r["id"], view.line(r["line"]), view.time(r["started_at"]),
                 clock(r["duration_s"]) if r["status"] != "recording" else "",
                 r["direction"] or "unknown", _who(view, r),
                 _status(r), r["path"])
                for r in rows], right={3}, note=view.zone_note(), empty=empty)


def _detail(view: BoxView, detail: dict) -> str:
    """An event's detail as key=value pairs, numbers readable, nothing said about what is unknown."""
    return " ".join(f"{k}={view.number(v) if k in NUMBER_KEYS and isinstance(v, str) else v}"
                    for k, v in detail.items() if v is not None)


NUMBER_KEYS = ("number", "dialed", "remote_number")


@main.command()
@data_option
@click.option("--json", "as_json", is_flag=True, help="one JSON array on stdout")
@click.option("--line", type=int, help="only this line")
@click.option("--call", "call_id", help="only this call")
def events(data: str | None, as_json: bool, line: int | None, call_id: str | None) -> None:
    """List the line events: off-hook, on-hook, discards and their reasons, device errors."""
    from ..store import catalog
    db = _open_db(_data_dir(data))
    rows = catalog.list_events(db, line=line, call_id=call_id)
    view = BoxView.of(db)
    empty = ""
    if not rows:
        empty = _nothing_on(view, db, "events", line)
        if call_id is not None and catalog.get_call(db, call_id) is None:
            _bad_input(f"there is no call {call_id!r} (see: hookline calls)")
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    from ..present.events import Context, sentence
    said = Context(region=view.facts.phone_region)
    table.show(("TIME", "LINE", "CALL", "EVENT", "WHAT", "DETAIL"),
               [(view.time(r["at"]), view.line(r["line"]), r["call_id"] or "", r["kind"], sentence(r, said),
                 _detail(view, r["detail"])) for r in rows],
               note=view.zone_note(), empty=empty + (f" for call {call_id}" if call_id else ""))


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
