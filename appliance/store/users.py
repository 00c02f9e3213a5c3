"""Who may log in: users (name, role, scrypt password hash, lockout), and who may have their API
tokens (kept by appliance.store.tokens, whose names are also importable from here).

Passwords are hashed with scrypt (werkzeug); tokens are random, shown once, and kept only as a
SHA-256. A login that fails never says whether the name exists: an unknown name costs the same
hashing time and is locked out after the same number of failures as a real one. The box always
keeps at least one enabled administrator.
"""
from __future__ import annotations

import math
import re
import secrets
import sqlite3
import threading
import time
from functools import cache
from typing import Any

import sqlite_utils
from werkzeug.security import check_password_hash, generate_password_hash

from . import db as dbmod, sessions, tokens
from .times import iso, seconds
from .tokens import TOKEN_PREFIX, TOKEN_TOUCH_S, get_token, revoke_token  # noqa: F401  (callers' old names)

ROLES = ("admin", "manager", "listener")

MAX_FAILURES = 5              # consecutive failed logins ...
LOCKOUT_S = 15 * 60           # ... lock the account for this long
MIN_PASSWORD = 10
MAX_PASSWORD = 1024           # scrypt takes any length; a bound keeps a request from being a chore
WRONG = "wrong name or password"

_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")

# The most common passwords of 10 or more characters (shorter ones fail the length rule anyway),
# and what people type on a box like this one. Compared without regard to case.
COMMON_PASSWORDS = frozenset("""
1234567890 0123456789 0987654321 9876543210 1111111111 1234512345 1122334455 1234554321
12345678910 123456789a a123456789 1q2w3e4r5t 1qaz2wsx3edc qwertyuiop qwerty1234 qwerty12345
qwerty123456 asdfghjkl1 asdfghjkl; zxcvbnm123 password12 password123 password1234 password!1
passw0rd123 p@ssw0rd123 iloveyou12 iloveyou123 football123 baseball123 princess123 sunshine123
superman123 letmein123 welcome123 welcome1234 changeme123 administrator admin12345 admin123456
abcdefghij abc1234567 abcd123456 qazwsxedcr trustno1234 starwars123 monkey12345 dragon12345
hookline123 hookline2024 hookline2025 recording1 telephone1 secret1234
""".split())

# Short, common, unambiguous words for generated passwords (4 of 64 words ≈ 24 bits, + 2 digits).
WORDS = """
amber anchor apple arrow autumn badge banjo basil beacon birch bottle breeze bridge cactus candle
canyon cedar cherry cobalt comet copper coral cotton crystal daisy delta desert dolphin ember falcon
feather fern forest garden ginger glacier granite harbor hazel helmet island jasmine kettle ladder
lantern lemon maple meadow mellow meteor mirror nectar orbit otter pepper pillow planet quartz river
""".split()


