"""`hookline erase --number N`: erase every call that involves a number (GDPR Art. 17), after
listing them and a confirmation; what stays as proof is in appliance/store/erasure.py."""
from __future__ import annotations

import json
import sys

import click

from . import Failure, _bad_input, _console_audit, _console_person, _data_dir, _open_db, data_option, main, table
from .box_view import BoxView


@main.command()
@click.option("--number", required=True, help="the phone number, written any way (caller ID or dialed)")
@click.option("--dry-run", is_flag=True, help="only list what would be erased, and what would be refused")
@click.option("--yes", is_flag=True, help="do not ask (needed when not at a terminal)")
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
@data_option
def erase(number: str, dry_run: bool, yes: bool, as_json: bool, data: str | None) -> None:
    """Erase every call with this number: recordings deleted, the number cleared from their rows
    and events. Calls on hold or younger than their minimum age are refused (exit 1)."""
    from ..store import by_number, erasure
    data_dir = _data_dir(data)
    db = _open_db(data_dir)
    view = BoxView.of(db)
    try:
        plan = erasure.plan(db, number, view.facts.phone_region)
    except by_number.NumberError as e:
        _bad_input(str(e))
    if not dry_run and plan.erasable and not yes:
        if not sys.stdin.isatty():
            _bad_input(f"erasing {len(plan.erasable)} call(s) needs a confirmation: run it at a terminal, "
                       "or add --yes (--dry-run lists them)")
        _show(view, plan, "would erase")
        click.confirm(f"Erase {len(plan.erasable)} call(s)? This cannot be undone", abort=True, err=True)
    if not dry_run and plan.erasable:
        by = _console_person()[0]
        plan = erasure.erase(db, data_dir, number, view.facts.phone_region, by)
        _console_audit(db, "erase", None, number_hash=plan.number_hash, count=len(plan.erasable),
                       calls=[c["id"] for c in plan.erasable][:1000], refused=len(plan.refused))
    _report(view, plan, dry_run, as_json)
    if plan.refused:
        raise Failure(f"{len(plan.refused)} call(s) with this number were not erased (on hold, or younger "
                      "than their minimum age): listed above")


def _show(view: BoxView, plan, verb: str) -> None:
    rows = [(c["id"], view.line(c["line"]), view.time(c["started_at"]), c["status"],
             plan.refused.get(c["id"], verb)) for c in plan.calls]
    table.show(("CALL", "LINE", "STARTED", "STATUS", "WHAT HAPPENS"), rows, note=view.zone_note(),
               empty="no calls with this number")


def _report(view: BoxView, plan, dry_run: bool, as_json: bool) -> None:
    verb = "would erase" if dry_run else "erased"
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "number_hash": plan.number_hash,
                               "would_erase" if dry_run else "erased": [c["id"] for c in plan.erasable],
                               "refused": [{"id": i, "reason": r} for i, r in plan.refused.items()]}, indent=1))
    else:
        _show(view, plan, verb)
    click.echo(f"{verb} {len(plan.erasable)} call(s), refused {len(plan.refused)}", err=True)
