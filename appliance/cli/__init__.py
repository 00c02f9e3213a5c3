"""The `hookline` command (docs/cli.md): exit 0 ok, 2 bad usage or input, 1 other failure.

This package holds the click group `main` and what its commands share (the data folder, the
catalog, bad input, who is at the console); each command group has its own module. A command
parses its options, calls the module that does the work, and prints."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from .. import config as configmod, logformat

DEFAULT_CONFIG = Path("/etc/hookline/hookline.toml")


class Failure(click.ClickException):
    """A failure that is not the user's input: exit 1."""
    exit_code = 1


def _bad_input(message: str):
    click.echo(f"hookline: {message}", err=True)
    sys.exit(2)


def _setup_logging(verbose: bool = False) -> None:
    logformat.configure(logging.DEBUG if verbose else logging.INFO)


def _data_dir(data: str | None, config: str | None = None) -> Path:
    if data:
        return Path(data)
    if config or DEFAULT_CONFIG.exists():
        try:
            return configmod.load(config or DEFAULT_CONFIG).data_dir
        except configmod.ConfigError as e:
            _bad_input(str(e))
    return Path("/var/lib/hookline")


def no_catalog(data_dir: Path) -> str:
    """What every command says where the data folder has no catalog."""
    return f"no catalog in {data_dir}: is this the data folder? (hookline run or hookline demo creates it)"


def _open_db(data_dir: Path, create: bool = False):
    """The catalog in data_dir. Where there is none, every command stops with the same line
    (exit 2), except the two that set up a new box before its first start (create: `users add`,
    `settings set`), which make it and say so."""
    from ..store import db as dbmod
    try:
        exists = (data_dir / dbmod.DB_NAME).exists()
    except PermissionError:
        raise Failure(f"cannot open the catalog in {data_dir}: permission denied (on the box, run the "
                      f"command as the recorder's user: sudo -u hookline hookline ...)") from None
    if not exists:
        if not create:
            _bad_input(no_catalog(data_dir))
        click.echo(f"hookline: no catalog in {data_dir} yet: made a new one", err=True)
    return dbmod.connect(data_dir)


data_option = click.option("--data", "data", type=click.Path(file_okay=False),
                           help="data folder (catalog and recordings)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hookline")
def main() -> None:
    """Hookline call recorder."""


# -- who makes a change at the console, for the audit log --------------------------------------
def _console_person() -> tuple[str, dict, str | None]:
    """Who is making a change at the console, for the audit log: ("console:NAME", detail, address).

    NAME is the person sudo names (SUDO_USER: whoever can write the catalog could claim anything
    anyway), else the OS user; "console:" can never be a web user's name (they have no colon).
    Over SSH the client's address is kept."""
    import os
    import pwd
    uid = os.getuid()
    try:
        os_user = pwd.getpwuid(uid).pw_name
    except KeyError:
        os_user = f"uid {uid}"
    detail = {"via": "console", "os_user": os_user}
    person = os_user
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and sudo_user != os_user:
        detail["sudo_user"] = person = sudo_user
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    return f"console:{person}", detail, ssh[0] if ssh else None


def _console_audit(db, action: str, target: str | None, **detail) -> None:
    from ..store import audit as auditmod
    person, console, address = _console_person()
    auditmod.append(db, action, user=person, target=target, detail={**detail, **console}, remote_addr=address)


# The command groups register themselves on `main` as they are imported.
from . import audit, catalog, dnr, erase, export, pause, recorder, retention, settings, status, store, tokens, users  # noqa: E402,F401,E501