class UserError(ValueError):
    """Refused input about a user or token; .field names the form field (name, role, password,
    user, token) and .message says what to do, for the person who typed it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# -- validation --------------------------------------------------------------------------------------
def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise UserError("name", "give a name")
    if len(name) > 64:
        raise UserError("name", "at most 64 characters")
    if not _NAME.fullmatch(name):
        raise UserError("name", "use only letters, digits and . _ @ -")
    return name


def _check_role(role: Any) -> str:
    if role not in ROLES:
        raise UserError("role", f"{role!r} is not a role (use one of: {', '.join(ROLES)})")
    return role


def check_password(password: Any, name: str | None = None) -> None:
    """Raise UserError("password", ...) unless the password is acceptable for this user."""
    if not isinstance(password, str):
        raise UserError("password", "give a password")
    if len(password) < MIN_PASSWORD:
        raise UserError("password", f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError("password", f"at most {MAX_PASSWORD} characters")
    if len(set(password)) == 1:
        raise UserError("password", "not the same character over and over")
    if name is not None and password.casefold() == name.casefold():
        raise UserError("password", "not the user's name")
    if password.casefold() in COMMON_PASSWORDS:
        raise UserError("password", "this is one of the most common passwords: choose another")


def _check_label(label: Any) -> str:
    if not isinstance(label, str) or not label.strip():
        raise UserError("token", "give the token a label (what it is for)")
    if len(label) > 64:
        raise UserError("token", "label: at most 64 characters")
    if not label.isprintable():
        raise UserError("token", "label: printable characters only")
    return label


def check_new_user(name: str, role: str, password: str) -> None:
    """Raise UserError unless create_user would take these (before anything is written)."""
    _check_name(name)
    _check_role(role)
    check_password(password, name)


def _hash(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


@cache
def _dummy_hash() -> str:
    """A hash nobody knows the password of: unknown names are checked against it (same time)."""
    return _hash(secrets.token_urlsafe(24))


def _now() -> float:
    return time.time()


# -- rows ------------------------------------------------------------------------------------------------
_PUBLIC = "id, name, role, created_at, disabled, locked_until, failed_logins"


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "name", "role", "created_at", "disabled", "locked_until",
                               "failed_logins")}
    out["disabled"] = bool(out["disabled"])
    if out["locked_until"] and seconds(out["locked_until"]) <= _now():
        out["locked_until"] = None          # the lock has ended (the row keeps it until the next login)
    return out


def _row_with_hash(db: sqlite_utils.Database, name: str) -> dict[str, Any] | None:
    """The whole users row, password hash included: for this module only."""
    rows = list(db.query("SELECT * FROM users WHERE name = ?", [name]))   # name is COLLATE NOCASE
    return rows[0] if rows else None


def _existing(db: sqlite_utils.Database, name: str) -> dict[str, Any]:
    row = _row_with_hash(db, name) if isinstance(name, str) else None
    if row is None:
        raise UserError("user", f"no user named {name!r}")
    return row


def get_user(db: sqlite_utils.Database, user_id: int) -> dict[str, Any] | None:
    rows = list(db.query(f"SELECT {_PUBLIC} FROM users WHERE id = ?", [user_id]))
    return _public(rows[0]) if rows else None


def get_user_by_name(db: sqlite_utils.Database, name: str) -> dict[str, Any] | None:
    rows = list(db.query(f"SELECT {_PUBLIC} FROM users WHERE name = ?", [name]))
    return _public(rows[0]) if rows else None


def list_users(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [_public(r) for r in db.query(f"SELECT {_PUBLIC} FROM users ORDER BY name, id")]


def any_users(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT EXISTS (SELECT 1 FROM users)").fetchone()[0] == 1


# -- changes -------------------------------------------------------------------------------------------
def _insert(db: sqlite_utils.Database, name: str, role: str, password_hash: str) -> int:
    try:
        cursor = db.execute("INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                            [name, role, password_hash, iso(_now())])
    except sqlite3.IntegrityError:
        raise UserError("name", f"there is already a user named {name!r}") from None
    return cursor.lastrowid


def create_user(db: sqlite_utils.Database, name: str, role: str, password: str) -> dict[str, Any]:
    """Add a user; raises UserError naming the field that is not acceptable."""
    check_new_user(name, role, password)
    if get_user_by_name(db, name) is not None:      # say so before spending the hashing time
        raise UserError("name", f"there is already a user named {name!r}")
    password_hash = _hash(password)                 # outside the write lock: it takes a while
    with dbmod.immediate(db):
        user_id = _insert(db, name, role, password_hash)
    return get_user(db, user_id)


def _enabled_admins_besides(db: sqlite_utils.Database, user_id: int) -> int:
    return db.execute("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id != ?",
                      [user_id]).fetchone()[0]


def _guard_last_admin(db: sqlite_utils.Database, row: dict[str, Any], doing: str) -> None:
    """Inside the write transaction: refuse to take away the box's last enabled administrator."""
    if row["role"] == "admin" and not row["disabled"] and _enabled_admins_besides(db, row["id"]) == 0:
        raise UserError("user", f"{row['name']} is the only enabled admin: make another user admin "
                                f"before you {doing} them")


