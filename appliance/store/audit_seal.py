"""The audit log's sealed head: a copy of where the log ended, kept where the catalog's writers
cannot write, so that removing the newest entries or rewriting the log shows.

The hash chain (appliance.store.audit) shows an entry edited or removed in the middle of the log,
but someone who can write the catalog can also delete the newest entries, or rewrite every entry
and compute a fresh chain, and the chain alone still looks intact. The sealed head pins it: the
newest entry's id and hash, the number of entries, and when that was sealed. Because each hash
covers the one before it, the sealed hash pins every entry up to the head as well.

On the box, `hookline audit seal` runs every minute (hookline-audit-seal.timer) as the user
hookline-seal, which may read the catalog but not write it, and which alone may write
/var/lib/hookline-seal/; the web page and the recorder run as hookline and can only read the seal.
Before moving the head forward, seal() checks that the sealed entry is still there with its hash
and that every newer entry continues the chain, and refuses otherwise: a truncation is never
blessed by the next seal. check() is what `hookline audit verify` and the audit page ask.

Without a config (development, `hookline simulate`, `hookline demo`) the seal lives in the data
folder, which the web page can write: there it shows mistakes, not an attacker.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import sqlite_utils

from . import audit
from .times import iso

FORMAT = "hookline-audit-head/1"
SEAL_NAME = "audit-head.json"       # the seal in the data folder when there is no config
_HEX64 = re.compile(r"[0-9a-f]{64}")


class SealError(RuntimeError):
    """The seal cannot be read, or the log no longer matches it (so it is not moved forward)."""


@dataclass(frozen=True)
class Head:
    """Where the audit log ends: its newest entry (None: the log is empty) and that entry's hash,
    the number of entries, the newest entry's time, and when this was sealed (None: not sealed)."""
    id: int | None
    hash: str
    count: int
    at: str | None = None
    sealed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    def same_place(self, other: Head) -> bool:
        return (self.id, self.hash, self.count) == (other.id, other.hash, other.count)


@dataclass(frozen=True)
class Sealed:
    """What seal() did: "sealed" (wrote head) or "unchanged" (the head had not moved)."""
    action: str
    head: Head
    previous: Head | None


def seal_file(data_dir: str | Path, config_file: str | Path | None = None) -> Path:
    """Where the seal lives: the config's audit_seal_file (on the box /var/lib/hookline-seal/)
    when data_dir is the config's own data folder; otherwise (no config, or another folder such
    as a backup being checked) the data folder's own (no protection there: the web page can
    write it)."""
    if config_file is not None:
        from .. import config as configmod
        cfg = configmod.load(config_file)
        if Path(cfg.data_dir).resolve() == Path(data_dir).resolve():
            return cfg.audit_seal_file
    return Path(data_dir) / SEAL_NAME


