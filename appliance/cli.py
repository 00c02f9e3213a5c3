"""The `hookline` command (shared/spec/cli.md): exit 0 ok, 2 bad usage or input, 1 other failure."""
from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path

import click

from . import config as configmod

DEFAULT_CONFIG = Path("/etc/hookline/hookline.toml")


class Failure(click.ClickException):
    """A failure that is not the user's input: exit 1."""
    exit_code = 1


def _bad_input(message: str):
    click.echo(f"hookline: {message}", err=True)
    sys.exit(2)


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _data_dir(data: str | None, config: str | None = None) -> Path:
    if data:
        return Path(data)
    if config or DEFAULT_CONFIG.exists():
        try:
            return configmod.load(config or DEFAULT_CONFIG).data_dir
        except configmod.ConfigError as e:
            _bad_input(str(e))
    return Path("/var/lib/hookline")


def _open_db(data_dir: Path, must_exist: bool = True, read_only: bool = False):
    """The catalog in data_dir. A missing one is an error (must_exist), reads as empty
    (read_only: nothing is created by looking), or is created (settings set on a new box)."""
    from .store import db as dbmod
    if not (data_dir / dbmod.DB_NAME).exists():
        if must_exist:
            _bad_input(f"no Hookline catalog in {data_dir} (check --data)")
        if read_only:
            return dbmod.empty()
    return dbmod.connect(data_dir)


data_option = click.option("--data", "data", type=click.Path(file_okay=False), help="data folder (catalog and recordings)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hookline")
def main() -> None:
    """Hookline call recorder."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=str(DEFAULT_CONFIG),
              show_default=True, help="hardware config (TOML)")
@data_option
@click.option("-v", "--verbose", is_flag=True)
def run(config_path: str, data: str | None, verbose: bool) -> None:
    """Run the recorder daemon on the real hardware."""
    try:
        cfg = configmod.load(config_path)
    except configmod.ConfigError as e:
        _bad_input(str(e))
    _setup_logging(verbose)
    from .daemon import Daemon
    daemon = Daemon(cfg, Path(data) if data else cfg.data_dir)
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_stop())
    daemon.start()
    try:
        daemon.wait()
    except KeyboardInterrupt:
        pass
    finally:
        daemon.stop()


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@data_option
@click.option("--speed", type=click.Choice(["max", "realtime"]), default="max", show_default=True)
@click.option("-v", "--verbose", is_flag=True)
def simulate(scenario: str, data: str | None, speed: str, verbose: bool) -> None:
    """Play a scenario file through the real daemon on simulated hardware."""
    from .sim import runner, scenario as scenariomod
    if not data:
        _bad_input("simulate needs --data DIR")
    _setup_logging(verbose) if verbose else logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                                                                  format="%(levelname)s %(name)s: %(message)s")
    try:
        runner.simulate(Path(scenario), Path(data), speed)
    except scenariomod.ScenarioError as e:
        _bad_input(str(e))
    except RuntimeError as e:
        raise Failure(str(e))


@main.command()
@click.option("--data", "data", type=click.Path(file_okay=False), default="demo-data", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def demo(data: str, host: str, port: int) -> None:
    """A simulated two-line office recording in real time, with the web page."""
    from .sim import runner
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        runner.demo(Path(data), host, port)
    except OSError as e:
        raise Failure(f"cannot serve the demo page on {host}:{port}: {e.strerror or e} (try --port)")


@main.command()
@data_option
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def web(data: str | None, config_path: str | None, host: str, port: int) -> None:
    """Serve the web page (waitress)."""
    from web import serve
    status_file = None
    if config_path or DEFAULT_CONFIG.exists():
        try:
            status_file = configmod.load(config_path or DEFAULT_CONFIG).status_file
        except configmod.ConfigError as e:
            _bad_input(str(e))
    serve(_data_dir(data, config_path), host, port, status_file)


@main.command()
@data_option
@click.option("--json", "as_json", is_flag=True, help="one JSON array on stdout")
@click.option("--line", type=int, help="only this line")
def calls(data: str | None, as_json: bool, line: int | None) -> None:
    """List the recorded calls, oldest first."""
    from .store import catalog
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
    from .store import catalog
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
    from .recording.recover import recover as do_recover
    _setup_logging()
    data_dir = _data_dir(data)
    ids = do_recover(_open_db(data_dir), data_dir)
    click.echo(f"recovered {len(ids)} call(s)" + (f": {', '.join(ids)}" if ids else ""))


@main.group()
def settings() -> None:
    """Runtime settings (picked up by a running daemon within a second)."""


@settings.command("list")
@data_option
@click.option("--json", "as_json", is_flag=True)
def settings_list(data: str | None, as_json: bool) -> None:
    from .store import settings as s
    resolved = s.resolve(_open_db(_data_dir(data), must_exist=False, read_only=True))
    if as_json:
        click.echo(json.dumps({"box": {k: {"value": v, "source": src} for k, (v, src) in resolved["box"].items()},
                               "lines": {str(n): {k: {"value": v, "source": src} for k, (v, src) in vals.items()}
                                         for n, vals in resolved["lines"].items()}}, indent=1))
        return
    for name, (value, source) in resolved["box"].items():
        click.echo(f"{name:16} {json.dumps(value):10} ({source})  {s.REGISTRY[name].help}")
    for line_id, vals in resolved["lines"].items():
        for name, (value, source) in vals.items():
            click.echo(f"line.{line_id}.{name:10} {json.dumps(value):10} ({source})")


@settings.command("get")
@click.argument("name")
@data_option
@click.option("--line", type=int)
def settings_get(name: str, data: str | None, line: int | None) -> None:
    from .store import settings as s
    try:
        setting, line = s.split_name(name, line)
    except s.SettingError as e:
        _bad_input(str(e))
    resolved = s.resolve(_open_db(_data_dir(data), must_exist=False, read_only=True),
                         [line] if line is not None else None)
    value = (resolved["lines"][line] if line is not None else resolved["box"])[setting.name][0]
    click.echo(json.dumps(value))


@settings.command("set", context_settings={"ignore_unknown_options": True})  # lets "-1" be a value
@click.argument("name")
@click.argument("value")
@data_option
@click.option("--line", type=int)
def settings_set(name: str, value: str, data: str | None, line: int | None) -> None:
    from .store import settings as s
    try:
        setting, line = s.split_name(name, line)
        setting.parse(value)            # refuse before touching (or creating) the catalog
    except s.SettingError as e:
        _bad_input(str(e))
    parsed = s.set_value(_open_db(_data_dir(data), must_exist=False), setting.name, value, line)
    click.echo(f"{name} = {json.dumps(parsed)}", err=True)


@settings.command("unset")
@click.argument("name")
@data_option
@click.option("--line", type=int)
def settings_unset(name: str, data: str | None, line: int | None) -> None:
    """Go back to the default (the config's, or the built-in one)."""
    from .store import settings as s
    try:
        setting, line = s.split_name(name, line)
    except s.SettingError as e:
        _bad_input(str(e))
    s.clear_value(_open_db(_data_dir(data)), setting.name, line)


if __name__ == "__main__":
    main()