def _end_access(db: sqlite_utils.Database, user_id: int, keep_session: str | None = None) -> tuple[int, int]:
    """Inside the write transaction: end the user's sessions (but keep_session) and revoke their
    tokens; (sessions ended, tokens revoked)."""
    return sessions.end_all(db, user_id, keep=keep_session), tokens.revoke_all(db, user_id)


def set_password(db: sqlite_utils.Database, name: str, password: str, *,
                 keep_session: str | None = None) -> dict[str, Any]:
    """New password; clears any lockout, ends the user's sessions (all but keep_session: the one
    that changed it) and revokes their API tokens: whoever knew the old password may have made
    one. The user row comes back with "sessions_ended" and "tokens_revoked" counts."""
    row = _existing(db, name)
    check_password(password, row["name"])
    password_hash = _hash(password)
    with dbmod.immediate(db):
        db.execute("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL WHERE id = ?",
                   [password_hash, row["id"]])
        ended, revoked = _end_access(db, row["id"], keep_session)
    return {**get_user(db, row["id"]), "sessions_ended": ended, "tokens_revoked": revoked}


def set_role(db: sqlite_utils.Database, name: str, role: str) -> dict[str, Any]:
    _check_role(role)
    with dbmod.immediate(db):
        row = _existing(db, name)
        if role != "admin":
            _guard_last_admin(db, row, "demote")
        db.execute("UPDATE users SET role = ? WHERE id = ?", [role, row["id"]])
    return get_user(db, row["id"])


def set_disabled(db: sqlite_utils.Database, name: str, disabled: bool) -> dict[str, Any]:
    """Disable (no login; every session ends and every token is revoked, for good: enabling the
    user again brings none of them back) or enable again."""
    with dbmod.immediate(db):
        row = _existing(db, name)
        if disabled:
            _guard_last_admin(db, row, "disable")
            _end_access(db, row["id"])
        db.execute("UPDATE users SET disabled = ? WHERE id = ?", [1 if disabled else 0, row["id"]])
    return get_user(db, row["id"])


def remove_user(db: sqlite_utils.Database, name: str) -> None:
    """Remove a user, their sessions and their tokens (the audit log keeps their name). User ids
    are never reused, so nothing left anywhere that names this one can name a later user."""
    with dbmod.immediate(db):
        row = _existing(db, name)
        _guard_last_admin(db, row, "remove")
        sessions.end_all(db, row["id"])
        tokens.delete_all(db, row["id"])
        db.execute("DELETE FROM users WHERE id = ?", [row["id"]])


def ensure_demo_admin(db: sqlite_utils.Database) -> tuple[str, str] | None:
    """On a box with no users: create "admin" with a generated password and return (name, password)."""
    if any_users(db):
        return None
    while True:
        password = "-".join(secrets.choice(WORDS) for _ in range(4)) + f"-{secrets.randbelow(100):02d}"
        if len(password) >= 20:
            break
    password_hash = _hash(password)
    with dbmod.immediate(db):
        if any_users(db):      # someone else got there first
            return None
        _insert(db, "admin", "admin", password_hash)
    return "admin", password


# -- login ---------------------------------------------------------------------------------------------
class _UnknownNames:
    """Failed-login counts for names that do not exist, so they lock out just like real ones and
    the answers never tell an existing name from a made-up one (kept in memory, bounded)."""

    def __init__(self, limit: int = 10000) -> None:
        self.limit = limit
        self._state: dict[str, tuple[int, float]] = {}   # name -> (failures, locked until)
        self._lock = threading.Lock()

    def attempt(self, name: str, now: float) -> str:
        key = name.casefold()[:256]
        with self._lock:
            failures, until = self._state.get(key, (0, 0.0))
            if until > now:
                return _locked_message(until - now)
            if until:                       # the lock has ended: counting starts again
                failures = 0
            failures += 1
            until = now + LOCKOUT_S if failures >= MAX_FAILURES else 0.0
            if len(self._state) >= self.limit and key not in self._state:
                self._state.clear()
            self._state[key] = (failures, until)
            return _locked_message(LOCKOUT_S) if until else WRONG


