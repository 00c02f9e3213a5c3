"""`hookline run`, `simulate`, `demo` and `web`: the recorder daemon, on real or simulated
hardware, and the web UI."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from .. import config as configmod
from . import DEFAULT_CONFIG, Failure, _bad_input, _data_dir, _setup_logging, data_option, main


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
    from ..daemon import Daemon
    from ..stopping import StopRequests
    daemon = Daemon(cfg, Path(data) if data else cfg.data_dir)
    # SIGTERM (systemd) and Ctrl-C alike: every call in progress is finalized at once, never cut short.
    with StopRequests() as stop:
        daemon.start()
        try:
            stop.wait_first()
        finally:
            daemon.stop()


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@data_option
@click.option("--speed", type=click.Choice(["max", "realtime"]), default="max", show_default=True)
@click.option("-v", "--verbose", is_flag=True)
def simulate(scenario: str, data: str | None, speed: str, verbose: bool) -> None:
    """Play a scenario file through the real daemon on simulated hardware."""
    from ..sim import runner, scenario as scenariomod
    if not data:
        _bad_input("simulate needs --data DIR")
    _setup_logging(verbose) if verbose else logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                                                                  format="%(levelname)s %(name)s: %(message)s")
    try:
        runner.simulate(Path(scenario), Path(data), speed)
    except scenariomod.ScenarioError as e:
        _bad_input(str(e))
    except RuntimeError as e:
        raise Failure(str(e)) from None


@main.command()
@click.option("--data", "data", type=click.Path(file_okay=False), default="demo-data", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def demo(data: str, host: str, port: int) -> None:
    """A simulated two-line office recording in real time, with the web page."""
    from ..sim import runner
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        runner.demo(Path(data), host, port)
    except OSError as e:
        raise Failure(f"cannot serve the demo page on {host}:{port}: {e.strerror or e} (try --port)") from None


@main.command()
@data_option
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--trust-proxy", is_flag=True,
              help="behind a reverse proxy on this box (HTTPS): take the client's address and scheme "
                   "from its X-Forwarded-For/-Proto headers")
def web(data: str | None, config_path: str | None, host: str, port: int, trust_proxy: bool) -> None:
    """Serve the web UI (waitress)."""
    from web import serve
    status_file = None
    # The box's config, when there is one, says where the status file and the audit seal are.
    config_file = config_path or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    if config_file:
        try:
            status_file = configmod.load(config_file).status_file
        except configmod.ConfigError as e:
            _bad_input(str(e))
    try:
        serve(_data_dir(data, config_path), host, port, status_file, config_file=config_file,
              trust_proxy=trust_proxy)
    except OSError as e:
        raise Failure(f"cannot serve on {host}:{port}: {e.strerror or e} (another server there? try --port)") from None
