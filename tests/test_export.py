"""USB export through the real doors: `hookline export` as a subprocess onto a real tmpfs mounted
here (filled up on purpose), into a FAT image written with mtools (so a FAT implementation judges
the names), a recording changed behind the catalog's back, --new twice, a copy killed mid-file and
resumed, a second export while one holds the lock, a read-only and a missing target. What a person
would check: the files and their names, `sha256sum -c SHA256SUMS`, what index.csv lists and
whether it says the export is incomplete, the exit code, and the audit entry."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import simtools as st
import sticktools
from appliance.export import selection, stick
from appliance.store import audit, db as dbmod

pytestmark = pytest.mark.xdist_group("export")

# Starts 10 s before midnight in Los Angeles: the first call is on 14 March in the box's zone
# (15 March in UTC). The outbound call dials a star code ('*' is not allowed in a FAT name) and
# is the long one, so a small stick fills up on it.
SCENARIO = """
[appliance]
start = "2026-03-15T06:59:50Z"
sample_rate = 8000
seed = 7
timezone = "America/Los_Angeles"

[[line]]
id = 1
offhook = "gpio"
callerid = "modem"

[[line]]
id = 2
offhook = "gpio"
callerid = "none"

[[call]]
line = 1
at = 0.5
direction = "inbound"
rings = 1
caller_id = { number = "4155550123", name = "ACME PLUMBING" }
talk = 3.0
near = "tone:440@-12"
far = "tone:1000@-12"

[[call]]
line = 2
at = 12.0
direction = "outbound"
dial = "*674155550999"
talk = 20.0
near = "noise@-20"
far = "tone:660@-16"

[[call]]
line = 1
at = 40.0
direction = "inbound"
rings = 1
caller_id = { number = "4155550123", name = "ACME PLUMBING" }
talk = 3.0
near = "tone:350@-20"
far = "noise@-28"
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    data = base / "data"
    # The recorder runs in Tokyo's zone (TZ), the box's is Los Angeles: names follow the box.
    st.simulate(st.write_scenario(base, SCENARIO), data, tz="Asia/Tokyo")
    rows = st.calls(data)
    assert [r["status"] for r in rows] == ["complete"] * 3
    assert rows[0]["path"].startswith("recordings/2026/03/14/2026-03-14_23-59-5"), rows[0]["path"]
    return data, rows


@pytest.fixture
def box(template, tmp_path):
    src, rows = template
    data = tmp_path / "data"
    shutil.copytree(src, data, ignore=shutil.ignore_patterns("sim", "run"))
    return data, rows


