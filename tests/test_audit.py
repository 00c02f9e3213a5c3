"""The audit log (appliance.store.audit) on a real catalog file: append-only, hash-chained, and
what an attacker with the file in hand can and cannot hide; `hookline audit` and its checks.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading

import pytest

import simtools as st
from appliance.store import audit, catalog, db as dbmod


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def db(data):
    return dbmod.connect(data)


def fill(db, n: int = 12) -> list[int]:
    ids = []
    for i in range(n):
        ids.append(audit.append(db, audit.ACTIONS[i % len(audit.ACTIONS)], user=None if i % 5 == 0 else f"user{i % 3}",
                                target=f"call{i % 4}", detail={"n": i, "why": "test"} if i % 2 else None,
                                remote_addr="192.0.2.7" if i % 3 else None, at=1_700_000_000 + i))
    return ids


def attacker(data) -> sqlite3.Connection:
    """The catalog opened as someone with the file would: plain sqlite3, triggers dropped."""
    conn = sqlite3.connect(data / dbmod.DB_NAME, isolation_level=None)
    conn.execute("DROP TRIGGER audit_append_only_update")
    conn.execute("DROP TRIGGER audit_append_only_delete")
    return conn


# -- writing and reading ---------------------------------------------------------------------------
def test_append_and_entries(db):
    assert audit.entries(db) == [] and audit.verify(db) is None
    ids = fill(db)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    newest = audit.entries(db)
    assert [e["id"] for e in newest] == ids[::-1]
    first = newest[-1]
    assert first["at"] == catalog.iso(1_700_000_000) and first["user"] is None and first["action"] == "login"
    assert first["detail"] == {} and first["prev_hash"] == "0" * 64 and len(first["hash"]) == 64
    assert newest[-2]["detail"] == {"n": 1, "why": "test"} and newest[-2]["remote_addr"] == "192.0.2.7"
    for newer, older in zip(newest, newest[1:]):
        assert newer["prev_hash"] == older["hash"], "each entry names the one before it"

    assert [e["id"] for e in audit.entries(db, target="call1")] == [i for i in ids[::-1] if (i - ids[0]) % 4 == 1]
    assert all(e["user"] == "user1" for e in audit.entries(db, user="user1"))
    assert [e["action"] for e in audit.entries(db, action="listen")] == ["listen"]
    assert audit.entries(db, user="user1", action="login") == []

    # Keyset pages: newest first, no gaps, no repeats.
    seen, before = [], None
    while True:
        page = audit.entries(db, before_id=before, limit=5)
        if not page:
            break
        seen += [e["id"] for e in page]
        before = page[-1]["id"]
    assert seen == ids[::-1]
    assert audit.verify(db) is None


def test_detail_is_canonical_json_and_rejects_non_dicts(db):
    from datetime import date
    entry_id = audit.append(db, "export", detail={"b": 1, "a": [1, 2], "when": date(2024, 5, 1), "name": "Jörg"})
    row = db.execute("SELECT detail FROM audit WHERE id = ?", [entry_id]).fetchone()[0]
    assert row == '{"a":[1,2],"b":1,"name":"Jörg","when":"2024-05-01"}'
    with pytest.raises(TypeError):
        audit.append(db, "export", detail=["not", "a", "dict"])
    with pytest.raises(ValueError):
        audit.append(db, "")
    assert audit.verify(db) is None


def test_the_actions_used_are_documented():
    assert len(set(audit.ACTIONS)) == len(audit.ACTIONS)
    for action in ("login", "login-failed", "logout", "listen", "download", "delete", "hold", "release", "note",
                   "settings", "user-add", "user-change", "user-remove", "token-create", "token-revoke", "export"):
        assert action in audit.ACTIONS


def test_append_inside_the_callers_transaction_commits_or_rolls_back_with_it(db):
    with dbmod.immediate(db):
        audit.append(db, "settings", target="min_call_s", detail={"value": 5})
    with pytest.raises(RuntimeError):
        with dbmod.immediate(db):
            audit.append(db, "delete", target="abc")
            raise RuntimeError("the change failed")
    assert [e["action"] for e in audit.entries(db)] == ["settings"]
    assert audit.verify(db) is None


def test_concurrent_writers_keep_one_chain(data, db):
    """Threads with their own connections (as the web app's request threads and the console)."""
    errors = []

    def writer(k: int) -> None:
        try:
            mine = dbmod.connect(data)
            for i in range(25):
                audit.append(mine, "listen", user=f"w{k}", target=f"call{i}")
        except Exception as e:     # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert audit.count(db) == 100 and audit.verify(db) is None


# -- tampering ------------------------------------------------------------------------------------------
def test_triggers_refuse_update_and_delete(data, db):
    fill(db, 3)
    conn = sqlite3.connect(data / dbmod.DB_NAME, isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET user = 'nobody' WHERE id = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE id = 3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")
    assert audit.count(db) == 3 and audit.verify(db) is None


@pytest.mark.parametrize("edit", [
    "UPDATE audit SET user = 'someone-else' WHERE id = {k}",
    "UPDATE audit SET action = 'nothing-happened' WHERE id = {k}",
    "UPDATE audit SET target = 'call9' WHERE id = {k}",
    "UPDATE audit SET at = '2020-01-01T00:00:00.000Z' WHERE id = {k}",
    "UPDATE audit SET detail = '{{\"n\": 99}}' WHERE id = {k}",
    "UPDATE audit SET detail = 'not json' WHERE id = {k}",
    "UPDATE audit SET remote_addr = '198.51.100.1' WHERE id = {k}",
    "UPDATE audit SET hash = prev_hash WHERE id = {k}",
])
def test_verify_finds_an_edited_entry(data, db, edit):
    ids = fill(db)
    k = ids[6]
    attacker(data).execute(edit.format(k=k))
    assert audit.verify(db) == k


def test_verify_finds_a_rehashed_edit_and_a_deletion(data, db):
    ids = fill(db)
    conn = attacker(data)
    # The attacker edits entry k and computes a fresh hash for it: the next entry no longer links.
    k = ids[4]
    prev, at, action, target, detail, addr = conn.execute(
        "SELECT prev_hash, at, action, target, detail, remote_addr FROM audit WHERE id = ?", [k]).fetchone()
    forged = audit.entry_hash(prev, at, "innocent", action, target, detail, addr)
    conn.execute("UPDATE audit SET user = 'innocent', hash = ? WHERE id = ?", [forged, k])
    assert audit.verify(db) == ids[5]

    fresh = dbmod.connect(data.parent / "other")
    ids = fill(fresh)
    conn = attacker(data.parent / "other")
    conn.execute("DELETE FROM audit WHERE id = ?", [ids[3]])
    assert audit.verify(fresh) == ids[4], "the entry after a deleted one is named"
    conn.execute("DELETE FROM audit WHERE id = ?", [ids[0]])
    assert audit.verify(fresh) == ids[1], "deleting the first entry shows too"


def test_hash_covers_every_field(db):
    base = dict(prev_hash="0" * 64, at="2024-05-01T10:00:00.000Z", user="ann", action="listen", target="c1",
                detail_text='{"a":1}', remote_addr="192.0.2.1")
    digest = audit.entry_hash(**base)
    assert digest == hashlib.sha256(("0" * 64 + json.dumps(
        {"action": "listen", "at": "2024-05-01T10:00:00.000Z", "detail": {"a": 1}, "remote_addr": "192.0.2.1",
         "target": "c1", "user": "ann"}, sort_keys=True, separators=(",", ":"))).encode()).hexdigest()
    for field, other in (("prev_hash", "1" * 64), ("at", "2024-05-01T10:00:00.001Z"), ("user", None),
                         ("action", "download"), ("target", "c2"), ("detail_text", '{"a":2}'),
                         ("remote_addr", None)):
        assert audit.entry_hash(**{**base, field: other}) != digest, field


# -- the command ---------------------------------------------------------------------------------------
def test_cli_audit_lists_and_verifies(data, db):
    ids = fill(db, 30)
    listed = json.loads(st.check("audit", "--json", "--limit", "10", "--data", data).stdout)
    assert [e["id"] for e in listed] == ids[::-1][:10]
    assert listed[0]["detail"] == audit.entries(db, limit=1)[0]["detail"]
    only = json.loads(st.check("audit", "--json", "--target", "call2", "--data", data).stdout)
    assert only and all(e["target"] == "call2" for e in only)
    text = st.check("audit", "--data", data).stdout.splitlines()
    assert text[0].startswith("times in ") and text[1].split() == ["ID", "TIME", "WHO", "ACTION", "WHAT", "FROM"]
    assert len(text) == 32 and any(" the box " in row for row in text) and any("192.0.2.7" in row for row in text)

    proc = st.check("audit", "--verify", "--data", data)
    assert proc.stdout.strip() == "audit log intact (30 entries)"
    proc = st.check("audit", "verify", "--no-files", "--data", data)
    assert proc.stdout.strip() == "audit log intact (30 entries)"

    attacker(data).execute("UPDATE audit SET detail = '{}' WHERE id = ?", [ids[17]])
    for args in (("audit", "--verify"), ("audit", "verify")):
        proc = st.run(*args, "--data", data)
        assert proc.returncode == 1
        line = st.one_error_line(proc)
        assert f"entry {ids[17]} " in line and "tampered" in line
        assert "intact" not in proc.stdout


def test_cli_audit_on_an_empty_and_a_missing_catalog(tmp_path, db, data):
    assert st.check("audit", "--verify", "--data", data).stdout.strip() == "audit log intact (0 entries)"
    assert json.loads(st.check("audit", "--json", "--data", data).stdout) == []
    for args in (("audit", "--json"), ("audit", "--verify"), ("audit",)):
        proc = st.run(*args, "--data", tmp_path / "none")
        assert proc.returncode == 2 and proc.stdout == ""
        assert st.one_error_line(proc).startswith(f"hookline: no catalog in {tmp_path / 'none'}: is this"), args
    assert not (tmp_path / "none").exists(), "looking creates nothing"


def test_cli_audit_verify_checks_the_recordings_too(data, db):
    folder = data / "recordings" / "2024" / "05" / "01"
    folder.mkdir(parents=True)
    for i in range(3):
        audio = bytes([i]) * 5000
        (folder / f"call{i}.mp3").write_bytes(audio)
        catalog.create_call(db, {"id": f"call{i}", "line": 1, "direction": "inbound",
                                 "started_at": catalog.iso(1_714_550_400 + i), "status": "complete",
                                 "path": f"recordings/2024/05/01/call{i}.mp3",
                                 "sha256": hashlib.sha256(audio).hexdigest(), "size_bytes": len(audio)})
    catalog.create_call(db, {"id": "gone", "line": 1, "started_at": catalog.iso(1_714_550_500), "status": "deleted",
                             "path": None, "sha256": "0" * 64})
    audit.append(db, "delete", user="ann", target="gone")
    proc = st.check("audit", "verify", "--data", data)
    assert proc.stdout.splitlines() == ["audit log intact (1 entries)", "recordings intact (3 files)"]

    (folder / "call1.mp3").write_bytes(b"\x01" * 4999 + b"\x02")
    proc = st.run("audit", "verify", "--data", data)
    assert proc.returncode == 1 and "call call1 does not match its SHA-256" in st.one_error_line(proc)
    (folder / "call1.mp3").unlink()
    proc = st.run("audit", "verify", "--data", data)
    assert proc.returncode == 1 and "call call1 is missing" in st.one_error_line(proc)


def test_one_targets_history_is_read_through_an_index(db):
    """The calls page asks for a call's last 'listen' on every play: not a scan of the whole log."""
    plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN SELECT id FROM audit WHERE user = ? AND action = ? "
                                     "AND target = ? AND id < ? ORDER BY id DESC LIMIT 1", ["a", "listen", "c1", 9])]
    assert plan == ["SEARCH audit USING INDEX audit_target (target=? AND rowid<?)"]
