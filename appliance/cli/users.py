"""`hookline users ...`: who may use the web page and the API, and as what."""
from __future__ import annotations

import json
import sys

import click

from . import _bad_input, _console_audit, _data_dir, _open_db, data_option, main, table
from .box_view import BoxView


def _read_password(password_stdin: bool) -> str:
    """One line from stdin (--password-stdin), or asked twice without echo."""
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            _bad_input("password: nothing on stdin (--password-stdin reads one line)")
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _user_change(db, name: str, change, said: str, **detail) -> None:
    """Apply change(db, name) -> row to an existing user; audit it as user-change and say what
    was done (`said`, formatted with the user's row: {name}, {role}, ...)."""
    from ..store import users as u
    try:
        row = change(db, name)
    except u.UserError as e:
        _bad_input(str(e))
    _console_audit(db, "user-change", row["name"], **detail)
    click.echo(said.format(**row), err=True)


@main.group()
def users() -> None:
    """Who may use the web page and the API, and as what (admin, manager, listener)."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, help="admin, manager or listener")
@click.option("--password-stdin", is_flag=True, help="read the password from one line of stdin")
@data_option
def users_add(name: str, role: str, password_stdin: bool, data: str | None) -> None:
    """Add a user (asks for the password twice unless --password-stdin)."""
    from ..store import users as u
    password = _read_password(password_stdin)
    try:
        u.check_new_user(name, role, password)      # before anything is created or written
    except u.UserError as e:
        _bad_input(str(e))
    db = _open_db(_data_dir(data), create=True)
    try:
        row = u.create_user(db, name, role, password)
    except u.UserError as e:
        _bad_input(str(e))
    _console_audit(db, "user-add", row["name"], role=row["role"])
    click.echo(f"added {row['name']} ({row['role']})", err=True)


@users.command("list")
@data_option
@click.option("--json", "as_json", is_flag=True, help="one JSON array on stdout")
def users_list(data: str | None, as_json: bool) -> None:
    """List the users."""
    from ..store import users as u
    db = _open_db(_data_dir(data))
    rows = u.list_users(db)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    view = BoxView.of(db)
    table.show(("NAME", "ROLE", "STATE", "CREATED"),
               [(r["name"], r["role"], "disabled" if r["disabled"] else
                 f"locked until {view.time(r['locked_until'])}" if r["locked_until"] else "enabled",
                 view.time(r["created_at"])) for r in rows],
               note=view.zone_note(), empty="no users yet (add one with: hookline users add NAME --role admin)")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from one line of stdin")
@data_option
def users_passwd(name: str, password_stdin: bool, data: str | None) -> None:
    """Set a user's password (ends their web sessions, clears a lockout)."""
    from ..store import users as u
    db = _open_db(_data_dir(data))
    if u.get_user_by_name(db, name) is None:
        _bad_input(f"user: no user named {name!r}")
    password = _read_password(password_stdin)
    _user_change(db, name, lambda db, name: u.set_password(db, name, password),
                 "{name}: password changed, any lockout cleared; web sessions ended: {sessions_ended}, "
                 "API tokens revoked: {tokens_revoked}", password="changed")


@users.command("role")
@click.argument("name")
@click.argument("role")
@data_option
def users_role(name: str, role: str, data: str | None) -> None:
    """Change a user's role."""
    from ..store import users as u
    db = _open_db(_data_dir(data))
    before = u.get_user_by_name(db, name)
    was = f" (was {before['role']})" if before else ""
    _user_change(db, name, lambda db, name: u.set_role(db, name, role), "changed {name}'s role to {role}" + was,
                 role=role)


@users.command("disable")
@click.argument("name")
@data_option
def users_disable(name: str, data: str | None) -> None:
    """Stop a user from logging in (their sessions and tokens stop working)."""
    from ..store import users as u
    _user_change(_open_db(_data_dir(data)), name, lambda db, name: u.set_disabled(db, name, True),
                 "disabled {name}: they cannot log in; their sessions have ended and their API tokens are "
                 "revoked for good",
                 disabled=True)


@users.command("enable")
@click.argument("name")
@data_option
def users_enable(name: str, data: str | None) -> None:
    """Let a disabled user log in again."""
    from ..store import users as u
    _user_change(_open_db(_data_dir(data)), name, lambda db, name: u.set_disabled(db, name, False),
                 "enabled {name}: they can log in again (their old API tokens stay revoked)", disabled=False)


@users.command("remove")
@click.argument("name")
@data_option
def users_remove(name: str, data: str | None) -> None:
    """Remove a user and their API tokens (the audit log keeps their name)."""
    from ..store import users as u
    db = _open_db(_data_dir(data))
    row = u.get_user_by_name(db, name)
    try:
        u.remove_user(db, name)
    except u.UserError as e:
        _bad_input(str(e))
    _console_audit(db, "user-remove", row["name"], role=row["role"])
    click.echo(f"removed {row['name']} ({row['role']}) and their API tokens", err=True)
