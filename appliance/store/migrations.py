"""The catalog's schema, as versioned migrations: SQL scripts applied in order by db.migrate;
PRAGMA user_version records how far a file got. Add a new one at the end; never edit an old one.
"""
from __future__ import annotations

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

# The web UI: users and their API tokens, the audit log, what owners add to a call (hold, note),
# the waveform peaks computed while recording, and the indexes that keep search fast on a
# million calls (number "contains" search goes through a trigram full-text index).
_M2_WEB = """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'listener')),
            password_hash TEXT NOT NULL,       -- werkzeug scrypt hash
            created_at TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,                 -- UTC ISO: login refused until then
            session_version INTEGER NOT NULL DEFAULT 1  -- bumped on password change: old sessions end
        );
        CREATE TABLE tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            prefix TEXT NOT NULL,              -- the token's first characters, to tell tokens apart
            token_hash TEXT NOT NULL UNIQUE,   -- SHA-256 of the token; the token is shown once
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user TEXT,                         -- the user's name then (NULL: the box itself)
            action TEXT NOT NULL,              -- listen, download, delete, hold, unhold, note, settings, ...
            target TEXT,                       -- call id, setting, user name
            detail TEXT NOT NULL DEFAULT '{}', -- JSON object
            remote_addr TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL                 -- SHA-256 over prev_hash and this row: a chain
        );
        CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        ALTER TABLE calls ADD COLUMN held INTEGER NOT NULL DEFAULT 0;   -- keep / legal hold
        ALTER TABLE calls ADD COLUMN note TEXT;
        ALTER TABLE calls ADD COLUMN deleted_at TEXT;                    -- status 'deleted': file gone
        CREATE TABLE call_peaks (
            call_id TEXT PRIMARY KEY REFERENCES calls(id),
            per_s INTEGER NOT NULL,            -- peak values per second of audio
            near BLOB NOT NULL,                -- one byte per slot: peak |sample| * 255 / 32768
            far BLOB NOT NULL
        );
        CREATE INDEX calls_status_started ON calls(status, started_at);
        CREATE INDEX calls_direction_started ON calls(direction, started_at);
        CREATE INDEX calls_number ON calls(remote_number);
        CREATE INDEX calls_dialed ON calls(dialed);
        CREATE VIRTUAL TABLE calls_fts USING fts5(
            remote_number, dialed, remote_name, note, content='calls', content_rowid='rowid',
            tokenize='trigram');
        INSERT INTO calls_fts(rowid, remote_number, dialed, remote_name, note)
            SELECT rowid, remote_number, dialed, remote_name, note FROM calls;
        CREATE TRIGGER calls_fts_insert AFTER INSERT ON calls BEGIN
            INSERT INTO calls_fts(rowid, remote_number, dialed, remote_name, note)
            VALUES (new.rowid, new.remote_number, new.dialed, new.remote_name, new.note);
        END;
        CREATE TRIGGER calls_fts_delete AFTER DELETE ON calls BEGIN
            INSERT INTO calls_fts(calls_fts, rowid, remote_number, dialed, remote_name, note)
            VALUES ('delete', old.rowid, old.remote_number, old.dialed, old.remote_name, old.note);
        END;
        CREATE TRIGGER calls_fts_update AFTER UPDATE OF remote_number, dialed, remote_name, note ON calls BEGIN
            INSERT INTO calls_fts(calls_fts, rowid, remote_number, dialed, remote_name, note)
            VALUES ('delete', old.rowid, old.remote_number, old.dialed, old.remote_name, old.note);
            INSERT INTO calls_fts(rowid, remote_number, dialed, remote_name, note)
            VALUES (new.rowid, new.remote_number, new.dialed, new.remote_name, new.note);
        END
"""

# Two indexes the web UI's queries need on a big catalog: "kept calls" (few among many: a partial
# index, used when the query says held = 1 literally) and an entry's history in the audit log
# (the calls page looks up the last "listen" of a call on every play).
_M3_SEARCH_INDEXES = """
        CREATE INDEX calls_held_started ON calls(started_at) WHERE held = 1;
        CREATE INDEX audit_target ON audit(target)
"""

# A call's page links to its next part (split by max_call_s or an outage): found by previous_id.
_M4_PARTS_INDEX = """
        CREATE INDEX calls_previous ON calls(previous_id) WHERE previous_id IS NOT NULL
"""

