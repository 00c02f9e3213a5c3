"""The audit log's sealed head (appliance.store.audit_seal) on real catalog files, through the
`hookline audit seal` and `hookline audit verify` commands: what the hash chain alone cannot see
(the newest entries removed, a log rewritten with a fresh chain) shows once the head is sealed,
the sealer never seals over it, the seal file is replaced atomically, the sealer reads the catalog
without being able to write it, and the box's units run it as its own user.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import simtools as st
import webtools as wt
from appliance import config as configmod
from appliance.store import audit, audit_seal, db as dbmod, users

FIRMWARE = st.REPO / "firmware_config"


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def db(data):
    return dbmod.connect(data)


def seal_path(data: Path) -> Path:
    """Where the seal lives without a config: in the data folder (development)."""
    return data / audit_seal.SEAL_NAME


def fill(db, n: int, start: int = 0) -> list[int]:
    return [audit.append(db, audit.ACTIONS[i % len(audit.ACTIONS)], user=f"user{i % 3}", target=f"call{i % 4}",
                         detail={"n": i} if i % 2 else None, remote_addr="192.0.2.7" if i % 3 else None,
                         at=1_700_000_000 + i) for i in range(start, start + n)]


def attacker(data: Path) -> sqlite3.Connection:
    """The catalog as someone who can write the file has it: plain sqlite3, the triggers dropped."""
    conn = sqlite3.connect(data / dbmod.DB_NAME, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS audit_append_only_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_append_only_delete")
    return conn


def rechain(conn: sqlite3.Connection, edit_id: int, user: str = "innocent") -> None:
    """Change one entry's user and compute a fresh, valid chain from it to the end."""
    conn.execute("UPDATE audit SET user = ? WHERE id = ?", [user, edit_id])
    prev = conn.execute("SELECT prev_hash FROM audit WHERE id = ?", [edit_id]).fetchone()[0]
    rows = conn.execute("SELECT id, at, user, action, target, detail, remote_addr FROM audit WHERE id >= ? "
                        "ORDER BY id", [edit_id]).fetchall()
    for entry_id, at, who, action, target, detail, addr in rows:
        digest = audit.entry_hash(prev, at, who, action, target, detail, addr)
        conn.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", [prev, digest, entry_id])
        prev = digest


# -- what the chain alone misses, and the seal finds -------------------------------------------------
# Each attack leaves a chain that audit.verify() accepts; ids are 1..12 and entry 12 was sealed.
def _truncate(data, db):
    attacker(data).execute("DELETE FROM audit WHERE id > 9")


def _truncate_and_write_on(data, db):
    attacker(data).execute("DELETE FROM audit WHERE id > 9")
    fill(db, 5, start=100)          # the app goes on writing: ids 10..14 again, chained to entry 9


def _rewrite(data, db):
    rechain(attacker(data), 4)


def _empty(data, db):
    attacker(data).execute("DELETE FROM audit")