_unknown = _UnknownNames()


def _locked_message(remaining_s: float) -> str:
    return f"too many failed attempts: try again in {max(1, math.ceil(remaining_s / 60))} min"


def check_login(db: sqlite_utils.Database, name: str, password: str, now: float | None = None, *,
                start_session: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """(user, None) if this name and password may log in now, else (None, message for the person).

    start_session (sessions.start's remote_addr and user_agent): log in, too. The session is
    started in the same transaction that saw this password still be the user's, the user still
    enabled, so a login that was checking the old password while the password changed (or the
    user was disabled) gets nothing. The user comes back with its "session_key"."""
    now = _now() if now is None else now
    if not isinstance(name, str) or not isinstance(password, str):
        return None, WRONG
    row = _row_with_hash(db, name) if 0 < len(name) <= 64 else None
    # Always one hash check, whatever happens next: the time taken says nothing about the name.
    checked = row["password_hash"] if row else _dummy_hash()
    good = check_password_hash(checked, password[:MAX_PASSWORD])
    if row is None:
        return None, _unknown.attempt(name, now)

    key = None
    with dbmod.immediate(db):
        row = _row_with_hash(db, row["name"])
        if row is None or row["password_hash"] != checked:     # removed, or a new password, meanwhile
            return None, WRONG
        until = seconds(row["locked_until"]) if row["locked_until"] else None
        if until is not None and until > now:
            return None, _locked_message(until - now)
        if not good:
            failures = (0 if until is not None else row["failed_logins"]) + 1
            lock = iso(now + LOCKOUT_S) if failures >= MAX_FAILURES else None
            db.execute("UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                       [failures, lock, row["id"]])
            return None, _locked_message(LOCKOUT_S) if lock else WRONG
        if row["disabled"]:                          # told only to someone who knows the password
            return None, "this account is disabled"
        if row["failed_logins"] or row["locked_until"]:
            db.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", [row["id"]])
        if start_session is not None:
            key = sessions.start(db, row["id"], **start_session)
    user = get_user(db, row["id"])
    return ({**user, "session_key": key} if start_session is not None else user), None


# -- API tokens (the table: appliance.store.tokens) ---------------------------------------------------
def create_token(db: sqlite_utils.Database, user_name: str, label: str, *,
                 session_key: str | None = None) -> tuple[int, str]:
    """A new API token for this user: (token id, the token). The token is not kept: show it now.
    session_key: made from that web session, which must still be live when the token is stored
    (a password change that ended it meanwhile wins)."""
    label = _check_label(label)
    with dbmod.immediate(db):
        row = _existing(db, user_name)
        if row["disabled"]:
            raise UserError("user", f"{row['name']} is disabled: enable them first")
        if session_key is not None and sessions.user_id_for(db, session_key, touch=False) != row["id"]:
            raise UserError("user", "your session has ended: log in again")
        return tokens.add(db, row["id"], label)


def user_for_token(db: sqlite_utils.Database, plaintext: str) -> dict[str, Any] | None:
    """The enabled user whose unrevoked token this is, or None."""
    user_id = tokens.user_id_for(db, plaintext)
    user = get_user(db, user_id) if user_id is not None else None
    return user if user is not None and not user["disabled"] else None


def list_tokens(db: sqlite_utils.Database, user_name: str | None = None) -> list[dict[str, Any]]:
    """Every user's tokens, or this user's (tokens.list_tokens); UserError for an unknown name."""
    return tokens.list_tokens(db, None if user_name is None else _existing(db, user_name)["id"])
