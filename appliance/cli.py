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
        raise Failure(f"cannot serve on {host}:{port}: {e.strerror or e} (another server there? try --port)")


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
    from .store import catalog, retention as retentionmod, settings as settingsmod
    data_dir = _data_dir(data)
    db = _open_db(data_dir)
    values = settingsmod.box_values(db)
    now = time.time()
    if dry_run:
        rows = [{"id": call_id, "reason": reason} for call_id, reason in retentionmod.plan(db, data_dir, values, now)]
    else:
        deleted = retentionmod.sweep(db, data_dir, values, now)
        reasons = {}
        for call_id in deleted:    # the reason each deletion recorded in its 'deleted' event
            events = [e for e in catalog.list_events(db, call_id=call_id) if e["kind"] == "deleted"]
            reasons[call_id] = events[-1]["detail"].get("reason") if events else None
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
    db = _open_db(data_dir)
    ids = do_recover(db, data_dir)
    if ids:
        _console_audit(db, "recover", None, calls=ids)
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
    db = _open_db(_data_dir(data), must_exist=False)
    before = s.stored_value(db, setting.name, line)
    parsed = s.set_value(db, setting.name, value, line)
    if parsed != before:
        _console_audit(db, "settings", s.key(setting.name, line),
                       changes={s.key(setting.name, line): {"before": before, "after": parsed}})
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
    db = _open_db(_data_dir(data))
    before = s.stored_value(db, setting.name, line)
    s.clear_value(db, setting.name, line)
    if before is not None:
        _console_audit(db, "settings", s.key(setting.name, line),
                       changes={s.key(setting.name, line): {"before": before, "after": None}})


# -- users, API tokens and the audit log ---------------------------------------------------------
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


def _read_password(password_stdin: bool) -> str:
    """One line from stdin (--password-stdin), or asked twice without echo."""
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            _bad_input("password: nothing on stdin (--password-stdin reads one line)")
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _console_audit(db, action: str, target: str | None, **detail) -> None:
    from .store import audit
    person, console, address = _console_person()
    audit.append(db, action, user=person, target=target, detail={**detail, **console}, remote_addr=address)


def _user_change(db, name: str, change, **detail) -> None:
    """Apply change(db, name) -> row to an existing user; audit it as user-change."""
    from .store import users as u
    try:
        row = change(db, name)
    except u.UserError as e:
        _bad_input(str(e))
    _console_audit(db, "user-change", row["name"], **detail)
    click.echo(f"{row['name']}: {', '.join(f'{k} {v}' for k, v in detail.items())}", err=True)


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
    from .store import users as u
    password = _read_password(password_stdin)
    try:
        u.check_new_user(name, role, password)      # before anything is created or written
    except u.UserError as e:
        _bad_input(str(e))
    db = _open_db(_data_dir(data), must_exist=False)
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
    from .store import users as u
    rows = u.list_users(_open_db(_data_dir(data), must_exist=False, read_only=True))
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no users yet (add one with: hookline users add NAME --role admin)", err=True)
    for r in rows:
        state = "disabled" if r["disabled"] else f"locked until {r['locked_until']}" if r["locked_until"] else "enabled"
        click.echo(f"{r['name']:24} {r['role']:8}  {state:34}  created {r['created_at']}")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from one line of stdin")
@data_option
def users_passwd(name: str, password_stdin: bool, data: str | None) -> None:
    """Set a user's password (ends their web sessions, clears a lockout)."""
    from .store import users as u
    db = _open_db(_data_dir(data))
    if u.get_user_by_name(db, name) is None:
        _bad_input(f"user: no user named {name!r}")
    password = _read_password(password_stdin)
    _user_change(db, name, lambda db, name: u.set_password(db, name, password), password="changed")


@users.command("role")
@click.argument("name")
@click.argument("role")
@data_option
def users_role(name: str, role: str, data: str | None) -> None:
    """Change a user's role."""
    from .store import users as u
    _user_change(_open_db(_data_dir(data)), name, lambda db, name: u.set_role(db, name, role), role=role)


@users.command("disable")
@click.argument("name")
@data_option
def users_disable(name: str, data: str | None) -> None:
    """Stop a user from logging in (their sessions and tokens stop working)."""
    from .store import users as u
    _user_change(_open_db(_data_dir(data)), name, lambda db, name: u.set_disabled(db, name, True), disabled=True)


@users.command("enable")
@click.argument("name")
@data_option
def users_enable(name: str, data: str | None) -> None:
    """Let a disabled user log in again."""
    from .store import users as u
    _user_change(_open_db(_data_dir(data)), name, lambda db, name: u.set_disabled(db, name, False), disabled=False)


@users.command("remove")
@click.argument("name")
@data_option
def users_remove(name: str, data: str | None) -> None:
    """Remove a user and their API tokens (the audit log keeps their name)."""
    from .store import users as u
    db = _open_db(_data_dir(data))
    row = u.get_user_by_name(db, name)
    try:
        u.remove_user(db, name)
    except u.UserError as e:
        _bad_input(str(e))
    _console_audit(db, "user-remove", row["name"], role=row["role"])
    click.echo(f"removed {row['name']}", err=True)