# attack: (what it does, what `verify` says, what `seal` says after two more entries are written)
ATTACKS = {
    "truncated": (_truncate, ["the audit log ends at entry 9 but entry 12 was sealed at", "entries 10 to 12 were removed"],
                  "the audit log ends at entry 11 but entry 12 was sealed at"),
    "truncated-then-written-on": (_truncate_and_write_on, ["entry 12 no longer has the hash sealed at",
                                                           "the log was rewritten"],
                                  "entry 12 no longer has the hash sealed at"),
    "rewritten-with-a-fresh-chain": (_rewrite, ["entry 12 no longer has the hash sealed at", "the log was rewritten"],
                                     "entry 12 no longer has the hash sealed at"),
    "emptied": (_empty, ["the audit log is empty but entry 12 was sealed at", "all 12 entries were removed"],
                "entries 3 to 12 were removed"),
}


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "never-sealed"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_hidden_tampering_is_found_only_against_a_seal(data, db, attack, sealed):
    assert fill(db, 12) == list(range(1, 13))
    if sealed:
        assert "entry 12, 12 entries" in st.check("audit", "seal", "--data", data).stdout
    do, words, _ = ATTACKS[attack]
    do(data, db)
    assert audit.verify(db) is None, "the hash chain alone sees nothing wrong"
    for args in (("audit", "verify", "--no-files"), ("audit", "--verify"), ("audit", "verify")):
        proc = st.run(*args, "--data", data)
        if sealed:
            assert proc.returncode == 1, proc.stdout
            line = st.one_error_line(proc)
            assert line.startswith("hookline: audit log tampered with: ")
            for w in words:
                assert w in line
            assert "intact" not in proc.stdout
        else:
            # Without a seal the attack works: this is what the seal is for.
            assert proc.returncode == 0 and "audit log intact" in proc.stdout
            assert "no sealed audit head" in proc.stderr


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_seal_refuses_to_move_over_a_tampered_log(data, db, attack):
    fill(db, 12)
    st.check("audit", "seal", "--data", data)
    before = seal_path(data).read_bytes()
    do, _, refusal = ATTACKS[attack]
    do(data, db)
    fill(db, 2, start=200)          # legitimate entries after the tampering do not make it pass
    for _ in range(2):              # nor does the next minute's try
        proc = st.run("audit", "seal", "--data", data)
        assert proc.returncode == 1
        line = st.one_error_line(proc)
        assert line.startswith("hookline: not sealing, the audit log no longer matches its seal: ")
        assert refusal in line
        assert seal_path(data).read_bytes() == before, "the old seal stays"
    assert st.run("audit", "verify", "--no-files", "--data", data).returncode == 1, "still found after the tries"


def test_seal_refuses_entries_that_do_not_continue_the_chain(data, db):
    fill(db, 6)
    st.check("audit", "seal", "--data", data)
    conn = attacker(data)
    # Appended behind the app's back, with a chain of its own (starting over from the genesis).
    conn.execute("INSERT INTO audit (at, user, action, target, detail, remote_addr, prev_hash, hash) VALUES "
                 "('2024-01-01T00:00:00.000Z', 'x', 'login', NULL, '{}', NULL, ?, ?)",
                 [audit.GENESIS, audit.entry_hash(audit.GENESIS, "2024-01-01T00:00:00.000Z", "x", "login", None,
                                                  "{}", None)])
    proc = st.run("audit", "seal", "--data", data)
    assert proc.returncode == 1
    assert "entry 7, added after the seal of" in st.one_error_line(proc)
    assert "does not continue the hash chain" in proc.stderr
    assert json.loads(seal_path(data).read_text())["id"] == 6


def test_the_first_seal_checks_the_whole_chain(data, db):
    fill(db, 10)
    attacker(data).execute("UPDATE audit SET user = 'someone' WHERE id = 4")
    proc = st.run("audit", "seal", "--data", data)
    assert proc.returncode == 1 and "entry 4 does not match the audit log's hash chain" in st.one_error_line(proc)
    assert not seal_path(data).exists(), "a tampered log is never sealed"


def test_a_damaged_seal_file_is_reported_and_never_overwritten(data, db):
    fill(db, 3)
    seal_path(data).write_text("{not json")
    proc = st.run("audit", "verify", "--no-files", "--data", data)
    assert proc.returncode == 1 and "cannot be read" in st.one_error_line(proc)
    proc = st.run("audit", "seal", "--data", data)
    assert proc.returncode == 1 and "cannot be read" in st.one_error_line(proc)
    assert seal_path(data).read_text() == "{not json"
    seal_path(data).write_text(json.dumps({"format": audit_seal.FORMAT, "id": 3, "hash": "zz", "count": 3,
                                           "sealed_at": "2024-01-01T00:00:00.000Z"}))
    proc = st.run("audit", "verify", "--no-files", "--data", data)
    assert proc.returncode == 1 and "is malformed" in st.one_error_line(proc)