def current_head(db: sqlite_utils.Database) -> Head:
    """The log's head now (not checked, not sealed): what an export carries beside its entries."""
    if not _has_audit(db):
        return Head(None, audit.GENESIS, 0)
    row = db.execute("SELECT id, hash, at FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return Head(None, audit.GENESIS, 0)
    return Head(row[0], row[1], audit.count(db), row[2])


def read(path: str | Path) -> Head | None:
    """The sealed head in PATH, or None when nothing has been sealed there yet."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SealError(f"the sealed audit head {path} cannot be read: {getattr(e, 'strerror', None) or e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SealError(f"the sealed audit head {path} is not a {FORMAT} file")
    try:
        head = Head(id=doc["id"], hash=doc["hash"], count=doc["count"], at=doc.get("at"), sealed_at=doc["sealed_at"])
    except KeyError as e:
        raise SealError(f"the sealed audit head {path} has no {e.args[0]!r}") from None
    ok = (isinstance(head.hash, str) and _HEX64.fullmatch(head.hash) and _is_int(head.count) and head.count >= 0
          and isinstance(head.sealed_at, str)
          and (head.id is None and head.count == 0 and head.hash == audit.GENESIS
               or _is_int(head.id) and head.id > 0 and head.count > 0))
    if not ok:
        raise SealError(f"the sealed audit head {path} is malformed")
    return head


def check(db: sqlite_utils.Database, path: str | Path) -> list[str]:
    """What is wrong with the log against the seal in PATH, in plain words; empty: nothing (also
    when nothing has been sealed yet: see read()). The entries after the sealed one are the hash
    chain's business (audit.verify)."""
    try:
        sealed = read(path)
    except SealError as e:
        return [str(e)]
    if sealed is None:
        return []
    with _snapshot(db):
        return _head_problems(db, sealed)


def seal(db: sqlite_utils.Database, path: str | Path, *, now: float | None = None) -> Sealed:
    """Move the sealed head in PATH forward to the log's newest entry, after checking the log
    against the previous seal: the sealed entry is still there with its hash, and every entry
    after it continues the chain (only the new entries are hashed; the very first seal checks the
    whole chain). Raises SealError, and writes nothing, when that check fails. The file is only
    rewritten when the head moved, atomically (a crash leaves the old seal or the new one)."""
    path = Path(path)
    previous = read(path)
    with _snapshot(db):
        head = _advance(db, previous)
    if previous is not None and head.same_place(previous):
        return Sealed("unchanged", previous, previous)
    head = replace(head, sealed_at=iso(time.time() if now is None else now))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two sealers at once (the timer and a person) may each rename theirs into place: the last
    # one wins, and either is a head the log matches.
    _write(path, head)
    return Sealed("sealed", head, previous)


# -- checking ------------------------------------------------------------------------------------
def _head_problems(db, sealed: Head) -> list[str]:
    if sealed.count == 0:
        return []                             # an empty log was sealed: nothing can be missing
    when = f"sealed at {sealed.sealed_at}"
    if not _has_audit(db):
        return [f"the catalog has no audit log but entry {sealed.id} was {when}: all {sealed.count} entries "
                f"were removed"]
    row = db.execute("SELECT id, at, user, action, target, detail, remote_addr, prev_hash, hash FROM audit "
                     "WHERE id = ?", [sealed.id]).fetchone()
    if row is None:
        newest = db.execute("SELECT max(id) FROM audit").fetchone()[0]
        if newest is None:
            return [f"the audit log is empty but entry {sealed.id} was {when}: all {sealed.count} entries were removed"]
        if newest < sealed.id:
            gone = (f"entry {sealed.id} was" if newest + 1 == sealed.id else
                    f"entries {newest + 1} and {sealed.id} were" if newest + 2 == sealed.id else
                    f"entries {newest + 1} to {sealed.id} were")
            return [f"the audit log ends at entry {newest} but entry {sealed.id} was {when}: {gone} removed"]
        return [f"entry {sealed.id}, {when}, is missing: entries were removed"]
    problems = []
    if row[8] != sealed.hash:
        problems.append(f"entry {sealed.id} no longer has the hash {when}: the log was rewritten")
    elif _hash_of(row) != row[8]:
        problems.append(f"entry {sealed.id} no longer matches the hash {when}: it was edited")
    count = db.execute("SELECT count(*) FROM audit WHERE id <= ?", [sealed.id]).fetchone()[0]
    if count != sealed.count:
        problems.append(f"there are {count} entries up to entry {sealed.id} but {sealed.count} were {when}: "
                        f"entries were {'removed' if count < sealed.count else 'added'} before it")
    return problems


def _advance(db, previous: Head | None) -> Head:
    """The log's head now, after checking the entries from the previous seal on (SealError)."""
    if previous is None:
        broken = audit.verify(db) if _has_audit(db) else None
        if broken is not None:
            raise SealError(f"entry {broken} does not match the audit log's hash chain (it, or an entry just "
                            f"before it, was edited or deleted): not sealing a tampered log")
        return current_head(db)
    problems = _head_problems(db, previous)
    if problems:
        raise SealError("; ".join(problems))
    if previous.count == 0 and not _has_audit(db):
        return previous
    head, expected = previous, previous.hash
    for row in db.execute("SELECT id, at, user, action, target, detail, remote_addr, prev_hash, hash FROM audit "
                          "WHERE id > ? ORDER BY id", [previous.id or 0]):
        if row[7] != expected or _hash_of(row) != row[8]:
            raise SealError(f"entry {row[0]}, added after the seal of {previous.sealed_at}, does not continue "
                            f"the hash chain: not sealing a tampered log")
        head, expected = Head(row[0], row[8], head.count + 1, row[1]), row[8]
    return head


def _hash_of(row) -> str | None:
    _id, at, user, action, target, detail_text, remote_addr, prev_hash, _digest = row
    try:
        return audit.entry_hash(prev_hash, at, user, action, target, detail_text, remote_addr)
    except (TypeError, ValueError):          # detail no longer JSON, or a value of the wrong type
        return None


def _has_audit(db) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'").fetchone() is not None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _snapshot:
    """One read transaction, so every query sees the same log (unless the caller has one open)."""

    def __init__(self, db) -> None:
        self.db, self.mine = db, False

    def __enter__(self):
        if not self.db.conn.in_transaction:
            self.db.execute("BEGIN")
            self.mine = True
        return self.db

    def __exit__(self, *exc) -> None:
        if self.mine and self.db.conn.in_transaction:
            self.db.execute("COMMIT")


# -- the file ------------------------------------------------------------------------------------
def _write(path: Path, head: Head) -> None:
    """Temp file in the same folder, fsync, rename over the old seal, fsync the folder."""
    text = json.dumps(head.to_dict(), indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o644)      # everyone may read the seal (the web page checks it)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
