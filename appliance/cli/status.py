"""`hookline status`: the live state of each line, asked of the running recorder over its
command channel (appliance/control.py)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .. import config as configmod, control
from . import DEFAULT_CONFIG, Failure, _bad_input, data_option, main, table


def _status_file(data: str | None, config_path: str | None) -> Path:
    """The box's status file (the config's) when the data folder is the config's own, else the
    one `hookline simulate` and `demo` write in the data folder."""
    config_file = config_path or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    if config_file:
        try:
            cfg = configmod.load(config_file)
        except configmod.ConfigError as e:
            _bad_input(str(e))
        if data is None or Path(data).resolve() == Path(cfg.data_dir).resolve():
            return cfg.status_file
    if data is None:
        _bad_input("no config to find the recorder by: give --config FILE or --data DIR")
    return Path(data) / "run" / "status.json"


def _row(line: dict) -> tuple:
    call = f"{line['call_s']:.1f} s" if line.get("call_s") is not None else ""
    state = f"{line['state']} (paused)" if line.get("paused") and line["state"] == "recording" else line["state"]
    return (line["line"], line.get("name") or "", state, call, f"{line['level_near_dbfs']:.1f} dBFS",
            f"{line['level_far_dbfs']:.1f} dBFS", line.get("device_error") or "")


@main.command()
@data_option
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="the box's config (default: "
              f"{DEFAULT_CONFIG} if it exists)")
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
def status(data: str | None, config_path: str | None, as_json: bool) -> None:
    """What each line is doing now, from the running recorder."""
    try:
        answer = control.ask(control.socket_path(_status_file(data, config_path)), "status")
    except control.ControlError as e:
        raise Failure(str(e)) from None
    if as_json:
        click.echo(json.dumps(answer, indent=1))
        return
    table.show(("LINE", "NAME", "STATE", "IN CALL", "OFFICE LEVEL", "LINE LEVEL", "PROBLEM"),
               [_row(line) for line in answer["lines"]], right={0, 3, 4, 5}, empty="the recorder has no lines")
    if answer.get("disk_full"):          # when_full = stop-recording, and the disk is below its floor
        click.echo(f"hookline: new calls are {answer['disk_full']}", err=True)