@main.group()
def tokens() -> None:
    """API tokens (Authorization: Bearer TOKEN): each acts as its user."""


@tokens.command("create")
@click.option("--user", "user_name", required=True, help="the user the token acts as")
@click.option("--label", default="console", show_default=True, help="what the token is for")
@data_option
def tokens_create(user_name: str, label: str, data: str | None) -> None:
    """Print a new token on stdout (only there, only now)."""
    from .store import users as u
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
    from .store import users as u
    db = _open_db(_data_dir(data), must_exist=False, read_only=True)
    try:
        rows = u.list_tokens(db, user_name)
    except u.UserError as e:
        _bad_input(str(e))
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else f"last used {r['last_used_at'] or 'never'}"
        click.echo(f"{r['id']:5}  {r['user']:20} {r['prefix']}…  {r['label']:24}  created {r['created_at']}  {state}")


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@data_option
def tokens_revoke(token_id: str, data: str | None) -> None:
    """Revoke a token: it stops working at once."""
    from .store import users as u
    if not token_id.isascii() or not token_id.isdigit():
        _bad_input(f"token: {token_id!r} is not a token id (see: hookline tokens list)")
    db = _open_db(_data_dir(data))
    token = u.get_token(db, int(token_id))
    if token is None or not u.revoke_token(db, int(token_id)):
        _bad_input(f"token: no token {token_id} in use (see: hookline tokens list)")
    _console_audit(db, "token-revoke", token["user"], token_id=token["id"], label=token["label"])
    click.echo(f"revoked token {token['id']} of {token['user']} ({token['label']})", err=True)


seal_option = click.option("--seal", "seal", type=click.Path(dir_okay=False),
                           help="the sealed audit head (default: the config's audit_seal_file)")
audit_config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                                   help=f"hardware config (TOML; default {DEFAULT_CONFIG} if it exists)")


@main.group(invoke_without_command=True)
@data_option
@click.option("--json", "as_json", is_flag=True, help="one JSON array on stdout")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="newest N entries")
@click.option("--user", "user_name", help="only this user's entries")
@click.option("--action", help="only this action (login, listen, delete, user-add, ...)")
@click.option("--target", help="only entries about this call id, user or setting")
@click.option("--verify", "verify_chain", is_flag=True, help="check the hash chain and the seal instead of listing")
@seal_option
@audit_config_option
@click.pass_context
def audit(ctx: click.Context, data: str | None, as_json: bool, limit: int, user_name: str | None,
          action: str | None, target: str | None, verify_chain: bool, seal: str | None,
          config_path: str | None) -> None:
    """The audit log, newest first: who did what, and when (`audit verify`: check it;
    `audit seal`: seal its head)."""
    ctx.obj = {"data": data, "seal": seal, "config": config_path}
    if ctx.invoked_subcommand is not None:
        return
    from .store import audit as auditmod
    if verify_chain:
        data_dir, seal_path = _audit_places(ctx, None, None, None)
        note = _verify_chain(_open_db(data_dir), seal_path)
        if note:
            click.echo(note, err=True)
        return
    rows = auditmod.entries(_open_db(_data_dir(data, config_path), must_exist=False, read_only=True), user=user_name,
                            action=action, target=target, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        detail = " ".join(f"{k}={v}" for k, v in r["detail"].items())
        click.echo(f"{r['id']:6}  {r['at']}  {r['user'] or '(box)':16} {r['action']:13} {r['target'] or '-':16} "
                   f"{r['remote_addr'] or '':15} {detail}")


def _verify_chain(db, seal_path: Path) -> str | None:
    """Exit 1 naming the first entry that breaks the hash chain, or what the sealed head says is
    missing or rewritten; returns the note to print last when nothing has been sealed yet."""
    from .store import audit as auditmod
    broken = auditmod.verify(db)
    if broken is not None:
        row = db.execute("SELECT at, action, target FROM audit WHERE id = ?", [broken]).fetchone()
        what = f" ({', '.join(str(v) for v in row if v is not None)})" if row else ""
        click.echo(f"hookline: audit log tampered with: entry {broken}{what} does not match the hash chain "
                   f"(it, or an entry just before it, was edited or deleted)", err=True)
        sys.exit(1)
    sealed, note = _verify_seal(db, seal_path)
    click.echo(f"audit log intact ({auditmod.count(db)} entries)")
    if sealed is not None:
        upto = f"entry {sealed.id}, {sealed.count} entries" if sealed.id is not None else "no entries then"
        click.echo(f"audit log matches its seal of {sealed.sealed_at} ({upto})")
    return note


def _audit_places(ctx: click.Context, data: str | None, seal: str | None,
                  config_path: str | None) -> tuple[Path, Path]:
    """The data folder and the sealed head's file: a subcommand's options, else the group's; the
    seal is --seal, else the config's audit_seal_file (--config, or the box's config when it
    exists), else audit-head.json in the data folder (development: no protection there)."""
    from .store import audit_seal
    obj = ctx.obj or {}
    data, seal, config_path = data or obj.get("data"), seal or obj.get("seal"), config_path or obj.get("config")
    data_dir = _data_dir(data, config_path)
    if seal:
        return data_dir, Path(seal)
    try:
        return data_dir, audit_seal.seal_file(data_dir, config_path or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists()
                                                                        else None))
    except configmod.ConfigError as e:
        _bad_input(str(e))


