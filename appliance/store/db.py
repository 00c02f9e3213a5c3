"""The catalog database: opening it (WAL, busy timeout) and applying its schema migrations
(migrations.py).

One Database per thread (sqlite-utils objects are bound to the thread that made them).
Migrations are SQL scripts applied in order; PRAGMA user_version records how far a file got.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from .migrations import MIGRATIONS

log = logging.getLogger("hookline.store")

DB_NAME = "hookline.db"


def connect(data_dir: str | Path) -> sqlite_utils.Database:
    """Open (creating and migrating if needed) the catalog in DATA_DIR."""
    data_dir = Path(data_dir)
    private_folder(data_dir)
    path = data_dir / DB_NAME
    _private_file(path)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None,
                           check_same_thread=True)
    conn.execute("PRAGMA busy_timeout = 30000")
    db = sqlite_utils.Database(conn)
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode = WAL")
    # FULL: every commit is on the disk before it returns. With NORMAL a power cut may undo the
    # last commits (WAL mode stays consistent, not durable): the virtual box lost a call's row
    # that way while its audio survived in the spool. The catalog commits a few times per call.
    db.execute("PRAGMA synchronous = FULL")
    migrate(db)
    return db


def connect_read_only(data_dir: str | Path) -> sqlite_utils.Database:
    """Open the existing catalog in DATA_DIR for reading only (SQLite `mode=ro`): nothing is
    created, migrated or written, so a user who may read the data folder but not write it (the
    audit sealer on the box) can use it. No catalog there: FileNotFoundError.

    Such a user cannot create the WAL's -wal and -shm files. They exist while a writer has the
    catalog open (on the box the recorder always has); when nobody has (no -wal file: the main
    file is the whole catalog) the file is read as immutable instead."""
    from urllib.parse import quote
    path = (Path(data_dir) / DB_NAME).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no Hookline catalog in {data_dir}")
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        return _open_uri(uri)
    except sqlite3.OperationalError:
        if Path(f"{path}-wal").exists():
            raise
        # A writer that opens the catalog right now could make this read torn: the sealer then
        # refuses (a false alarm in the journal) and tries again a minute later.
        return _open_uri(uri + "&immutable=1")


def _open_uri(uri: str) -> sqlite_utils.Database:
    conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=True)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA trusted_schema = OFF")         # the file is written by another user
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()   # opens the WAL, or fails
    except BaseException:
        conn.close()
        raise
    return sqlite_utils.Database(conn)


# The catalog holds password and token hashes and who listened to what: nobody but the box's own
# user (and its group: the audit sealer) may read it. SQLite gives the -wal and -shm files the
# main file's mode.
FOLDER_MODE = 0o750
FILE_MODE = 0o640


_warned: set[Path] = set()


def private_folder(folder: Path) -> None:
    """A new data folder is made 0750. One that exists is the owner's to set (it may be /tmp or a
    home folder given as --data): if everyone may read it, say so once."""
    try:
        folder.mkdir(parents=True, mode=FOLDER_MODE)
        _tighten(folder, FOLDER_MODE)      # mkdir's mode passes through the umask: never looser
    except FileExistsError:
        mode = stat.S_IMODE(folder.stat().st_mode)
        if mode & 0o007 and folder not in _warned:
            _warned.add(folder)
            log.warning("the data folder %s is open to every user of this computer (mode %o): the recordings "
                        "in it are private, run: chmod 750 %s", folder, mode, folder)


def _private_file(path: Path) -> None:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE)


def _tighten(path: Path, allowed: int) -> None:
    """Take away any permission beyond `allowed` (a catalog made by an older Hookline was 0644)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & ~allowed:
            os.chmod(path, mode & allowed)
    except PermissionError:      # not ours (a read-only look by another user): leave it be
        pass


@contextmanager
def immediate(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction that takes the write lock first. A statement that fires the calls
    table's full-text triggers may start reading before it writes, and SQLite then answers a
    busy lock at once instead of waiting busy_timeout; BEGIN IMMEDIATE always waits."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")    # may fail too (a full disk): never leave the transaction open
    except BaseException:
        if db.conn.in_transaction:   # SQLite may have rolled back already (SQLITE_FULL does)
            db.execute("ROLLBACK")
        raise


def empty() -> sqlite_utils.Database:
    """An in-memory catalog with the current schema: what a folder with no catalog yet reads as."""
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    return db


def migrate(db: sqlite_utils.Database) -> None:
    """Bring the catalog to the current schema: every missing migration, in one transaction (a
    new catalog's pages are written once, not once per migration: its WAL stays small, which a
    nearly full disk needs), then a checkpoint so the WAL does not carry them on."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RuntimeError(f"catalog schema v{version} is newer than this Hookline "
                           f"(v{len(MIGRATIONS)}): upgrade Hookline")
    if version == len(MIGRATIONS):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while we waited for the lock.
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for script in MIGRATIONS[version:]:
            # Not executescript(): it would COMMIT our transaction first.
            for statement in _statements(script):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _statements(script: str):
    """The statements of a script, split at the semicolons that end one (not those in a trigger)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""