def test_a_removed_catalog_is_not_a_new_box(data, db):
    fill(db, 4)
    st.check("audit", "seal", "--data", data)
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data / dbmod.DB_NAME}{suffix}").unlink(missing_ok=True)
    proc = st.run("audit", "seal", "--data", data)
    assert proc.returncode == 1
    assert "no Hookline catalog" in st.one_error_line(proc) and "all 4 entries were removed" in proc.stderr
    # A new box (no catalog, nothing sealed): nothing to do, nothing written.
    fresh = data.parent / "new-box"
    proc = st.run("audit", "seal", "--data", fresh)
    assert proc.returncode == 0 and "nothing to seal" in proc.stderr
    assert not fresh.exists()


# -- sealing as the log grows ----------------------------------------------------------------------
def test_new_entries_after_a_seal_seal_fine(data, db):
    assert "no entries yet" in st.check("audit", "seal", "--data", data).stdout      # a fresh catalog
    assert json.loads(seal_path(data).read_text())["count"] == 0
    fill(db, 5)
    out = st.check("audit", "seal", "--data", data).stdout
    assert out.strip() == f"sealed the audit log's head in {seal_path(data)} (entry 5, 5 entries)"
    doc = json.loads(seal_path(data).read_text())
    newest = audit.entries(db, limit=1)[0]
    assert doc["format"] == audit_seal.FORMAT and doc["id"] == 5 and doc["count"] == 5
    assert doc["hash"] == newest["hash"] and doc["at"] == newest["at"] and doc["sealed_at"].endswith("Z")
    assert audit_seal.current_head(db) == audit_seal.Head(5, newest["hash"], 5, newest["at"])

    # Nothing new: the file is left alone (same inode, same bytes), and --quiet says nothing.
    before = seal_path(data).stat()
    assert "has not moved" in st.check("audit", "seal", "--data", data).stdout
    assert st.check("audit", "seal", "--data", data, "--quiet").stdout == ""
    after = seal_path(data).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    fill(db, 3, start=50)
    other = dbmod.connect(data)            # another writer (the web page and the console both write)
    audit.append(other, "logout", user="user1")
    assert "(entry 9, 9 entries)" in st.check("audit", "seal", "--data", data).stdout
    proc = st.check("audit", "verify", "--data", data)
    assert proc.stdout.splitlines()[:2] == ["audit log intact (9 entries)",
                                            f"audit log matches its seal of {json.loads(seal_path(data).read_text())['sealed_at']} (entry 9, 9 entries)"]
    assert proc.stderr == ""
    fill(db, 2, start=60)                  # written after the last seal: fine, just not protected yet
    assert st.run("audit", "verify", "--no-files", "--data", data).returncode == 0


def test_sealing_hashes_only_the_new_entries(data, db, monkeypatch):
    """Every minute on a box with a long log: the entries since the last seal, not the whole chain."""
    fill(db, 40)
    audit_seal.seal(db, seal_path(data))
    fill(db, 3, start=40)
    hashed = []
    real = audit.entry_hash
    monkeypatch.setattr(audit, "entry_hash", lambda *a: hashed.append(a) or real(*a))
    monkeypatch.setattr(audit, "verify", lambda db: pytest.fail("the whole chain was verified"))
    done = audit_seal.seal(db, seal_path(data))
    assert done.action == "sealed" and done.head.id == 43 and done.previous.id == 40
    assert len(hashed) == 4, "the sealed entry and the three after it"