def _verify_seal(db, seal_path: Path):
    """Exit 1 naming what is wrong when the log no longer reaches its sealed head; returns the
    sealed head, and the note to print last when nothing has been sealed yet (not a failure)."""
    from .store import audit_seal
    try:
        sealed = audit_seal.read(seal_path)
    except audit_seal.SealError as e:
        click.echo(f"hookline: {e}", err=True)
        sys.exit(1)
    if sealed is None:
        return None, (f"hookline: note: no sealed audit head at {seal_path} yet (`hookline audit seal` makes one; "
                      f"on the box hookline-audit-seal.timer does, every minute): entries removed from the end of "
                      f"the log would not show")
    problems = audit_seal.check(db, seal_path)
    if problems:
        click.echo(f"hookline: audit log tampered with: {'; '.join(problems)}", err=True)
        sys.exit(1)
    return sealed, None


@audit.command("verify")
@data_option
@click.option("--no-files", is_flag=True, help="check the audit chain only, not the recordings' SHA-256")
@seal_option
@audit_config_option
@click.pass_context
def audit_verify(ctx: click.Context, data: str | None, no_files: bool, seal: str | None,
                 config_path: str | None) -> None:
    """Check the audit log's hash chain, that it still reaches its sealed head, and every
    recording's SHA-256; name the first mismatch."""
    data_dir, seal_path = _audit_places(ctx, data, seal, config_path)
    db = _open_db(data_dir)
    note = _verify_chain(db, seal_path)
    if not no_files:
        _verify_recordings(db, data_dir)
    if note:
        click.echo(note, err=True)


def _verify_recordings(db, data_dir: Path) -> None:
    import hashlib
    checked = 0
    for call_id, path, sha256 in db.execute("SELECT id, path, sha256 FROM calls WHERE path IS NOT NULL AND "
                                             "sha256 IS NOT NULL AND status IN ('complete', 'recovered') "
                                             "ORDER BY started_at, rowid"):
        digest = hashlib.sha256()
        try:
            with open(data_dir / path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except OSError as e:
            click.echo(f"hookline: recording of call {call_id} is missing or unreadable: {path} "
                       f"({e.strerror or e})", err=True)
            sys.exit(1)
        if digest.hexdigest() != sha256:
            click.echo(f"hookline: recording of call {call_id} does not match its SHA-256: {path}", err=True)
            sys.exit(1)
        checked += 1
    click.echo(f"recordings intact ({checked} files)")


@audit.command("seal")
@data_option
@seal_option
@audit_config_option
@click.option("-q", "--quiet", is_flag=True, help="say nothing when the head has not moved (the timer)")
@click.pass_context
def audit_seal_command(ctx: click.Context, data: str | None, seal: str | None, config_path: str | None,
                       quiet: bool) -> None:
    """Seal the audit log's head (newest entry, its hash, the count) in a file the web page cannot
    write (on the box every minute, as hookline-seal); refuse, exit 1, if the log no longer
    matches the previous seal. Reads the catalog read-only."""
    import sqlite3
    from .store import audit_seal as sealmod, db as dbmod
    data_dir, seal_path = _audit_places(ctx, data, seal, config_path)
    try:
        db = dbmod.connect_read_only(data_dir)
    except FileNotFoundError:
        problems = sealmod.check(dbmod.empty(), seal_path)
        if problems:
            click.echo(f"hookline: not sealing: no Hookline catalog in {data_dir}, and {'; '.join(problems)}",
                       err=True)
            sys.exit(1)
        click.echo(f"hookline: no Hookline catalog in {data_dir} yet: nothing to seal", err=True)
        return
    except sqlite3.Error as e:
        raise Failure(f"cannot read the catalog in {data_dir}: {e}")
    try:
        done = sealmod.seal(db, seal_path)
    except sealmod.SealError as e:
        click.echo(f"hookline: not sealing, the audit log no longer matches its seal: {e}", err=True)
        sys.exit(1)
    except sqlite3.Error as e:
        raise Failure(f"cannot read the audit log in {data_dir}: {e}")
    except OSError as e:
        raise Failure(f"cannot write the sealed audit head {seal_path}: {e.strerror or e}")
    head = done.head
    upto = f"entry {head.id}, {head.count} entries" if head.id is not None else "no entries yet"
    if done.action == "sealed":
        click.echo(f"sealed the audit log's head in {seal_path} ({upto})")
    elif not quiet:
        click.echo(f"the audit log's head has not moved since its seal of {head.sealed_at} ({upto})")


if __name__ == "__main__":
    main()
