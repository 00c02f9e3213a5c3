"""`hookline retention sweep`: apply the retention rules now, or list what they would delete."""
from __future__ import annotations

import json

import click

from . import _console_audit, _data_dir, _open_db, data_option, main


@main.group()
def retention() -> None:
    """The retention rules (retention_days, disk_reserve_pct); the recorder applies them by itself
    every minute."""


@retention.command("sweep")
@data_option
@click.option("--dry-run", is_flag=True, help="only list what would be deleted, and why")
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
def retention_sweep(data: str | None, dry_run: bool, as_json: bool) -> None:
    """Apply the retention rules now (calls on hold are never deleted)."""
    import time

    from ..store import retention as retentionmod, settings as settingsmod
    data_dir = _data_dir(data)
    db = _open_db(data_dir)
    values = settingsmod.box_values(db)
    now = time.time()
    if dry_run:
        rows = [{"id": call_id, "reason": reason} for call_id, reason in retentionmod.plan(db, data_dir, values, now)]
    else:
        deleted = retentionmod.sweep(db, data_dir, values, now)
        reasons = retentionmod.deletion_reasons(db, deleted)   # what each 'deleted' event recorded
        for call_id in deleted:
            _console_audit(db, "delete", call_id, reason=reasons[call_id], by="retention sweep")
        rows = [{"id": call_id, "reason": reasons[call_id]} for call_id in deleted]
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "retention_days": values["retention_days"],
                               "disk_reserve_pct": values["disk_reserve_pct"],
                               "would_delete" if dry_run else "deleted": rows}, indent=1))
        return
    verb = "would delete" if dry_run else "deleted"
    for row in rows:
        click.echo(f"{row['id']}  {row['reason']}")
    click.echo(f"{verb} {len(rows)} call{'s' if len(rows) != 1 else ''} (retention_days={values['retention_days']}, "
               f"disk_reserve_pct={values['disk_reserve_pct']})", err=True)
