"""`hookline pause --line N` and `hookline resume --line N`: pause the recording of the call in
progress on a line (a card payment) and resume it, through the running recorder's command
channel (appliance/control.py), audited as the console's."""
from __future__ import annotations

import click

from .. import control
from . import DEFAULT_CONFIG, Failure, _console_audit, _console_person, main
from .status import _status_file


def _ask(kind: str, line: int, data: str | None, config_path: str | None) -> dict:
    person, _, _ = _console_person()
    try:
        return control.ask(control.socket_path(_status_file(data, config_path)), kind, line=line,
                           by="console", user=person)
    except control.ControlError as e:
        raise Failure(str(e)) from None


def _audit(kind: str, answer: dict, data: str | None, config_path: str | None) -> None:
    """The change in the audit log, where the catalog is this user's to write (else the line's
    events still say who paused: console and the user)."""
    from ..store import db as dbmod
    from . import _data_dir
    data_dir = _data_dir(data, config_path)
    try:
        db = dbmod.connect(data_dir) if (data_dir / dbmod.DB_NAME).exists() else None
    except Exception:               # not this user's to write: the recorder's events are the record
        db = None
    if db is None:
        return
    try:
        _console_audit(db, kind, answer.get("call_id"), line=answer["line"])
    finally:
        db.close()


def _pause_options(command):
    command = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                           help=f"the box's config (default: {DEFAULT_CONFIG} if it exists)")(command)
    command = click.option("--data", "data", type=click.Path(file_okay=False),
                           help="data folder (catalog and recordings)")(command)
    return click.option("--line", "line", type=click.IntRange(1, 99), required=True,
                        help="the line whose call to pause or resume")(command)


@main.command()
@_pause_options
def pause(line: int, data: str | None, config_path: str | None) -> None:
    """Pause the recording of the call in progress on a line (card payments)."""
    answer = _ask("pause", line, data, config_path)
    _audit("pause", answer, data, config_path)
    click.echo(f"line {line}: paused (resume with `hookline resume --line {line}`; "
               "it resumes by itself after the longest pause allowed)")


@main.command()
@_pause_options
def resume(line: int, data: str | None, config_path: str | None) -> None:
    """Resume the recording of a line's paused call."""
    answer = _ask("resume", line, data, config_path)
    if not answer.get("changed"):
        click.echo(f"line {line} is not paused: nothing to resume")
        return
    _audit("resume", answer, data, config_path)
    click.echo(f"line {line}: recording again after {answer['after_s']:.1f} s paused")
