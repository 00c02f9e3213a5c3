"""The catalog database: opening it (WAL, busy timeout) and its versioned schema migrations.

One Database per thread (sqlite-utils objects are bound to the thread that made them).
Migrations are SQL scripts applied in order; PRAGMA user_version records how far a file got.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

DB_NAME = "hookline.db"


# Each migration is a list of SQL statements, run in one transaction.
_M1_INITIAL = """
        CREATE TABLE calls (
            id TEXT PRIMARY KEY,
            line INTEGER NOT NULL,
            direction TEXT,
            started_at TEXT NOT NULL,          -- UTC ISO-8601 ms: off-hook
            ended_at TEXT,                     -- on-hook (or end of this part)
            duration_s REAL,
            remote_number TEXT,
            remote_name TEXT,
            remote_withheld INTEGER NOT NULL DEFAULT 0,
            dialed TEXT,
            status TEXT NOT NULL,              -- recording | complete | recovered | discarded
            path TEXT,                         -- final MP3 relative to the data folder
            spool_path TEXT,                   -- the .part file while recording
            size_bytes INTEGER,
            sha256 TEXT,
            preroll_s REAL NOT NULL DEFAULT 0,
            audio_s REAL,                      -- length of the MP3 itself
            part INTEGER NOT NULL DEFAULT 1,   -- >1: continuation of a call longer than max_call_s
            previous_id TEXT REFERENCES calls(id),
            clock_synced INTEGER NOT NULL DEFAULT 0,
            sample_rate INTEGER,
            bitrate_kbps INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE INDEX calls_started ON calls(started_at);
        CREATE INDEX calls_line_started ON calls(line, started_at);
        CREATE INDEX calls_status ON calls(status);
        CREATE TABLE call_events (
            id INTEGER PRIMARY KEY,
            line INTEGER,
            call_id TEXT,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'  -- JSON object
        );
        CREATE INDEX call_events_call ON call_events(call_id);
        CREATE INDEX call_events_line_at ON call_events(line, at);
        CREATE TABLE settings (
            scope TEXT NOT NULL,               -- '' for the whole box, 'line.N' for one line
            name TEXT NOT NULL,
            value TEXT NOT NULL,               -- JSON
            updated_at TEXT NOT NULL,
            PRIMARY KEY (scope, name)
        );
        CREATE TABLE meta (                    -- small facts, e.g. the defaults the config gave
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL                -- JSON
        )
"""

MIGRATIONS: list[str] = [_M1_INITIAL]


def connect(data_dir: str | Path) -> sqlite_utils.Database:
    """Open (creating and migrating if needed) the catalog in DATA_DIR."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / DB_NAME, timeout=30, isolation_level=None,
                           check_same_thread=True)
    conn.execute("PRAGMA busy_timeout = 30000")
    db = sqlite_utils.Database(conn)
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    migrate(db)
    return db


def empty() -> sqlite_utils.Database:
    """An in-memory catalog with the current schema: what a folder with no catalog yet reads as."""
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    return db


def migrate(db: sqlite_utils.Database) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RuntimeError(f"catalog schema v{version} is newer than this Hookline "
                           f"(v{len(MIGRATIONS)}): upgrade Hookline")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if db.execute("PRAGMA user_version").fetchone()[0] < number:
                # Not executescript(): it would COMMIT our transaction first.
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
