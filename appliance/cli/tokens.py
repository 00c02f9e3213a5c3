"""`hookline tokens create|list|revoke`: API tokens."""
from __future__ import annotations

import json

import click

from . import _bad_input, _console_audit, _data_dir, _open_db, data_option, main, table
from .box_view import BoxView


@main.group()
def tokens() -> None:
    """API tokens (Authorization: Bearer TOKEN): each acts as its user."""


@tokens.command("create")
@click.option("--user", "user_name", required=True, help="the user the token acts as")
@click.option("--label", default="console", show_default=True, help="what the token is for")
@data_option
def tokens_create(user_name: str, label: str, data: str | None) -> None:
    """Print a new token on stdout (only there, only now)."""
    from ..store import users as u
    db = _open_db(_data_dir(data))
    try:
        token_id, token = u.create_token(db, user_name, label)
    except u.UserError as e:
        _bad_input(str(e))
    owner = u.get_user_by_name(db, user_name)["name"]
    _console_audit(db, "token-create", owner, token_id=token_id, label=label, prefix=token[:8])
    click.echo(token)
    click.echo(f"token {token_id} for {owner} ({label}): it cannot be shown again, keep it somewhere safe now",
               err=True)


@tokens.command("list")
@click.option("--user", "user_name", help="only this user's tokens")
@data_option
@click.option("--json", "as_json", is_flag=True, help="one JSON array on stdout")
def tokens_list(user_name: str | None, data: str | None, as_json: bool) -> None:
    """List tokens (their first characters, never the token)."""
    from ..store import users as u
    db = _open_db(_data_dir(data))
    try:
        rows = u.list_tokens(db, user_name)
    except u.UserError as e:
        _bad_input(str(e))
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    view = BoxView.of(db)
    table.show(("ID", "USER", "TOKEN", "LABEL", "CREATED", "STATE"),
               [(r["id"], r["user"], f"{r['prefix']}…", r["label"], view.time(r["created_at"]),
                 f"revoked {view.time(r['revoked_at'])}" if r["revoked_at"] else
                 f"last used {view.time(r['last_used_at'])}" if r["last_used_at"] else "never used")
                for r in rows], right={0}, note=view.zone_note(),
               empty="no API tokens" + (f" for {user_name}" if user_name else "") + " (make one with: hookline tokens "
                     "create --user NAME)")


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@data_option
def tokens_revoke(token_id: str, data: str | None) -> None:
    """Revoke a token: it stops working at once."""
    from ..store import users as u
    if not token_id.isascii() or not token_id.isdigit():
        _bad_input(f"token: {token_id!r} is not a token id (see: hookline tokens list)")
    db = _open_db(_data_dir(data))
    token = u.get_token(db, int(token_id))
    if token is None or not u.revoke_token(db, int(token_id)):
        _bad_input(f"token: no token {token_id} in use (see: hookline tokens list)")
    _console_audit(db, "token-revoke", token["user"], token_id=token["id"], label=token["label"])
    click.echo(f"revoked token {token['id']} of {token['user']} ({token['label']})", err=True)
