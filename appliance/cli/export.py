"""`hookline export --to DIR`: copy recordings onto a stick, verified, with an offline index
(appliance/export/). Exit codes: 0 complete, 1 some recordings no longer match their hash (left
out, listed), 2 bad input, 3 another export runs, 4 the target filled up, 5 the target is
missing, read-only or failed, 6 cancelled (Ctrl-C: the file under way is removed, the index lists
what was verified; a second Ctrl-C stops at once). Rerunning an export that stopped resumes it. A
stick mounted under the config's [export] mount_root is ejected (flushed and unmounted) once the
export has finished."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

import click

from .. import config as configmod
from . import DEFAULT_CONFIG, _bad_input, _console_person, _data_dir, _open_db, data_option, main
from .box_view import BoxView
from .export_progress import Bar, Lines


def seal_path(data_dir: Path, config_file: Path | None) -> Path | None:
    """Where the audit log's sealed head is (None: it cannot be told); the access package's too."""
    from ..store import audit_seal
    try:
        return audit_seal.seal_file(data_dir, config_file)
    except (configmod.ConfigError, OSError):
        return None


def _mount_root(config_file: Path | None, named: bool) -> Path:
    """The config's mount root. A broken config named with --config is bad input; the box's own,
    read only for the mount root, must not stop an export: it is said, and the default used."""
    if config_file is None:
        return configmod.ExportConfig().mount_root
    try:
        return configmod.load(config_file).export.mount_root
    except configmod.ConfigError as e:
        if named:
            _bad_input(str(e))
        click.echo(f"hookline: warning: {e}; taking sticks under {configmod.ExportConfig().mount_root}", err=True)
        return configmod.ExportConfig().mount_root


@main.command()
@click.option("--to", "to", required=True, type=click.Path(file_okay=False), help="the stick (its mount point)")
@click.option("--since", help="calls from this day on (YYYY-MM-DD, in the box's time zone)")
@click.option("--until", help="calls up to and including this day (YYYY-MM-DD)")
@click.option("--line", "line_id", type=int, help="only this line's calls")
@click.option("--number", help="only calls with this number (caller ID or dialed, written any way)")
# --evidence stays out of export()'s arguments: it is read from the context (export_evidence.py).
@click.option("--evidence", is_flag=True, expose_value=False,
              callback=lambda ctx, _, value: ctx.meta.update(evidence=value),
              help="with --number: the access package for that number, in its own folder (docs/cli.md)")
@click.option("--new", "new", is_flag=True, help="only what no earlier export took to this stick")
@click.option("--json", "as_json", is_flag=True, help="one JSON summary on stdout")
@click.option("--keep-mounted", is_flag=True, help="leave the stick mounted at the end (else it is ejected)")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=f"the box's config, for [export] mount_root (default: {DEFAULT_CONFIG} if it exists)")
@data_option
def export(to: str, since: str | None, until: str | None, line_id: int | None, number: str | None, new: bool,
           as_json: bool, keep_mounted: bool, config_path: str | None, data: str | None) -> None:
    """Copy recordings to a stick as Hookline/YYYY-MM-DD/*.mp3, each read back and checked
    against its SHA-256, with index.html, index.csv, SHA256SUMS and the audit log's head."""
    if click.get_current_context().meta.get("evidence"):
        from .export_evidence import evidence_export
        evidence_export(click.get_current_context().params)
    from ..export import job, selection
    config_file = Path(config_path) if config_path else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    mount_root = _mount_root(config_file, named=config_path is not None)
    data_dir = _data_dir(data, config_path)
    db = _open_db(data_dir)
    view = BoxView.of(db)
    if line_id is not None:
        view.check_line_with_calls(db, line_id)
    try:
        sel = selection.Selection(selection.parse_day(since), selection.parse_day(until), line_id, number, new)
        if number is not None:
            from ..store import by_number
            by_number.key_of(number, view.facts.phone_region)
    except (selection.SelectionError, ValueError) as e:
        _bad_input(str(e))
    progress = None if as_json else (Bar() if sys.stderr.isatty() else Lines())
    person, console, address = _console_person()
    try:
        with _cancel_on_interrupt() as cancel:
            result = job.run(db, data_dir, Path(to), sel, by=person, seal_path=seal_path(data_dir, config_file),
                             progress=progress, audit_detail=console, remote_addr=address, cancel=cancel)
    except selection.SelectionError as e:
        _bad_input(str(e))
    if progress is not None:
        progress.close()
    ejected = None if keep_mounted or result.exit_code not in (job.OK, job.MISMATCH) else \
        _eject(Path(to), mount_root)
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "ejected": ejected is True,
                               "eject_error": ejected if isinstance(ejected, str) else None}, indent=1))
    else:
        _say(result)
    if ejected is True:
        click.echo("The stick is flushed and unmounted: safe to remove.", err=True)
    elif isinstance(ejected, str):
        click.echo(f"hookline: the export finished, but the stick was not ejected: {ejected}", err=True)
    sys.exit(result.exit_code)


@contextlib.contextmanager
def _cancel_on_interrupt():
    """Ctrl-C (or SIGTERM) cancels the export cleanly at its next chunk (exit 6); a second Ctrl-C
    interrupts at once (the file under way is still removed)."""
    cancel = threading.Event()

    def stop(signum, frame) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        sys.stderr.write("\nhookline: cancelling the export (Ctrl-C again to stop at once)\n")

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _eject(to: Path, mount_root: Path) -> bool | str | None:
    """Eject the stick the export went to when it is one mounted under the mount root: True when
    ejected, the sentence why not when that failed, None when `to` is no such stick."""
    from ..export import sticks
    point = Path(os.path.realpath(to))
    if point not in {m.point for m in sticks.mounted_under(mount_root)}:
        return None
    try:
        sticks.eject(point)
    except sticks.EjectError as e:
        return str(e)
    return True


def _say(result) -> None:
    for m in result.mismatched:
        click.echo(f"hookline: NOT exported: call {m['call_id']} ({m['path']}): {m['reason']}", err=True)
    copied = f"copied {len(result.copied)} recording(s)"
    if result.already:
        copied += f", {len(result.already)} already on the stick"
    if result.complete:
        click.echo(f"export complete: {copied}; {result.listed} listed in {Path(result.target) / 'Hookline'}", err=True)
    else:
        click.echo(f"hookline: export incomplete: {result.stopped_because} {copied}"
                   f"{'' if result.stick is None else f'; {result.listed} listed in the index'}", err=True)
