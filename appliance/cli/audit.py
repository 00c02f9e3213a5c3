"""`hookline audit`, `audit verify` and `audit seal`: the audit log, checking it (its hash
chain, its sealed head, the recordings' SHA-256) and sealing its head."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .. import config as configmod
from . import DEFAULT_CONFIG, Failure, _bad_input, _data_dir, _open_db, data_option, main, table
from .box_view import BoxView

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
    from ..store import audit as auditmod
    if verify_chain:
        data_dir, seal_path = _audit_places(ctx, None, None, None)
        note = _verify_chain(_open_db(data_dir), seal_path)
        if note:
            click.echo(note, err=True)
        return
    db = _open_db(_data_dir(data, config_path))
    rows = auditmod.entries(db, user=user_name, action=action, target=target, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    from ..present import audit as words
    from ..store import catalog
    view = BoxView.of(db)
    about = {c: catalog.get_call(db, c) for c in {r["target"] for r in rows if r["action"] in words.CALL_ACTIONS}}
    said = words.Context(view.facts, view.zone, {c: row for c, row in about.items() if row})
    table.show(("ID", "TIME", "WHO", "ACTION", "WHAT", "FROM"),
               [(r["id"], view.time(r["at"]), words.who(r["user"], r["action"]), r["action"],
                 words.describe(r, said).text, r["remote_addr"] or "") for r in rows],
               right={0}, note=view.zone_note(), empty="no audit entries" + ("" if not (user_name or action or target)
                                                                            else " match"))


def _verify_chain(db, seal_path: Path) -> str | None:
    """Exit 1 naming the first entry that breaks the hash chain, or what the sealed head says is
    missing or rewritten; returns the note to print last when nothing has been sealed yet."""
    from ..store import audit as auditmod
    broken = auditmod.verify(db)
    if broken is not None:
        row = auditmod.entry_summary(db, broken)
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
    from ..store import audit_seal
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
    from ..store import audit_seal
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
    """Exit 1 naming the first recording that no longer matches its SHA-256."""
    from ..store import integrity
    found = integrity.check_recordings(db, data_dir)
    bad = found.mismatch
    if bad is not None:
        why = (f"is missing or unreadable: {bad.path} ({bad.unreadable})" if bad.unreadable is not None
               else f"does not match its SHA-256: {bad.path}")
        click.echo(f"hookline: recording of call {bad.call_id} {why}", err=True)
        sys.exit(1)
    click.echo(f"recordings intact ({found.checked} files)")


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

    from ..store import audit_seal as sealmod, db as dbmod
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
        raise Failure(f"cannot read the catalog in {data_dir}: {e}") from None
    try:
        done = sealmod.seal(db, seal_path)
    except sealmod.SealError as e:
        click.echo(f"hookline: not sealing, the audit log no longer matches its seal: {e}", err=True)
        sys.exit(1)
    except sqlite3.Error as e:
        raise Failure(f"cannot read the audit log in {data_dir}: {e}") from None
    except OSError as e:
        raise Failure(f"cannot write the sealed audit head {seal_path}: {e.strerror or e}") from None
    head = done.head
    upto = f"entry {head.id}, {head.count} entries" if head.id is not None else "no entries yet"
    if done.action == "sealed":
        click.echo(f"sealed the audit log's head in {seal_path} ({upto})")
    elif not quiet:
        click.echo(f"the audit log's head has not moved since its seal of {head.sealed_at} ({upto})")

