"""`hookline store check [--repair] [--force] [--json]` on calls the real daemon recorded, after
the kinds of damage a dying disk, a power cut or a person leaves: files with no row, rows with
no file, files moved, shortened or altered, files kept aside by recovery. Repair never deletes
a recording and refuses to act when more than half the catalog would change."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import simtools as st
from appliance.recording import id3tags, spool
from appliance.store import catalog, check as checkmod, check_repair, db as dbmod, removal
from test_recovery_salvage import unfinished_call
from test_retention import office


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("store-check")
    data = base / "data"
    st.simulate(st.write_scenario(base, office("2026-11-20T10:00:00Z", [2.0, 2.0, 2.0, 2.0])), data)
    assert [r["status"] for r in st.calls(data)] == ["complete"] * 4
    return data


@pytest.fixture
def data(template, tmp_path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(template, data, ignore=shutil.ignore_patterns("sim", "run"))
    return data


def check(data: Path, *options: str, code: int) -> dict:
    proc = st.run("store", "check", "--data", data, "--json", *options)
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def sql(data: Path, statement: str, *args) -> None:
    with sqlite3.connect(data / "hookline.db") as conn:
        conn.execute(statement, args)


def by_id(data: Path) -> dict[str, dict]:
    return {r["id"]: r for r in st.calls(data)}


def test_a_catalog_that_matches_its_files_has_nothing_to_say(data):
    out = check(data, code=0)
    assert out["kept_calls"] == 4 and out["findings"] == []
    assert check(data, "--repair", code=0)["repaired"] == []
    text = st.run("store", "check", "--data", data)
    assert text.returncode == 0 and text.stdout == "" and "4 kept call(s) checked: 0 finding(s)" in text.stderr


def test_a_missing_file_is_found_and_repair_marks_its_call_deleted_saying_why(data):
    gone, *rest = st.calls(data)
    (data / gone["path"]).unlink()
    [found] = check(data, code=1)["findings"]
    assert (found["kind"], found["call_id"], found["repair"]) == ("no-file", gone["id"], "mark-missing")
    assert by_id(data)[gone["id"]]["status"] == "complete"          # a check alone changes nothing
    out = check(data, "--repair", code=0)
    assert [f["call_id"] for f in out["repaired"]] == [gone["id"]]
    row = by_id(data)[gone["id"]]
    assert row["status"] == "deleted" and not row["path"]
    [event] = [e for e in st.events(data) if e["call_id"] == gone["id"] and e["kind"] == "deleted"]
    assert event["detail"]["rule"] == "missing-file"
    assert "The recording's file was missing when the store was checked" in \
        st.check("events", "--data", data, "--call", gone["id"]).stdout
    assert all((data / r["path"]).is_file() for r in rest)
    assert check(data, code=0)["findings"] == []
    [entry] = json.loads(st.check("audit", "--data", data, "--json", "--action", "store-repair").stdout)
    assert entry["detail"]["changed"] == [gone["id"]]


def test_a_file_moved_away_from_its_name_is_linked_back(data):
    moved = st.calls(data)[1]
    new = data / "recordings" / "elsewhere.mp3"
    (data / moved["path"]).rename(new)
    kinds = sorted((f["kind"], f["repair"]) for f in check(data, code=1)["findings"])
    assert kinds == [("no-row", "relink")]
    check(data, "--repair", code=0)
    row = by_id(data)[moved["id"]]
    assert row["status"] == "complete" and row["path"] == "recordings/elsewhere.mp3"
    assert row["sha256"] == moved["sha256"]
    audio, rate = st.decode(data, row)
    assert len(audio) / rate == pytest.approx(moved["audio_s"], abs=0.05)
    assert check(data, code=0)["findings"] == []


def test_a_recording_whose_row_was_lost_is_added_back_from_its_own_tag(data):
    lost = st.calls(data)[2]
    sql(data, "DELETE FROM calls WHERE id = ?", lost["id"])
    [found] = check(data, code=1)["findings"]
    assert (found["kind"], found["call_id"], found["repair"]) == ("no-row", lost["id"], "adopt")
    check(data, "--repair", code=0)
    row = by_id(data)[lost["id"]]
    assert row["status"] == "recovered"
    for key in ("line", "direction", "started_at", "path", "size_bytes", "sha256", "dialed", "remote_number"):
        assert row[key] == lost[key], key
    assert row["audio_s"] == pytest.approx(lost["audio_s"], abs=0.01)
    assert any(e["kind"] == "reconciled" for e in st.events(data) if e["call_id"] == lost["id"])
    assert check(data, code=0)["findings"] == []


def test_altered_and_shortened_files_are_named_and_never_touched(data):
    altered, shortened, *_ = st.calls(data)
    path = data / altered["path"]
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(blob)
    short = data / shortened["path"]
    short.write_bytes(short.read_bytes()[:-1000])
    stranger = data / "recordings" / "holiday.mp3"
    stranger.write_bytes(b"not ours" * 100)
    findings = {f["kind"]: f for f in check(data, code=1)["findings"]}
    assert findings["wrong-hash"]["call_id"] == altered["id"]
    assert findings["wrong-hash"]["detail"]["catalog"] == altered["sha256"]
    assert findings["wrong-size"]["call_id"] == shortened["id"]
    assert findings["no-row"]["path"] == "recordings/holiday.mp3" and findings["no-row"]["repair"] is None
    before = {p: p.read_bytes() for p in (path, short, stranger)}
    out = check(data, "--repair", code=1)
    assert out["repaired"] == []
    assert {p: p.read_bytes() for p in before} == before
    assert {r["id"]: r["status"] for r in st.calls(data)}[altered["id"]] == "complete"


def test_repair_refuses_when_more_than_half_the_catalog_would_change(data):
    rows = st.calls(data)
    for row in rows[:3]:                     # as if the disk with the recordings were not mounted
        (data / row["path"]).unlink()
    proc = st.run("store", "check", "--data", data, "--repair")
    assert proc.returncode == 3
    assert "refusing to repair: 3 of the 4 kept calls would change" in proc.stderr
    assert "Nothing was changed" in proc.stderr
    assert [r["status"] for r in st.calls(data)] == ["complete"] * 4
    out = check(data, "--repair", "--force", code=0)
    assert len(out["repaired"]) == 3
    assert [r["status"] for r in st.calls(data)] == ["deleted"] * 3 + ["complete"]


def test_what_recovery_could_not_read_is_listed_as_quarantined(tmp_path):
    data = tmp_path / "data"
    call_id, _ = unfinished_call(data)
    (data / "spool" / f"{call_id}.mp3.part").write_bytes(np.random.default_rng(3).bytes(20_000))
    st.check("recover", "--data", data)
    [found] = check(data, code=1)["findings"]
    assert found["kind"] == "quarantined" and found["call_id"] == call_id
    assert found["path"] == f"quarantine/{call_id}.mp3.part" and found["detail"]["bytes"] == 20_000
    text = st.run("store", "check", "--data", data, "--repair")
    assert text.returncode == 1 and "unreadable file kept aside" in text.stdout
    assert (data / found["path"]).is_file()


def test_no_catalog_is_bad_input(tmp_path):
    proc = st.run("store", "check", "--data", tmp_path)
    assert proc.returncode == 2 and "no catalog" in proc.stderr


def deleted_events(db, call_id: str) -> list[dict]:
    return [e for e in catalog.list_events(db) if e["call_id"] == call_id and e["kind"] == "deleted"]


def test_a_call_retention_deletes_while_the_check_runs_is_not_reported_missing(data, monkeypatch):
    """The check after an unclean stop runs while retention sweeps (both start with the recorder)
    and hashing every file takes minutes on a Pi: a call deleted meanwhile is not a finding."""
    first, second, *_ = st.calls(data)
    db = dbmod.connect(data)
    real_hash = spool.hash_file

    def hash_while_retention_runs(path):
        if Path(path).name == Path(first["path"]).name:     # retention's sweep, on its own thread
            removal.delete_calls(db, data, [second["id"]], "retention: older than 7 days", rule="retention", days=7)
        return real_hash(path)

    monkeypatch.setattr(spool, "hash_file", hash_while_retention_runs)
    report = checkmod.check(db, data)
    assert report.findings == []
    db.close()


def test_repair_leaves_alone_a_call_deleted_since_the_check(data):
    """`store check --repair` acts on what the check found minutes ago: a call deleted since
    (retention, a person on the web page) keeps its own deletion and its row is not relinked."""
    gone, moved, *_ = st.calls(data)
    (data / gone["path"]).unlink()
    (data / moved["path"]).rename(data / "recordings" / "elsewhere.mp3")
    db = dbmod.connect(data)
    report = checkmod.check(db, data)
    assert sorted(f.repair for f in report.changes) == ["mark-missing", "relink"]
    removal.delete_calls(db, data, [gone["id"], moved["id"]], "retention: older than 7 days", rule="retention", days=7)
    before = {r["id"]: r for r in st.calls(data)}
    assert check_repair.repair(db, data, report, force=True) == []
    assert st.calls(data) == list(before.values())
    for call_id in (gone["id"], moved["id"]):
        [event] = deleted_events(db, call_id)
        assert event["detail"]["rule"] == "retention"
    db.close()


def test_a_call_finalized_while_the_check_runs_is_not_a_file_with_no_row(data, monkeypatch):
    """The check after an unclean stop runs while the lines record: a call whose file reaches
    recordings/ and whose row is then finished during the check is no finding."""
    finishing = st.calls(data)[3]
    sql(data, "UPDATE calls SET status = 'recording', path = NULL WHERE id = ?", finishing["id"])
    db = dbmod.connect(data)
    real_keys = id3tags.machine_keys

    def keys_while_the_recorder_finishes(path):
        sql(data, "UPDATE calls SET status = 'complete', path = ? WHERE id = ?", finishing["path"], finishing["id"])
        return real_keys(path)

    monkeypatch.setattr(id3tags, "machine_keys", keys_while_the_recorder_finishes)
    assert checkmod.check(db, data).findings == []
    db.close()


@pytest.mark.parametrize("key, value", [("started_at", "last Tuesday"), ("id", "../../hookline.db"),
                                        ("line", "99999999999999999999999"), ("part", "123456789012345678901")])
def test_a_file_whose_tag_cannot_make_a_row_is_left_for_a_person(data, key, value):
    """A file under recordings/ whose Hookline tag holds what no row can (a date that is no date,
    an id that is a path, a number too big to store): named, left alone, and repair neither
    stops half-way nor adds a row."""
    from mutagen.id3 import ID3, TXXX
    lost = st.calls(data)[2]
    sql(data, "DELETE FROM calls WHERE id = ?", lost["id"])
    path = data / lost["path"]
    tags = ID3(path)
    tags.delall(f"TXXX:hookline_{key}")
    tags.add(TXXX(encoding=3, desc=f"hookline_{key}", text=[value]))
    tags.save(path, v2_version=3)
    [found] = check(data, code=1)["findings"]
    assert (found["kind"], found["repair"]) == ("no-row", None)
    proc = st.run("store", "check", "--data", data, "--repair")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lost["id"] not in by_id(data) and len(st.calls(data)) == 3


def test_a_moved_file_that_is_not_what_was_recorded_is_not_linked_back(data):
    """Relinking takes the file found for the one missing: only when it is the very file the
    catalog recorded (same SHA-256). An altered one is left for a person, as wrong-hash is: the
    catalog's hash would otherwise be rewritten to the altered file's."""
    moved = st.calls(data)[1]
    new = data / "recordings" / "elsewhere.mp3"
    (data / moved["path"]).rename(new)
    blob = bytearray(new.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    new.write_bytes(blob)
    out = check(data, "--repair", code=1)
    assert out["repaired"] == []
    found = {f["kind"]: f for f in out["findings"]}
    assert found["no-row"]["call_id"] == moved["id"] and found["no-row"]["repair"] is None
    assert found["no-file"]["repair"] is None          # not marked deleted either: its file may be that one
    row = by_id(data)[moved["id"]]
    assert (row["path"], row["sha256"], row["status"]) == (moved["path"], moved["sha256"], "complete")


def test_a_file_gone_between_the_check_and_the_repair_costs_only_its_own_change(data):
    """Each change is its own: a stray file removed before the repair reached it is left (and
    named), the other changes are made and audited."""
    gone, moved, *_ = st.calls(data)
    (data / gone["path"]).unlink()
    (data / moved["path"]).rename(data / "recordings" / "elsewhere.mp3")
    db = dbmod.connect(data)
    report = checkmod.check(db, data)
    (data / "recordings" / "elsewhere.mp3").unlink()         # a person tidying up meanwhile
    done = check_repair.repair(db, data, report, force=True)
    assert [f.repair for f in done] == ["mark-missing"]
    assert by_id(data)[gone["id"]]["status"] == "deleted"
    assert by_id(data)[moved["id"]]["status"] == "complete"
    db.close()