def export(data: Path, to: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    if env is None:
        return st.run("export", "--to", to, "--data", data, *args)
    return subprocess.run([st.HOOKLINE, "export", "--to", str(to), "--data", str(data), *args], capture_output=True,
                          text=True, env=env, timeout=120)


def summary(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout)


def listed(root: Path) -> list[dict]:
    with open(root / "index.csv", encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def sha_check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=root, capture_output=True, text=True)


def last_export(data: Path) -> dict:
    db = dbmod.connect(data)
    try:
        return audit.entries(db, action="export", limit=1)[0]
    finally:
        db.close()


def mp3s(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.suffix == ".mp3")


def test_export_to_a_tmpfs_verifies_and_lists_every_call(box, tmp_path):
    data, rows = box
    with st.small_tmpfs(tmp_path / "stick", "4m") as to:
        proc = export(data, to, "--json")
        assert proc.returncode == 0, proc.stderr
        root = to / "Hookline"
        assert mp3s(root) == ["2026-03-14/235953_L1_in_4155550123.mp3",
                              "2026-03-15/000002_L2_out_-674155550999.mp3",
                              "2026-03-15/000033_L1_in_4155550123.mp3"]
        check = sha_check(root)
        assert check.returncode == 0 and check.stdout.count(": OK") == 3 + 4, check.stdout + check.stderr
        index = listed(root)
        assert [r["call_id"] for r in index] == [r["id"] for r in rows]
        assert index[0]["started"] == "2026-03-14 23:59:53" and index[0]["number"] == "(415) 555-0123"
        assert index[0]["title"] == "Inbound from ACME PLUMBING, 14 Mar 2026 23:59, line 1"
        assert not (root / stick.INCOMPLETE).exists()
        head = json.loads((root / "audit-head.json").read_text())
        assert head["current"]["format"] == "hookline-audit-head/1"
        doc = summary(proc)
        assert doc["complete"] and doc["copied"] == 3 and doc["bytes_copied"] == sum(r["size_bytes"] for r in rows)
        entry = last_export(data)
        assert entry["user"].startswith("console:") and entry["detail"]["calls"] == [r["id"] for r in rows]
        assert entry["detail"]["complete"] is True


def test_selection_by_day_in_the_box_zone_line_and_number(box, tmp_path):
    data, rows = box
    one = export(data, tmp_path / "a", "--since", "2026-03-15", "--json") if (tmp_path / "a").mkdir() is None else None
    assert summary(one)["copied"] == 2                    # the first call is on 14 March in Los Angeles
    (tmp_path / "b").mkdir()
    two = export(data, tmp_path / "b", "--until", "2026-03-14", "--line", "1", "--json")
    assert summary(two)["copied"] == 1
    (tmp_path / "c").mkdir()
    three = export(data, tmp_path / "c", "--number", "+1 (415) 555-0123", "--json")
    assert [r["call_id"] for r in listed(tmp_path / "c" / "Hookline")] == [rows[0]["id"], rows[2]["id"]]
    assert summary(three)["complete"]
    bad = export(data, tmp_path / "c", "--since", "15/03/2026")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    (tmp_path / "d").mkdir()
    backwards = export(data, tmp_path / "d", "--since", "2026-03-15", "--until", "2026-03-14")
    assert backwards.returncode == 2 and "is before --since" in backwards.stderr
    assert not (tmp_path / "d" / "Hookline").exists()                  # refused before touching the stick
    no_line = export(data, tmp_path / "c", "--line", "9")
    assert no_line.returncode == 2 and "there is no line 9" in no_line.stderr
    not_a_number = export(data, tmp_path / "c", "--number", "ACME")
    assert not_a_number.returncode == 2 and "is not a phone number" in not_a_number.stderr


def test_new_twice_exports_nothing_the_second_time(box, tmp_path):
    data, rows = box
    (tmp_path / "stick").mkdir()
    first = export(data, tmp_path / "stick", "--new", "--json")
    assert summary(first)["copied"] == 3
    again = export(data, tmp_path / "stick", "--new", "--json")
    assert again.returncode == 0 and summary(again)["copied"] == 0 and summary(again)["selected"] == 0
    assert len(listed(tmp_path / "stick" / "Hookline")) == 3          # the index still lists the stick's calls
    (tmp_path / "other").mkdir()
    other = export(data, tmp_path / "other", "--new", "--json")        # another stick: all of them
    assert summary(other)["copied"] == 3


def test_a_tampered_recording_is_reported_and_not_exported(box, tmp_path):
    data, rows = box
    with open(data / rows[1]["path"], "r+b") as f:
        f.seek(2000)
        f.write(b"\x00\x01\x02")
    (tmp_path / "stick").mkdir()
    proc = export(data, tmp_path / "stick")
    assert proc.returncode == 1
    assert f"NOT exported: call {rows[1]['id']}" in proc.stderr and "SHA-256" in proc.stderr
    root = tmp_path / "stick" / "Hookline"
    assert [r["call_id"] for r in listed(root)] == [rows[0]["id"], rows[2]["id"]]
    assert len(mp3s(root)) == 2 and sha_check(root).returncode == 0
    assert "no longer match" in (root / "index.html").read_text()
    assert last_export(data)["detail"]["mismatched"] == [rows[1]["id"]]


def test_a_full_stick_stops_cleanly_and_says_the_export_is_incomplete(box, tmp_path):
    """The stick fills up while the export copies (a stick with too little room from the start is
    refused before copying: test_export_sticks.py). Stopped by strace as it fsyncs the first
    recording, the stick is filled up to leave room for the stick's small files and the indexes,
    not the long second recording; then the export goes on."""
    data, rows = box
    page = 4096
    assert rows[1]["size_bytes"] > 64 * 1024 + page
    with st.small_tmpfs(tmp_path / "stick", "4m") as to:
        partial = to / "Hookline" / "2026-03-14" / f".235953_L1_in_4155550123.mp3{stick.PARTIAL}"
        stopped, pid = sticktools.stopped_mid_copy(     # one file at a time: the first is journaled before the next
            partial, [*FAULTS, "--batch-files", "1", "--", "export", "--to", str(to), "--data", str(data), "--json"],
            st.clean_env())
        room = os.statvfs(to).f_bavail * page - (page + 64 * 1024)      # the journal's page and the indexes
        with open(to / "filler", "wb") as f:
            os.posix_fallocate(f.fileno(), 0, room)
        os.kill(pid, signal.SIGCONT)
        out, err = stopped.communicate(timeout=60)
        proc = subprocess.CompletedProcess(stopped.args, stopped.returncode, out, err)
        assert proc.returncode == 4, proc.stderr
        doc = summary(proc)
        assert doc["copied"] == 1 and not doc["complete"] and "full" in doc["stopped_because"], doc["stopped_because"]
        root = to / "Hookline"
        assert mp3s(root) == ["2026-03-14/235953_L1_in_4155550123.mp3"]
        assert not list(root.rglob(f"*{stick.PARTIAL}"))                  # the partial file is gone
        assert [r["call_id"] for r in listed(root)] == [rows[0]["id"]]
        assert (root / stick.INCOMPLETE).exists() and "incomplete" in (root / "index.html").read_text()
        assert sha_check(root).returncode == 0
        assert last_export(data)["detail"]["exit_code"] == 4


FAULTS = [sys.executable, str(Path(__file__).with_name("export_faults.py"))]   # then its options, --, ARGS


def with_faults(data: Path, to: Path, *faults: str) -> subprocess.CompletedProcess:
    """`hookline export` with a fault injected by tests/export_faults.py (outside the shipped code)."""
    return subprocess.run([*FAULTS, *faults, "--", "export", "--to", str(to), "--data", str(data)],
                          capture_output=True, text=True, env=st.clean_env(), timeout=120)


def partials(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(f"*{stick.PARTIAL}"))


def test_an_export_killed_mid_copy_resumes_without_copying_again(box, tmp_path):
    """Killed (SIGKILL) mid-file by tests/export_faults.py, from outside the shipped code."""
    data, rows = box
    (tmp_path / "stick").mkdir()
    root = tmp_path / "stick" / "Hookline"
    # One file at a time: the first is journaled and renamed before the second starts; killed in it.
    killed = with_faults(data, tmp_path / "stick", "--batch-files", "1",
                         "--kill-after-bytes", str(rows[0]["size_bytes"] + 5000))
    assert killed.returncode == -9, killed.stderr
    assert mp3s(root) == ["2026-03-14/235953_L1_in_4155550123.mp3"]     # the half copy has no real name
    assert (root / stick.INCOMPLETE).exists() and not (root / "SHA256SUMS").exists()
    first = root / mp3s(root)[0]
    before = first.stat()
    resumed = export(data, tmp_path / "stick", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert summary(resumed)["copied"] == 2 and summary(resumed)["already_there"] == 1
    assert first.stat().st_ino == before.st_ino and first.stat().st_mtime_ns == before.st_mtime_ns
    assert not partials(root) and not (root / stick.INCOMPLETE).exists()
    assert len(listed(root)) == 3 and sha_check(root).returncode == 0


def test_killed_between_a_batch_verified_and_journaled(box, tmp_path):
    """Killed with a group written, flushed and verified but not yet journaled: its files are
    only under temporary names, and the rerun copies them again and completes."""
    data, rows = box
    (tmp_path / "stick").mkdir()
    root = tmp_path / "stick" / "Hookline"
    killed = with_faults(data, tmp_path / "stick", "--batch-files", "1", "--kill-at-journal", "2")
    assert killed.returncode == -9, killed.stderr
    assert mp3s(root) == ["2026-03-14/235953_L1_in_4155550123.mp3"]
    assert partials(root) == [".000002_L2_out_-674155550999.mp3.partial"]
    assert list(stick.read_journal(root)) == [rows[0]["id"]]
    resumed = export(data, tmp_path / "stick", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert summary(resumed)["copied"] == 2 and summary(resumed)["already_there"] == 1
    assert not partials(root) and [r["call_id"] for r in listed(root)] == [r["id"] for r in rows]
    assert len(mp3s(root)) == 3 and sha_check(root).returncode == 0


def test_killed_between_the_journal_and_the_renames(box, tmp_path):
    """Journaled but killed before any file got its real name: the journal's lines count for
    nothing (their files are not there), and the rerun copies them again under the same names."""
    data, rows = box
    (tmp_path / "stick").mkdir()
    root = tmp_path / "stick" / "Hookline"
    killed = with_faults(data, tmp_path / "stick", "--batch-files", "1", "--kill-after-journal", "1")
    assert killed.returncode == -9, killed.stderr
    assert mp3s(root) == [] and partials(root) == [".235953_L1_in_4155550123.mp3.partial"]
    assert len(stick.journal_lines(root)) == 1 and stick.read_journal(root) == {}
    resumed = export(data, tmp_path / "stick", "--json")
    assert resumed.returncode == 0 and summary(resumed)["copied"] == 3, resumed.stderr
    assert mp3s(root) == ["2026-03-14/235953_L1_in_4155550123.mp3", "2026-03-15/000002_L2_out_-674155550999.mp3",
                          "2026-03-15/000033_L1_in_4155550123.mp3"]
    assert not partials(root) and len(listed(root)) == 3 and sha_check(root).returncode == 0


def rewrite_recording(data: Path, row: dict, at: int, patch: bytes) -> bytes:
    """Change a recording on the box and its catalog row (size, SHA-256) alike, as a re-tag would."""
    path = data / row["path"]
    body = bytearray(path.read_bytes())
    body[at:at + len(patch)] = patch
    path.write_bytes(bytes(body))
    db = dbmod.connect(data)
    try:
        with dbmod.immediate(db):
            db.execute("UPDATE calls SET sha256 = ?, size_bytes = ? WHERE id = ?",
                       [hashlib.sha256(body).hexdigest(), len(body), row["id"]])
    finally:
        db.close()
    return bytes(body)


def test_a_recording_whose_hash_changed_replaces_its_old_copy(box, tmp_path):
    data, rows = box
    (tmp_path / "stick").mkdir()
    root = tmp_path / "stick" / "Hookline"
    assert export(data, tmp_path / "stick").returncode == 0
    before = mp3s(root)
    same_size = rewrite_recording(data, rows[0], 40, b"RETAGGED")              # same size, new hash
    longer = rewrite_recording(data, rows[2], rows[2]["size_bytes"], b"\xff" * 417)   # grows
    again = export(data, tmp_path / "stick", "--json")
    assert again.returncode == 0, again.stderr
    assert summary(again)["copied"] == 2 and summary(again)["already_there"] == 1
    index = listed(root)
    assert [r["call_id"] for r in index] == [r["id"] for r in rows]           # each call once
    now = mp3s(root)
    assert len(now) == 3 and now[1] == before[1]                               # the old copies are gone
    files = {r["call_id"]: r["file"] for r in index}
    assert (root / files[rows[0]["id"]]).read_bytes() == same_size
    assert (root / files[rows[2]["id"]]).read_bytes() == longer
    assert sha_check(root).returncode == 0 and not partials(root)
    third = export(data, tmp_path / "stick", "--json")                         # nothing left to do
    assert summary(third)["copied"] == 0 and mp3s(root) == now


def test_an_old_copy_left_by_a_kill_goes_on_the_rerun(box, tmp_path):
    """Killed after the new copy of a changed recording was journaled and renamed but before the
    old one was removed: the rerun removes it, and the index lists the call once."""
    data, rows = box
    (tmp_path / "stick").mkdir()
    root = tmp_path / "stick" / "Hookline"
    assert export(data, tmp_path / "stick").returncode == 0
    old = root / mp3s(root)[0]
    changed = rewrite_recording(data, rows[0], 40, b"RETAGGED")
    new_name = old.with_name(old.stem + "_2.mp3")
    new_name.write_bytes(changed)                          # as the killed run left it: renamed, journaled
    stick.append_journal(root, [{"call_id": rows[0]["id"], "file": new_name.relative_to(root).as_posix(),
                                 "sha256": hashlib.sha256(changed).hexdigest(), "size": len(changed),
                                 "line": rows[0]["line"], "started_at": rows[0]["started_at"]}])
    rerun = export(data, tmp_path / "stick", "--json")
    assert rerun.returncode == 0 and summary(rerun)["copied"] == 0, rerun.stderr
    assert not old.exists() and len(mp3s(root)) == 3 and len(listed(root)) == 3
    assert sha_check(root).returncode == 0


def test_a_journal_never_names_files_outside_the_export(box, tmp_path):
    """A stick's journal is not trusted: a line naming a file elsewhere is ignored, never deleted."""
    data, rows = box
    (tmp_path / "stick").mkdir()
    root = tmp_path / "stick" / "Hookline"
    assert export(data, tmp_path / "stick").returncode == 0
    bait = tmp_path / "bait.mp3"
    bait.write_bytes(b"keep me")
    stick.append_journal(root, [{"call_id": rows[0]["id"], "file": "../../bait.mp3", "sha256": "0", "size": 7}])
    assert export(data, tmp_path / "stick").returncode == 0 and bait.exists()
    assert len(listed(root)) == 3


def test_a_second_export_while_one_runs_is_refused(box, tmp_path):
    data, _ = box
    (tmp_path / "stick").mkdir()
    with stick.locked(data):
        proc = export(data, tmp_path / "stick")
    assert proc.returncode == 3 and "another export" in proc.stderr
    assert last_export(data)["detail"]["exit_code"] == 3


def test_a_missing_or_read_only_target(box, tmp_path):
    data, _ = box
    missing = export(data, tmp_path / "nowhere")
    assert missing.returncode == 5 and "is not there" in missing.stderr
    target = tmp_path / "ro"
    target.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        ro = export(data, target)
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)
    assert ro.returncode == 5 and "read-only" in ro.stderr


@pytest.mark.skipif(shutil.which("mformat") is None, reason="mtools is not installed (make test installs it)")
def test_names_survive_a_fat_filesystem(box, tmp_path):
    """The export copied into a FAT32 image by mtools keeps every name as it is (mtools would
    refuse or mangle a name FAT cannot hold), and the checksums pass on what comes back out."""
    data, _ = box
    (tmp_path / "stick").mkdir()
    assert export(data, tmp_path / "stick").returncode == 0
    image = tmp_path / "fat.img"
    subprocess.run(["truncate", "-s", "40M", str(image)], check=True)
    subprocess.run(["mformat", "-i", str(image), "-F", "::"], check=True)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    copy_in = subprocess.run(["mcopy", "-s", "-n", "-D", "o", "-i", str(image), str(tmp_path / "stick" / "Hookline"),
                              "::"], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    assert copy_in.returncode == 0, copy_in.stderr
    listing = subprocess.run(["mdir", "-/", "-b", "-i", str(image), "::/Hookline"], capture_output=True, text=True,
                             check=True, env=env).stdout.split()
    names = sorted(line.split("::/Hookline/", 1)[1] for line in listing if line.endswith(".mp3"))
    assert names == mp3s(tmp_path / "stick" / "Hookline")
    out = tmp_path / "back"
    out.mkdir()
    subprocess.run(["mcopy", "-s", "-n", "-i", str(image), "::/Hookline", str(out)], check=True, env=env)
    assert sha_check(out / "Hookline").returncode == 0


def test_fat_names_unit():
    """What FAT32 and exFAT refuse never reaches a name; names that differ only in case get a suffix."""
    from appliance.export import names
    assert names.safe('a*b?c:"d"<e>|f\\g/h') == "a-b-c--d--e--f-g-h"
    assert names.safe("trailing...") == "trailing" and names.safe("a b") == "a_b"
    assert names.safe("CON") == "_CON" and names.safe("") == "_"
    assert len(names.safe("9" * 500)) == names.MAX_STEM
    taken: set[str] = set()
    assert names.unique("2026-03-15", "120000_L1_in_X", "mp3", taken) == "2026-03-15/120000_L1_in_X.mp3"
    assert names.unique("2026-03-15", "120000_L1_in_x", "mp3", taken) == "2026-03-15/120000_L1_in_x_2.mp3"
    assert names.unique("2026-03-15", "120000_L1_IN_X", "mp3", taken) == "2026-03-15/120000_L1_IN_X_3.mp3"


def test_a_journal_naming_files_off_the_stick_resumes_nothing(tmp_path):
    """A journal line whose file is outside the Hookline folder (../, an absolute path) is not a
    file on this stick: it must not count as copied, or --new would never take that call there."""
    root = tmp_path / "stick" / "Hookline"
    (root / "2026-03-15").mkdir(parents=True)
    (root / "2026-03-15" / "a.mp3").write_bytes(b"x" * 10)
    (tmp_path / "outside.mp3").write_bytes(b"x" * 10)
    stick.append_journal(root, [{"call_id": call_id, "file": file, "sha256": "0" * 64, "size": 10} for call_id, file in
                                [("a", "2026-03-15/a.mp3"), ("b", "../../outside.mp3"), ("c", str(tmp_path / "outside.mp3")),
                                 ("d", "2026-03-15/../../../outside.mp3")]])
    assert list(stick.read_journal(root)) == ["a"]


def test_links_are_found_however_deep_the_folders_nest(tmp_path):
    """An export refuses a Hookline folder holding a link (job._open_target) and removes what an
    interrupted copy left; a stick nesting folders deeper than Python's recursion limit must be
    walked too, not crash the export."""
    root = tmp_path / "Hookline"
    deepest = root
    root.mkdir()
    try:
        for _ in range(1100):           # one letter a level: within PATH_MAX, past the recursion limit
            deepest = deepest / "a"
            deepest.mkdir()
        (deepest / ".call.mp3.partial").write_bytes(b"half")
        assert stick.first_odd(root) is None and stick.remove_leftovers(root) == 1
        assert not (deepest / ".call.mp3.partial").exists()
        (deepest / "data").symlink_to("/var/lib/hookline")
        assert stick.first_odd(root) == deepest / "data"
        (deepest / "data").unlink()
        os.mkfifo(deepest / "data")
        assert stick.first_odd(root) == deepest / "data"
    finally:        # rm, not shutil.rmtree (pytest's too), which recurses
        subprocess.run(["rm", "-rf", str(root)], check=True)


def at_a_terminal(data: Path, to: Path) -> tuple[int, str]:
    """`hookline export` with its stderr on a pty: (exit code, what the terminal got)."""
    import pty
    leader, follower = pty.openpty()
    proc = subprocess.run([st.HOOKLINE, "export", "--to", str(to), "--data", str(data)],
                          stdout=subprocess.PIPE, stderr=follower, env=st.clean_env(), timeout=120)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:           # EIO: the pty's other end is closed and everything was read
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return proc.returncode, seen.decode()


def test_a_terminal_gets_a_progress_bar_and_a_log_gets_lines(box, tmp_path):
    data, rows = box
    (tmp_path / "tty").mkdir()
    code, text = at_a_terminal(data, tmp_path / "tty")
    assert code == 0
    assert "\r[" in text and "3/3 files" in text and "left" in text and "export complete" in text
    (tmp_path / "log").mkdir()
    plain = export(data, tmp_path / "log")
    assert "\r" not in plain.stderr and "copied and verified 3/3: 2026-03-15/000033_L1_in_4155550123.mp3" in plain.stderr
    with open(data / rows[2]["path"], "r+b") as f:                   # the bar stops short of 3/3
        f.write(b"\xff\xfb\x00")
    (tmp_path / "tty2").mkdir()
    code, text = at_a_terminal(data, tmp_path / "tty2")
    assert code == 1 and "2/3 files" in text and "\r\nhookline: NOT exported" in text


def test_days_at_the_ends_of_the_calendar_mean_no_bound(box, tmp_path):
    """'Until 9999-12-31' (a date field's last day) or 'since 0001-01-01' east of UTC select every
    call, rather than failing on a moment the clock cannot hold."""
    data, rows = box
    (tmp_path / "e").mkdir()
    forever = export(data, tmp_path / "e", "--since", "0001-01-01", "--until", "9999-12-31", "--json")
    assert forever.returncode == 0 and summary(forever)["copied"] == 3, forever.stderr
    db = dbmod.connect(data)
    try:
        for zone in ("Europe/Berlin", "America/Los_Angeles", "UTC"):
            edges = selection.Selection(since=date.min, until=date.max)
            assert len(selection.calls(db, edges, ZoneInfo(zone), "US", None)) == 3, zone
    finally:
        db.close()