# Logins live on the server: a session is a random key (kept as its SHA-256) bound to one user
# row, ended by logout, a password change, disabling or removing the user. User ids are never
# reused (AUTOINCREMENT), so nothing that named a removed user can ever name the next one; the
# table is rebuilt for that (SQLite cannot add AUTOINCREMENT in place), dropping the old
# session_version counter whose reuse let a removed user's cookie open the next user's account.
# DROP TABLE users relies on foreign keys being off (connect() never turns them on): with them on,
# it would delete every token through tokens' ON DELETE CASCADE.
_M5_SERVER_SESSIONS = """
        CREATE TABLE users_v5 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'listener')),
            password_hash TEXT NOT NULL,       -- werkzeug scrypt hash
            created_at TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT                  -- UTC ISO: login refused until then
        );
        INSERT INTO users_v5 (id, name, role, password_hash, created_at, disabled, failed_logins, locked_until)
            SELECT id, name, role, password_hash, created_at, disabled, failed_logins, locked_until FROM users;
        DROP TABLE users;
        ALTER TABLE users_v5 RENAME TO users;
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key_hash TEXT NOT NULL UNIQUE,     -- SHA-256 of the random key in the signed cookie
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,          -- absolute: a session never outlives this
            last_seen_at TEXT NOT NULL,
            remote_addr TEXT,
            user_agent TEXT
        );
        CREATE INDEX sessions_user ON sessions(user_id);
        CREATE INDEX tokens_user ON tokens(user_id)
"""

# The calls page sorts by duration as well as by time, and filters calls with a note: each filter
# gets an index on (column, duration) beside its (column, started_at) one, so a page of any filter
# in either order is a short walk of one index (appliance/store/search.py). A call still being
# recorded has no duration: it sorts as the shortest (-1), and the key is never NULL, so the
# cursor compares plain numbers. Counting the noted calls of a line (say) reads calls_noted_filters
# alone. A number search looks at the dialed digits only where the caller's
# number did not match already, and counts the calls of a line (say) among its matches: the number
# indexes carry those columns, so both are answered from the index alone. calls_status is the
# first column of calls_status_started: it goes.
_M6_SORT_INDEXES = """
        CREATE INDEX calls_number_filters ON calls(remote_number, line, direction, status, held, started_at);
        CREATE INDEX calls_dialed_filters ON calls(dialed, remote_number, line, direction, status, held, started_at);
        DROP INDEX calls_number;
        DROP INDEX calls_dialed;
        DROP INDEX calls_status;
        CREATE INDEX calls_duration ON calls(ifnull(duration_s, -1));
        CREATE INDEX calls_line_duration ON calls(line, ifnull(duration_s, -1));
        CREATE INDEX calls_status_duration ON calls(status, ifnull(duration_s, -1));
        CREATE INDEX calls_direction_duration ON calls(direction, ifnull(duration_s, -1));
        CREATE INDEX calls_held_duration ON calls(ifnull(duration_s, -1)) WHERE held = 1;
        CREATE INDEX calls_noted_started ON calls(started_at) WHERE note IS NOT NULL;
        CREATE INDEX calls_noted_duration ON calls(ifnull(duration_s, -1)) WHERE note IS NOT NULL;
        CREATE INDEX calls_noted_filters ON calls(line, direction, status, held) WHERE note IS NOT NULL
"""

# The do-not-record list (store/dnr.py). Every change bumps meta 'dnr_changes', which the recorder
# polls to reload the list into its lines within a second.
_M7_DO_NOT_RECORD = """
        CREATE TABLE dnr (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            pattern TEXT NOT NULL UNIQUE,      -- as written, punctuation dropped: +14155550123, 555*, 415555????
            label TEXT NOT NULL DEFAULT '',    -- who it is: Doctor, Union, Helpline
            added_at TEXT NOT NULL,
            added_by TEXT                      -- a web user's name or console:NAME
        );
        INSERT OR IGNORE INTO meta (key, value) VALUES ('dnr_changes', '0');
        CREATE TRIGGER dnr_added AFTER INSERT ON dnr
            BEGIN UPDATE meta SET value = value + 1 WHERE key = 'dnr_changes'; END;
        CREATE TRIGGER dnr_removed AFTER DELETE ON dnr
            BEGIN UPDATE meta SET value = value + 1 WHERE key = 'dnr_changes'; END;
        CREATE TRIGGER dnr_changed AFTER UPDATE ON dnr
            BEGIN UPDATE meta SET value = value + 1 WHERE key = 'dnr_changes'; END
"""

# USB export (appliance/export/): which call each stick has taken, so `hookline export --new`
# copies only what no earlier export took to that stick. A stick is named by the id written on it
# (Hookline/.stick-id); a row is added once the copy on the stick was read back and verified.
_M8_EXPORTED = """
        CREATE TABLE exported (
            stick TEXT NOT NULL,               -- the id on the stick (Hookline/.stick-id)
            call_id TEXT NOT NULL,
            file TEXT NOT NULL,                -- where it is on the stick, under Hookline/
            sha256 TEXT NOT NULL,              -- what was verified there
            at TEXT NOT NULL,
            PRIMARY KEY (stick, call_id)
        )
"""

# A part finished early because the data disk filled (recording/room.py) says so: 'disk-full'.
_M9_CUT_SHORT = """
        ALTER TABLE calls ADD COLUMN cut_short TEXT
"""

MIGRATIONS: list[str] = [_M1_INITIAL, _M2_WEB, _M3_SEARCH_INDEXES, _M4_PARTS_INDEX, _M5_SERVER_SESSIONS,
                         _M6_SORT_INDEXES, _M7_DO_NOT_RECORD, _M8_EXPORTED, _M9_CUT_SHORT]