# -- the file --------------------------------------------------------------------------------------
def test_the_seal_file_is_replaced_atomically(data, db, monkeypatch):
    fill(db, 3)
    st.check("audit", "seal", "--data", data)
    path = seal_path(data)
    old_text = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644, "everyone may read it (the web page checks it)"

    # A reader that has the old seal open keeps reading all of it: a new file was renamed over it.
    with open(path) as reader:
        fill(db, 2, start=10)
        st.check("audit", "seal", "--data", data)
        assert reader.read() == old_text
    assert json.loads(path.read_text())["id"] == 5
    assert sorted(p.name for p in data.iterdir() if "audit-head" in p.name) == [path.name], "no temp file left"

    # The new content reaches the disk before the rename, and the rename before seal() returns.
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: renamed.append((str(a), str(b), len(synced))) or real_replace(a, b))
    fill(db, 1, start=20)
    audit_seal.seal(db, path)
    [(tmp, target, synced_before)] = renamed
    assert target == str(path) and Path(tmp).parent == path.parent and tmp != str(path)
    assert synced[:synced_before] == [tmp], "the temp file is fsynced before the rename"
    assert synced[synced_before:] == [str(path.parent)], "then the folder, so the rename survives a power cut"

    # A failure half-way (the disk full at the rename) leaves the previous seal whole.
    current = path.read_text()
    def full_disk(a, b):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", full_disk)
    fill(db, 1, start=30)
    with pytest.raises(OSError):
        audit_seal.seal(db, path)
    assert path.read_text() == current
    assert sorted(p.name for p in data.iterdir() if "audit-head" in p.name) == [path.name]


# -- reading the catalog without writing it ----------------------------------------------------------
def test_the_read_only_open_writes_nothing(data, db, tmp_path):
    fill(db, 3)
    ro = dbmod.connect_read_only(data)
    assert audit.count(ro) == 3 and audit.verify(ro) is None
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute("INSERT INTO meta (key, value) VALUES ('x', '1')")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        audit.append(ro, "login", user="nobody")
    assert audit.count(db) == 3
    # Nothing is created or migrated by looking.
    with pytest.raises(FileNotFoundError):
        dbmod.connect_read_only(tmp_path / "none")
    assert not (tmp_path / "none").exists()
    old = tmp_path / "old"
    old.mkdir()
    conn = sqlite3.connect(old / dbmod.DB_NAME)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    ro = dbmod.connect_read_only(old)
    assert ro.execute("PRAGMA user_version").fetchone()[0] == 1
    assert audit_seal.current_head(ro) == audit_seal.Head(None, audit.GENESIS, 0), "no audit table: an empty log"
    # A path SQLite's URI syntax would misread.
    odd = tmp_path / "a dir?with#odd%chars"
    fill(dbmod.connect(odd), 2)
    assert audit.count(dbmod.connect_read_only(odd)) == 2


NOBODY = 65534


