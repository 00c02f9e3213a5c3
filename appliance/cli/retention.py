"""`hookline retention sweep`: apply the retention rules now, or list what they would delete."""
from __future__ import annotations

import json

import click

from . import _console_audit, _data_dir, _open_db, data_option, main


@main.group()
def retention() -> None:
    """The retention rules (retention_days and min_age_days, box-wide and per line;
    max_recordings_gb; disk_reserve_pct and disk_reserve_gb; when_full); the recorder applies them
    by itself every minute."""


@retention.command("sweep")
@data_option
@click.option("--dry-run", is_flag=True, help="only list what would be deleted, and why, rule by rule")
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
def retention_sweep(data: str | None, dry_run: bool, as_json: bool) -> None:
    """Apply the retention rules now (calls on hold, and calls younger than their minimum age,
    are never deleted)."""
    import time

    from ..present import retention as words, zone
    from ..store import box, retention as retentionmod, settings as settingsmod
    data_dir = _data_dir(data)
    db = _open_db(data_dir)
    values = settingsmod.box_values(db)
    outcome = retentionmod.run(db, data_dir, values, time.time(), apply=not dry_run)
    rows = [{"id": call_id, "reason": reason} for call_id, reason in outcome.deleted]
    if not dry_run:
        for row in rows:
            _console_audit(db, "delete", row["id"], reason=row["reason"], by="retention sweep")
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, **{name: values[name] for name in settingsmod.RETENTION},
                               "rules": {e.rule: words.effect_json(e) for e in outcome.effects.values()},
                               "stops_recording": outcome.full,
                               "would_delete" if dry_run else "deleted": rows}, indent=1))
        return
    verb = "would delete" if dry_run else "deleted"
    for row in rows:
        click.echo(f"{row['id']}  {row['reason']}")
    click.echo(f"{verb} {len(rows)} call{'s' if len(rows) != 1 else ''} (retention_days={values['retention_days']}, "
               f"disk_reserve_pct={values['disk_reserve_pct']})", err=True)
    here = zone.box_zone(box.facts(db).timezone)
    for effect in outcome.effects.values():
        click.echo(f"  {words.effect_line(effect, here)}", err=True)
    if outcome.full:
        click.echo(f"  and new calls would not be recorded: {outcome.full}", err=True)
