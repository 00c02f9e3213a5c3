"""Users and API tokens (appliance.store.users) on a real catalog file, and `hookline users` /
`hookline tokens` through the real command: password policy, scrypt at rest, lockout, answers
that never tell whether a name exists, the last-admin guard, sessions ended by a new password,
tokens shown once and kept only as a hash.
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import sqlite3
import subprocess
import threading
import time

import pytest

import simtools as st
from appliance.store import audit, db as dbmod, sessions, users

GOOD = "correct horse battery"
OTHER = "tulip-engine-41-river"


@pytest.fixture
def db(tmp_path):
    return dbmod.connect(tmp_path / "data")


def raw(tmp_path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "data" / dbmod.DB_NAME)


# -- creating users --------------------------------------------------------------------------------
@pytest.mark.parametrize("name, password, field, words", [
    ("", GOOD, "name", "give a name"),
    ("x" * 65, GOOD, "name", "at most 64"),
    ("with space", GOOD, "name", "letters, digits"),
    ("jörg", GOOD, "name", "letters, digits"),
    ("semi;colon", GOOD, "name", "letters, digits"),
    ("bob", "short1234", "password", "at least 10"),
    ("bob", "aaaaaaaaaaaa", "password", "same character"),
    ("bob.smith@x", "BOB.SMITH@X", "password", "name"),
    ("bob", "Password123", "password", "most common"),
    ("bob", "qwertyuiop", "password", "most common"),
    ("bob", "1234567890", "password", "most common"),
    ("bob", "x" * 1025 + "y", "password", "at most 1024"),
])
def test_create_user_refuses_bad_names_and_weak_passwords(db, name, password, field, words):
    with pytest.raises(users.UserError) as caught:
        users.create_user(db, name, "manager", password)
    assert caught.value.field == field
    assert words in caught.value.message
    assert str(caught.value) == f"{field}: {caught.value.message}"
    assert not users.any_users(db)


def test_create_user_checks_role_and_unique_names_without_regard_to_case(db):
    with pytest.raises(users.UserError) as caught:
        users.create_user(db, "bob", "owner", GOOD)
    assert caught.value.field == "role"
    row = users.create_user(db, "Bob.Smith_1@office-x", "manager", GOOD)
    assert row["name"] == "Bob.Smith_1@office-x" and row["role"] == "manager" and row["disabled"] is False
    with pytest.raises(users.UserError) as caught:
        users.create_user(db, "bob.smith_1@OFFICE-X", "listener", OTHER)
    assert caught.value.field == "name" and "already" in caught.value.message
    assert users.get_user_by_name(db, "BOB.SMITH_1@office-x")["id"] == row["id"]
    assert [u["name"] for u in users.list_users(db)] == ["Bob.Smith_1@office-x"]


def test_passwords_are_scrypt_hashes_and_never_leave_the_module(db, tmp_path):
    row = users.create_user(db, "ann", "admin", GOOD)
    stored = raw(tmp_path).execute("SELECT password_hash FROM users WHERE name = 'ann'").fetchone()[0]
    assert stored.startswith("scrypt:") and GOOD not in stored
    for shown in (row, users.get_user(db, row["id"]), users.get_user_by_name(db, "ann"), *users.list_users(db)):
        assert "password_hash" not in shown and GOOD not in json.dumps(shown)
    assert set(users.list_users(db)[0]) >= {"id", "name", "role", "created_at", "disabled", "locked_until",
                                            "failed_logins"}
    # Two users with the same password: different salts, different hashes.
    users.create_user(db, "ben", "listener", GOOD)
    hashes = {r[0] for r in raw(tmp_path).execute("SELECT password_hash FROM users")}
    assert len(hashes) == 2


# -- logging in ------------------------------------------------------------------------------------------
def test_check_login_accepts_the_right_password_only(db):
    users.create_user(db, "ann", "manager", GOOD)
    user, problem = users.check_login(db, "ann", GOOD)
    assert problem is None and user["name"] == "ann" and "password_hash" not in user
    assert users.check_login(db, "ANN", GOOD)[0]["name"] == "ann", "names are not case-sensitive"
    assert users.check_login(db, "ann", GOOD.upper()) == (None, "wrong name or password")
    assert users.check_login(db, "ann", "") == (None, "wrong name or password")
    assert users.check_login(db, "nobody", GOOD) == (None, "wrong name or password")
    assert users.check_login(db, "", "") == (None, "wrong name or password")


def test_lockout_after_five_failures_for_fifteen_minutes(db):
    users.create_user(db, "ann", "manager", GOOD)
    t0 = time.time()
    answers = [users.check_login(db, "ann", "wrong password", now=t0 + i)[1] for i in range(5)]
    assert answers[:4] == ["wrong name or password"] * 4
    assert answers[4] == "too many failed attempts: try again in 15 min"
    # Locked: even the right password is refused, and tries while locked do not extend it.
    assert users.check_login(db, "ann", GOOD, now=t0 + 64) == (None, "too many failed attempts: try again in 14 min")
    assert users.check_login(db, "ann", "nope", now=t0 + 14 * 60) == (None, "too many failed attempts: try again in 2 min")
    assert users.get_user_by_name(db, "ann")["locked_until"] is not None
    # After 15 minutes the lock is over: the right password works and clears the count.
    user, problem = users.check_login(db, "ann", GOOD, now=t0 + 4 + 15 * 60 + 1)
    assert problem is None and user["failed_logins"] == 0 and user["locked_until"] is None


def test_counting_restarts_after_a_lock_and_after_a_success(db):
    users.create_user(db, "ann", "manager", GOOD)
    t0 = time.time()
    for i in range(5):
        users.check_login(db, "ann", "wrong password", now=t0 + i)
    after = t0 + 4 + 15 * 60 + 1          # the lock has ended, nobody logged in
    answers = [users.check_login(db, "ann", "wrong password", now=after + i)[1] for i in range(5)]
    assert answers == ["wrong name or password"] * 4 + ["too many failed attempts: try again in 15 min"], \
        "a new lock needs five new failures"
    later = after + 4 + 15 * 60 + 1
    for i in range(4):
        users.check_login(db, "ann", "wrong password", now=later + i)
    assert users.check_login(db, "ann", GOOD, now=later + 5)[1] is None
    for i in range(4):
        assert users.check_login(db, "ann", "wrong password", now=later + 10 + i)[1] == "wrong name or password"
    assert users.check_login(db, "ann", GOOD, now=later + 20)[1] is None, "a success reset the count"


def test_answers_never_tell_whether_a_name_exists(db):
    users.create_user(db, "ann", "manager", GOOD)
    t0 = time.time()

    def story(name: str) -> list[str | None]:
        seen = [users.check_login(db, name, "wrong password", now=t0 + i)[1] for i in range(7)]
        seen.append(users.check_login(db, name, "wrong password", now=t0 + 6 + 15 * 60 + 1)[1])
        return seen

    real, made_up = story("ann"), story("not-a-user")
    assert real == made_up
    assert "too many failed attempts" in real[5] and real[-1] == "wrong name or password"

    # Nor the time it takes: an unknown name costs a password hash too. Measured in this
    # thread's CPU time, which a loaded machine's scheduling does not stretch (the hash is
    # CPU work done in this thread; wall time made this test fail under load).
    users.create_user(db, "ben", "manager", GOOD)

    def fastest(name: str) -> float:
        times = []
        for _ in range(3):
            t = time.thread_time()
            users.check_login(db, name, "wrong password " + name)
            times.append(time.thread_time() - t)
        return min(times)
    known, unknown = fastest("ben"), fastest("nobody-at-all")
    assert unknown > 0.5 * known, f"unknown name answered in {unknown:.3f} s, a known one in {known:.3f} s"


def test_a_disabled_account_says_so_only_to_someone_with_its_password(db):
    users.create_user(db, "root", "admin", OTHER)
    users.create_user(db, "ann", "manager", GOOD)
    users.set_disabled(db, "ann", True)
    assert users.check_login(db, "ann", GOOD) == (None, "this account is disabled")
    assert users.check_login(db, "ann", "wrong password") == (None, "wrong name or password")
    users.set_disabled(db, "ann", False)
    assert users.check_login(db, "ann", GOOD)[1] is None


# -- changing users ------------------------------------------------------------------------------------
def test_new_password_ends_sessions_revokes_tokens_and_clears_the_lockout(db):
    ann = users.create_user(db, "ann", "manager", GOOD)
    phone, laptop = (sessions.start(db, ann["id"]) for _ in range(2))
    _, token = users.create_token(db, "ann", "script")
    for _ in range(5):
        users.check_login(db, "ann", "wrong password")
    assert "too many" in users.check_login(db, "ann", GOOD)[1]
    with pytest.raises(users.UserError) as caught:
        users.set_password(db, "ann", "ANN")
    assert caught.value.field == "password"
    with pytest.raises(users.UserError) as caught:
        users.set_password(db, "ghost", OTHER)
    assert caught.value.field == "user"
    row = users.set_password(db, "ann", OTHER, keep_session=laptop)
    assert row["failed_logins"] == 0 and row["locked_until"] is None
    assert (row["sessions_ended"], row["tokens_revoked"]) == (1, 1)
    assert sessions.user_id_for(db, phone) is None and sessions.user_id_for(db, laptop) == ann["id"]
    assert users.user_for_token(db, token) is None, "whoever knew the old password may have made it"
    users.set_password(db, "ann", GOOD + " again")
    assert sessions.user_id_for(db, laptop) is None, "without keep_session every session ends"
    users.set_password(db, "ann", OTHER)
    assert users.check_login(db, "ann", OTHER)[1] is None
    assert users.check_login(db, "ann", GOOD)[1] == "wrong name or password"


def test_the_box_always_keeps_an_enabled_admin(db):
    users.create_user(db, "root", "admin", GOOD)
    users.create_user(db, "ann", "manager", GOOD)
    for change in (lambda: users.set_role(db, "root", "manager"), lambda: users.set_disabled(db, "root", True),
                   lambda: users.remove_user(db, "root")):
        with pytest.raises(users.UserError) as caught:
            change()
        assert caught.value.field == "user" and "only enabled admin" in caught.value.message
    assert users.get_user_by_name(db, "root")["role"] == "admin"

    users.create_user(db, "tech", "admin", OTHER)
    users.set_disabled(db, "tech", True)
    with pytest.raises(users.UserError):      # a disabled admin does not count
        users.remove_user(db, "root")
    users.remove_user(db, "tech")      # removing a disabled admin is fine

    users.set_role(db, "ann", "admin")
    assert users.set_role(db, "root", "listener")["role"] == "listener"
    with pytest.raises(users.UserError):
        users.set_disabled(db, "ann", True)
    users.set_role(db, "root", "admin")
    users.remove_user(db, "ann")
    assert [u["name"] for u in users.list_users(db)] == ["root"]
    with pytest.raises(users.UserError) as caught:
        users.set_role(db, "root", "superuser")
    assert caught.value.field == "role"
    with pytest.raises(users.UserError) as caught:
        users.remove_user(db, "ghost")
    assert caught.value.field == "user"


def test_demo_admin_only_on_an_empty_box(db, tmp_path):
    name, password = users.ensure_demo_admin(db)
    assert name == "admin" and len(password) >= 20
    assert users.check_login(db, "admin", password)[0]["role"] == "admin"
    assert users.ensure_demo_admin(db) is None
    assert users.ensure_demo_admin(dbmod.connect(tmp_path / "data")) is None, "another connection sees the user"
    # Generated passwords differ.
    assert len({users.ensure_demo_admin(dbmod.empty())[1] for _ in range(3)}) == 3


# -- API tokens -------------------------------------------------------------------------------------------
def test_tokens_are_shown_once_and_kept_as_sha256(db, tmp_path):
    users.create_user(db, "root", "admin", GOOD)
    users.create_user(db, "ann", "manager", GOOD)
    token_id, token = users.create_token(db, "ann", "backup script")
    assert token.startswith("hl_") and len(token) >= 40
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    on_disk = (tmp_path / "data" / dbmod.DB_NAME).read_bytes()
    assert token.encode() not in on_disk and token[3:].encode() not in on_disk
    row = raw(tmp_path).execute("SELECT token_hash, prefix, name FROM tokens WHERE id = ?", [token_id]).fetchone()
    assert row == (hashlib.sha256(token.encode()).hexdigest(), token[:8], "backup script")

    listed = users.list_tokens(db, "ann")
    assert [t["id"] for t in listed] == [token_id]
    assert listed[0]["label"] == "backup script" and listed[0]["user"] == "ann" and listed[0]["prefix"] == token[:8]
    assert token not in json.dumps(users.list_tokens(db))
    assert users.list_tokens(db, "root") == []
    with pytest.raises(users.UserError):
        users.list_tokens(db, "ghost")


def test_user_for_token(db):
    users.create_user(db, "root", "admin", GOOD)
    users.create_user(db, "ann", "manager", GOOD)
    token_id, token = users.create_token(db, "ann", "script")
    other_id, other = users.create_token(db, "ann", "phone")
    user = users.user_for_token(db, token)
    assert user["name"] == "ann" and user["role"] == "manager" and "password_hash" not in user
    first_use = users.list_tokens(db, "ann")[1]["last_used_at"]
    assert first_use is not None
    users.user_for_token(db, token)
    assert users.list_tokens(db, "ann")[1]["last_used_at"] == first_use, "written at most once a minute"

    for bad in ("", "hl_", token[:-1], token + "x", "Bearer " + token, token.upper(), "x" * 5000, None):
        assert users.user_for_token(db, bad) is None

    assert users.revoke_token(db, token_id) is True
    assert users.revoke_token(db, token_id) is False
    assert users.revoke_token(db, 999) is False
    assert users.user_for_token(db, token) is None
    assert users.list_tokens(db, "ann")[1]["revoked_at"] is not None
    assert users.user_for_token(db, other)["name"] == "ann"

    users.set_disabled(db, "ann", True)
    assert users.user_for_token(db, other) is None, "a disabled user's tokens stop working"
    with pytest.raises(users.UserError) as caught:
        users.create_token(db, "ann", "new")
    assert caught.value.field == "user"
    users.set_disabled(db, "ann", False)
    assert users.user_for_token(db, other) is None, "disabling revoked it for good"
    assert all(t["revoked_at"] for t in users.list_tokens(db, "ann"))
    _, fresh = users.create_token(db, "ann", "new phone")
    assert users.user_for_token(db, fresh)["name"] == "ann"
    users.remove_user(db, "ann")
    assert users.user_for_token(db, fresh) is None
    assert users.list_tokens(db) == [], "removing a user removes their tokens"


@pytest.mark.parametrize("label", ["", "   ", "x" * 65, "tab\there", "new\nline"])
def test_token_labels(db, label):
    users.create_user(db, "ann", "admin", GOOD)
    with pytest.raises(users.UserError) as caught:
        users.create_token(db, "ann", label)
    assert caught.value.field == "token"


def test_token_for_unknown_user(db):
    with pytest.raises(users.UserError) as caught:
        users.create_token(db, "ghost", "label")
    assert caught.value.field == "user"


# -- the command -------------------------------------------------------------------------------------------
def add(data, name, role, password=GOOD):
    return st.run("users", "add", name, "--role", role, "--password-stdin", "--data", data, input=password + "\n")


def test_cli_users(tmp_path):
    data = tmp_path / "data"
    assert add(data, "root", "admin").returncode == 0
    assert add(data, "ann", "listener", OTHER).returncode == 0
    listed = json.loads(st.check("users", "list", "--json", "--data", data).stdout)
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [("ann", "listener", False),
                                                                       ("root", "admin", False)]
    assert "password" not in json.dumps(listed)
    text = st.check("users", "list", "--data", data).stdout
    assert "root" in text and "admin" in text and "ann" in text

    st.check("users", "role", "ann", "manager", "--data", data)
    st.check("users", "disable", "ann", "--data", data)
    listed = {u["name"]: u for u in json.loads(st.check("users", "list", "--json", "--data", data).stdout)}
    assert listed["ann"]["role"] == "manager" and listed["ann"]["disabled"] is True
    st.check("users", "enable", "ann", "--data", data)
    db = dbmod.connect(data)
    session = sessions.start(db, users.get_user_by_name(db, "ann")["id"])
    st.check("users", "passwd", "ann", "--password-stdin", "--data", data, input="a brand new secret\n")
    listed = {u["name"]: u for u in json.loads(st.check("users", "list", "--json", "--data", data).stdout)}
    assert listed["ann"]["disabled"] is False
    assert sessions.user_id_for(db, session) is None, "a new password ends the user's sessions"
    assert users.check_login(db, "ann", "a brand new secret")[1] is None
    st.check("users", "remove", "ann", "--data", data)
    assert [u["name"] for u in users.list_users(db)] == ["root"]

    entries = audit.entries(db)
    assert [e["action"] for e in reversed(entries)] == ["user-add", "user-add", "user-change", "user-change",
                                                         "user-change", "user-change", "user-remove"]
    me = pwd.getpwuid(os.getuid()).pw_name
    assert all(e["user"] == f"console:{me}" and e["detail"]["via"] == "console" for e in entries)
    assert "a brand new secret" not in json.dumps(entries) and GOOD not in json.dumps(entries)
    assert entries[1]["action"] == "user-change" and entries[1]["detail"]["password"] == "changed"
    assert audit.verify(db) is None


def test_cli_users_add_asks_twice_without_password_stdin(tmp_path):
    data = tmp_path / "data"
    # A new session: no controlling terminal, so the hidden prompt reads stdin (as over ssh with a pipe).
    proc = subprocess.run([st.HOOKLINE, "users", "add", "carol", "--role", "manager", "--data", str(data)],
                          input=f"{GOOD}\n{GOOD}\n", capture_output=True, text=True, env=st.clean_env(),
                          start_new_session=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert users.check_login(dbmod.connect(data), "carol", GOOD)[1] is None


@pytest.mark.parametrize("args, stdin, words", [
    (("users", "add", "bob", "--role", "boss", "--password-stdin"), GOOD + "\n", "role: 'boss' is not a role"),
    (("users", "add", "bob", "--role", "admin", "--password-stdin"), "short\n", "password: at least 10"),
    (("users", "add", "bob", "--role", "admin", "--password-stdin"), "", "password: nothing on stdin"),
    (("users", "add", "b b", "--role", "admin", "--password-stdin"), GOOD + "\n", "name: use only"),
])
def test_cli_users_add_refuses_bad_input_with_one_line_and_writes_nothing(tmp_path, args, stdin, words):
    data = tmp_path / "data"
    proc = st.run(*args, "--data", data, input=stdin)
    assert proc.returncode == 2
    assert words in st.one_error_line(proc)
    assert not data.exists(), "nothing created for a refused command"


def test_cli_users_errors(tmp_path):
    data = tmp_path / "data"
    add(data, "root", "admin")
    proc = add(data, "ROOT", "manager")
    assert proc.returncode == 2 and "already a user named" in st.one_error_line(proc)
    for args, words in [(("users", "role", "root", "manager"), "only enabled admin"),
                        (("users", "disable", "root"), "only enabled admin"),
                        (("users", "remove", "root"), "only enabled admin"),
                        (("users", "role", "ghost", "manager"), "user: no user named 'ghost'"),
                        (("users", "remove", "ghost"), "user: no user named 'ghost'"),
                        (("users", "passwd", "ghost", "--password-stdin"), "user: no user named 'ghost'"),
                        (("users", "role", "root", "king"), "role: 'king' is not a role")]:
        proc = st.run(*args, "--data", data, input=GOOD + "\n")
        assert proc.returncode == 2, args
        assert words in st.one_error_line(proc), args
    proc = st.run("users", "passwd", "root", "--password-stdin", "--data", data, input="root\n")
    assert proc.returncode == 2 and "password:" in st.one_error_line(proc)
    proc = st.run("users", "role", "root", "manager", "--data", tmp_path / "elsewhere")
    assert proc.returncode == 2 and st.one_error_line(proc) == (
        f"hookline: no catalog in {tmp_path / 'elsewhere'}: is this the data folder? "
        f"(hookline run or hookline demo creates it)")


def test_cli_tokens(tmp_path):
    data = tmp_path / "data"
    add(data, "root", "admin")
    proc = st.check("tokens", "create", "--user", "root", "--label", "nightly export", "--data", data)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hl_"), "stdout is the token and nothing else"
    token = lines[0]
    assert "cannot be shown again" in proc.stderr and token not in proc.stderr
    db = dbmod.connect(data)
    assert users.user_for_token(db, token)["name"] == "root"

    listed = json.loads(st.check("tokens", "list", "--json", "--data", data).stdout)
    assert len(listed) == 1 and listed[0]["label"] == "nightly export" and listed[0]["prefix"] == token[:8]
    text = st.check("tokens", "list", "--user", "root", "--data", data).stdout
    assert token not in text and "nightly export" in text
    audit_text = json.dumps(audit.entries(db))
    assert token not in audit_text and token[8:] not in audit_text

    st.check("tokens", "revoke", str(listed[0]["id"]), "--data", data)
    assert users.user_for_token(db, token) is None
    for args, words in [(("tokens", "revoke", str(listed[0]["id"])), "no token"),
                        (("tokens", "revoke", "abc"), "not a token id"),
                        (("tokens", "create", "--user", "ghost"), "user: no user named 'ghost'"),
                        (("tokens", "create", "--user", "root", "--label", ""), "token:"),
                        (("tokens", "list", "--user", "ghost"), "user: no user named 'ghost'")]:
        proc = st.run(*args, "--data", data)
        assert proc.returncode == 2, args
        assert words in st.one_error_line(proc), args
    assert [e["action"] for e in audit.entries(db)][:2] == ["token-revoke", "token-create"]


# -- logins racing a change ------------------------------------------------------------------------------
@pytest.mark.parametrize("change", ["password", "disabled"])
def test_a_login_checked_against_the_old_state_gets_no_session(db, tmp_path, change):
    """The password is checked (scrypt, slow) before the write transaction; the owner changes the
    password, or an admin disables the user, meanwhile. That login must get nothing."""
    ann = users.create_user(db, "ann", "manager", GOOD)
    other = raw(tmp_path)
    other.isolation_level = None
    other.execute("BEGIN IMMEDIATE")     # the change, holding the write lock until it commits
    if change == "password":
        other.execute("UPDATE users SET password_hash = 'scrypt:changed' WHERE id = ?", [ann["id"]])
    else:
        other.execute("UPDATE users SET disabled = 1 WHERE id = ?", [ann["id"]])
    result = {}
    login = threading.Thread(target=lambda: result.update(answer=users.check_login(
        dbmod.connect(tmp_path / "data"), "ann", GOOD, start_session={"remote_addr": "192.0.2.5"})))
    login.start()
    time.sleep(1.0)          # it has read the old row and checked the password; now it waits for the lock
    other.execute("COMMIT")
    login.join(30)
    assert result["answer"][0] is None
    assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


def test_a_token_is_not_made_from_a_session_that_has_ended(db):
    ann = users.create_user(db, "ann", "manager", GOOD)
    row, _ = users.check_login(db, "ann", GOOD, start_session={})
    key = row["session_key"]
    assert sessions.user_id_for(db, key) == ann["id"]
    users.create_token(db, "ann", "from the page", session_key=key)
    users.set_password(db, "ann", OTHER)
    with pytest.raises(users.UserError) as caught:
        users.create_token(db, "ann", "too late", session_key=key)
    assert "log in again" in caught.value.message
    assert [t["label"] for t in users.list_tokens(db, "ann")] == ["from the page"]