def _as_nobody(fn) -> dict:
    """Run fn() in a child process with the uid and gid 65534 and no other groups; its result."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # pragma: no cover - the child
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result = {"ok": fn()}
        except BaseException as e:
            result = {"error": f"{type(e).__name__}: {e}"}
        os.write(write_end, json.dumps(result, default=str).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return json.loads(text)


@pytest.mark.skipif(os.geteuid() != 0 or not hasattr(os, "fork"), reason="needs root to act as another user")
def test_the_sealer_reads_a_folder_it_cannot_write():
    """As on the box: the folder 0750 and the catalog 0640, the sealer only in their group."""
    base = Path(tempfile.mkdtemp(prefix="hookline-seal-test-"))
    try:
        base.chmod(0o755)
        data, seals = base / "data", base / "seal"
        seals.mkdir()
        os.chown(seals, NOBODY, NOBODY)
        db = dbmod.connect(data)
        fill(db, 5)
        db.close()

        def share(folder: Path) -> None:
            os.chown(folder, 0, NOBODY)
            folder.chmod(0o750)
            for p in folder.iterdir():
                os.chown(p, 0, NOBODY)
                p.chmod(0o640)

        def seal() -> dict:
            try:
                open(data / dbmod.DB_NAME, "r+b")
            except PermissionError:
                pass
            else:
                raise AssertionError("the sealer can write the catalog")
            done = audit_seal.seal(dbmod.connect_read_only(data), seals / audit_seal.SEAL_NAME)
            return {"action": done.action, "id": done.head.id}

        # A writer has the catalog open (the recorder): the -wal and -shm files exist.
        writer = subprocess.Popen([sys.executable, "-c", (
            "import sqlite3, sys\n"
            f"c = sqlite3.connect({str(data / dbmod.DB_NAME)!r}, isolation_level=None)\n"
            "c.execute(\"INSERT INTO meta (key, value) VALUES ('w', '1') ON CONFLICT DO NOTHING\")\n"
            "print('open', flush=True)\n"
            "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert writer.stdout.readline().strip() == "open"
            assert Path(f"{data / dbmod.DB_NAME}-wal").exists()
            share(data)
            assert _as_nobody(seal) == {"ok": {"action": "sealed", "id": 5}}
        finally:
            writer.communicate("")
        assert not Path(f"{data / dbmod.DB_NAME}-wal").exists(), "the writer's close checkpointed"

        # Nobody has it open (no -wal, which the sealer cannot create): read as immutable.
        db = dbmod.connect(data)
        fill(db, 2, start=10)
        db.close()
        share(data)

        def plain_read_only() -> str:
            conn = sqlite3.connect(f"file:{data / dbmod.DB_NAME}?mode=ro", uri=True)
            return conn.execute("SELECT count(*) FROM audit").fetchone()[0]
        assert "readonly" in _as_nobody(plain_read_only)["error"], "why connect_read_only needs its fallback"
        assert _as_nobody(seal) == {"ok": {"action": "sealed", "id": 7}}
        assert sorted(p.name for p in data.iterdir()) == [dbmod.DB_NAME], "the sealer created nothing there"
        sealed = seals / audit_seal.SEAL_NAME
        assert sealed.stat().st_uid == NOBODY and json.loads(sealed.read_text())["count"] == 7
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- where the seal lives ---------------------------------------------------------------------------
CONFIG = """
data_dir = "{data}"
status_file = "{data}/run/status.json"
{seal}
[[line]]
id = 1
capture = "line1"
[line.offhook]
pin = 17
"""


def test_the_config_says_where_the_seal_lives(tmp_path, data, db):
    fill(db, 4)
    elsewhere = tmp_path / "seal-dir" / "head.json"
    cfg = tmp_path / "hookline.toml"
    cfg.write_text(CONFIG.format(data=data, seal=f'audit_seal_file = "{elsewhere}"'))
    assert "(entry 4, 4 entries)" in st.check("audit", "seal", "--config", cfg).stdout
    assert elsewhere.exists() and not seal_path(data).exists()
    assert "matches its seal" in st.check("audit", "verify", "--config", cfg, "--no-files").stdout
    assert "matches its seal" in st.check("audit", "--verify", "--config", cfg).stdout
    # --seal wins over the config.
    other = tmp_path / "other.json"
    st.check("audit", "seal", "--config", cfg, "--seal", other)
    assert json.loads(other.read_text())["id"] == 4

    attacker(data).execute("DELETE FROM audit WHERE id = 4")
    assert "entry 4 was removed" in st.one_error_line(st.run("audit", "verify", "--config", cfg, "--no-files"))
    assert st.run("audit", "verify", "--data", data, "--no-files").returncode == 0, \
        "without the config the data folder's (absent) seal is used"
    # Another folder (a backup being checked) is not held to the box's seal, config or not.
    backup = tmp_path / "backup"
    shutil.copytree(data, backup)
    assert st.run("audit", "verify", "--data", backup, "--config", cfg, "--no-files").returncode == 0
    assert audit_seal.seal_file(backup, cfg) == backup / audit_seal.SEAL_NAME
    assert audit_seal.seal_file(data, cfg) == elsewhere

    # The box's default, and never inside the data folder (the web page could rewrite it there).
    assert configmod.load(FIRMWARE / "hookline.toml").audit_seal_file == Path("/var/lib/hookline-seal/audit-head.json")
    cfg.write_text(CONFIG.format(data=data, seal=""))
    assert configmod.load(cfg).audit_seal_file == Path("/var/lib/hookline-seal/audit-head.json")
    cfg.write_text(CONFIG.format(data=data, seal=f'audit_seal_file = "{data}/sub/../head.json"'))
    proc = st.run("audit", "seal", "--config", cfg)
    assert proc.returncode == 2 and "audit_seal_file" in st.one_error_line(proc) and "inside data_dir" in proc.stderr


def test_the_web_app_takes_the_seal_from_its_config(tmp_path, data, db):
    import web
    elsewhere = tmp_path / "seal" / "head.json"
    cfg = tmp_path / "hookline.toml"
    cfg.write_text(CONFIG.format(data=data, seal=f'audit_seal_file = "{elsewhere}"'))
    assert web.create_app(data, config_file=cfg).config["AUDIT_SEAL_FILE"] == elsewhere
    assert web.create_app(data).config["AUDIT_SEAL_FILE"] == data.resolve() / audit_seal.SEAL_NAME


def test_the_audit_page_checks_the_seal_too(tmp_path, data, db):
    for role, password in wt.PASSWORDS.items():
        users.create_user(db, role, role, password)
    fill(db, 6)
    server = wt.start(data)
    try:
        manager = wt.login(server.base, "manager")
        page = manager.get("/audit?verify=1").text
        assert 'id="chain-ok"' in page and 'id="seal-missing"' in page and "seal-broken" not in page
        st.check("audit", "seal", "--data", data)
        newest = audit.entries(db, limit=1)[0]["id"]
        page = manager.get("/audit?verify=1").text
        assert 'id="seal-ok"' in page and f"entry {newest} ({newest} entries)" in page
        assert "seal-broken" not in manager.get("/audit").text, "checked on request only"

        attacker(data).execute("DELETE FROM audit WHERE id > ?", [newest - 3])
        page = manager.get("/audit?verify=1").text
        assert 'id="chain-ok"' in page, "the chain that is left is fine"
        assert "seal-broken" in page and 'id="seal-ok"' not in page
        assert f"entry {newest} was sealed at" in page and "were removed" in page
    finally:
        server.close()


# -- on the box ------------------------------------------------------------------------------------
def _unit(name: str) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in (FIRMWARE / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def test_the_box_runs_the_sealer_as_its_own_user_every_minute():
    service = _unit("hookline-audit-seal.service")
    assert service["User"] == ["hookline-seal"] and service["Group"] == ["hookline"]
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"][0].split()[1:4] == ["audit", "seal", "--config"]
    seal_dir = configmod.load(FIRMWARE / "hookline.toml").audit_seal_file.parent
    assert service["StateDirectory"] == [seal_dir.name] and seal_dir.parent == Path("/var/lib")
    assert service["ReadOnlyPaths"] == ["/var/lib/hookline"] and "ReadWritePaths" not in service
    for key in ("ProtectSystem", "NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert service[key] in (["strict"], ["true"]), key
    timer = _unit("hookline-audit-seal.timer")
    assert timer["OnUnitActiveSec"] == ["1min"] and "OnBootSec" in timer and timer["WantedBy"] == ["timers.target"]
    for other in ("hookline-recorder.service", "hookline-web.service"):
        unit = _unit(other)
        assert unit["User"] == ["hookline"] and unit["ProtectSystem"] == ["strict"]
        assert str(seal_dir) not in " ".join(unit.get("ReadWritePaths", [])), f"{other} must not write the seal"
    install = (st.REPO / "image" / "install-on-box.sh").read_text()
    assert "useradd --system --gid hookline" in install and "hookline-seal" in install
    assert 'firmware_config/hookline-audit-seal.timer" /etc/systemd/system/' in install
    assert 'firmware_config/hookline-audit-seal.service" /etc/systemd/system/' in install
    assert "hookline-audit-seal.timer avahi-daemon.service" in install


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    # The ExecStart binary must exist for verify: point it at this checkout's.
    for name in ("hookline-audit-seal.service", "hookline-audit-seal.timer"):
        text = (FIRMWARE / name).read_text().replace("/opt/hookline/venv/bin/hookline", st.HOOKLINE)
        (tmp_path / name).write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", "hookline-audit-seal.service", "hookline-audit-seal.timer"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
