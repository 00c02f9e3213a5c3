"""`hookline store check`: do the catalog and the files agree, and (--repair) make them.

Exit 0: they agree (or repair settled everything found); 1: something is left for a person
(without --repair: anything found); 3: repair refused, more than half the catalog would change
(nothing changed; --force); 2: bad input, as every command."""
from __future__ import annotations

import json
import sys

import click

from . import _console_audit, _data_dir, _open_db, data_option, main

AGREE, LEFT, REFUSED = 0, 1, 3

# What each finding is, and what repair does or would do, in a line a technician reads.
SAID = {"no-row": "file with no catalog entry", "no-file": "catalog entry with no file",
        "wrong-size": "file of the wrong size", "wrong-hash": "file that is not what was recorded (SHA-256)",
        "quarantined": "unreadable file kept aside"}
DOES = {"adopt": "add its call back to the catalog (as recovered)", "relink": "link it back to its call",
        "mark-missing": "mark the call deleted: its file is missing", None: "left for a person"}


@main.group()
def store() -> None:
    """The catalog and the files of the data folder."""


def _line(finding, repaired: bool) -> str:
    what = SAID.get(finding.kind, finding.kind)
    call = f" (call {finding.call_id})" if finding.call_id else ""
    todo = DOES.get(finding.repair, finding.repair)
    if finding.repair:
        todo = ("done: " if repaired else "repair would ") + todo
    why = finding.detail.get("why") or finding.detail.get("error")
    return f"{finding.path}: {what}{call}; {todo}" + (f" ({why})" if why else "")


@store.command("check")
@data_option
@click.option("--repair", is_flag=True, help="make the catalog match the files (never deletes a recording)")
@click.option("--force", is_flag=True, help="repair even when more than half the catalog would change")
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
def store_check(data: str | None, repair: bool, force: bool, as_json: bool) -> None:
    """Find files with no catalog entry, entries with no file, files whose size or SHA-256 is not
    the catalog's, and files kept aside in quarantine/; --repair settles what it can."""
    from ..store import check as checkmod, check_repair
    data_dir = _data_dir(data)
    db = _open_db(data_dir)
    report = checkmod.check(db, data_dir)
    refused, done = False, []
    if repair and report.changes:
        try:
            done = check_repair.repair(db, data_dir, report, force=force)
        except check_repair.TooMany as e:
            refused = True
            click.echo(f"hookline: refusing to repair: {e}. More than half the catalog changing is more "
                       f"likely the wrong folder or a disk not mounted than lost files; check, then run "
                       f"again with --force. Nothing was changed.", err=True)
        if done:
            _console_audit(db, "store-repair", None, changed=[f.call_id for f in done], force=force,
                           kinds=sorted({f.repair for f in done}))
    left = [f for f in report.findings if f not in done]
    code = REFUSED if refused else (LEFT if left else AGREE)
    if as_json:
        click.echo(json.dumps({"data": str(data_dir), "kept_calls": report.kept_calls, "repair": repair,
                               "refused": refused, "findings": [f.as_json() for f in report.findings],
                               "repaired": [f.as_json() for f in done], "exit_code": code}, indent=1))
    else:
        for finding in report.findings:
            click.echo(_line(finding, finding in done))
        click.echo(f"{report.kept_calls} kept call(s) checked: {len(report.findings)} finding(s)"
                   + (f", {len(done)} repaired" if repair else ""), err=True)
    sys.exit(code)
