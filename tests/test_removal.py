"""Deleting a call, holding it and noting it (appliance/store/removal.py), on calls recorded by
the real daemon: the file and its peaks go, the row stays as proof (status 'deleted', size and
SHA-256 kept, a 'deleted' event with the reason and who), a held call is never deleted, and
no catalog row, however tampered with, makes it delete anything outside DATA/recordings."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

import simtools as st
from appliance.store import catalog, db as dbmod, peaks
from appliance.store.removal import NOTE_MAX_CHARS, RemovalError, delete_call, set_hold, set_note

SCENARIO = """
[appliance]
start = "2026-03-15T09:00:00Z"

[[line]]
id = 1
offhook = "gpio"

[[line]]
id = 2
offhook = "gpio"

[[call]]
line = 1
at = 0.5
direction = "outbound"
talk = 3.0
near = "tone:440@-12"
far = "tone:1000@-20"

[[call]]
line = 2
at = 0.5
direction = "outbound"
talk = 3.0
near = "tone:600@-12"

[[call]]
line = 1
at = 5.0
direction = "outbound"
talk = 1.0
near = "tone:440@-12"
"""


def copy_data(src: Path, dst: Path) -> Path:
    """A data folder without the simulator's FIFOs (copying a FIFO would block)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("sim", "run"))
    return dst


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("removal")
    data = base / "data"
    st.simulate(st.write_scenario(base, SCENARIO), data)
    return data


@pytest.fixture
def box(template, tmp_path):
    """(data folder, open catalog, {'a': complete, 'b': complete, 'short': discarded})."""
    data = copy_data(template, tmp_path / "data")
    db = dbmod.connect(data)
    rows = catalog.list_calls(db)
    complete = [r for r in rows if r["status"] == "complete"]
    [short] = [r for r in rows if r["status"] == "discarded"]
    assert len(complete) == 2 and all((data / r["path"]).is_file() for r in complete)
    yield data, db, {"a": complete[0], "b": complete[1], "short": short}
    db.close()


def events_of(db, call_id: str, kind: str = "deleted") -> list[dict]:
    return [e for e in catalog.list_events(db, call_id=call_id) if e["kind"] == kind]


def test_delete_removes_file_and_peaks_and_keeps_the_row_as_proof(box):
    data, db, calls = box
    a, b = calls["a"], calls["b"]
    assert peaks.load_peaks(db, a["id"]) is not None
    out = delete_call(db, data, a["id"], reason="asked by the customer", by="alice")
    assert out["status"] == "deleted" and out["path"] is None
    assert not (data / a["path"]).exists()
    row = catalog.get_call(db, a["id"])
    assert row["status"] == "deleted" and row["path"] is None
    assert row["deleted_at"] and abs(st.ts(row["deleted_at"]) - time.time()) < 60
    assert row["size_bytes"] == a["size_bytes"] and row["sha256"] == a["sha256"], "history proves what existed"
    assert row["started_at"] == a["started_at"] and row["duration_s"] == a["duration_s"]
    assert peaks.load_peaks(db, a["id"]) is None
    [ev] = events_of(db, a["id"])
    assert ev["detail"] == {"reason": "asked by the customer", "by": "alice"} and ev["line"] == a["line"]
    # the other call is untouched
    assert (data / b["path"]).is_file() and catalog.get_call(db, b["id"])["status"] == "complete"
    assert peaks.load_peaks(db, b["id"]) is not None
    # and `hookline calls` shows the deleted call, with its proof
    listed = {r["id"]: r for r in st.calls(data)}
    assert listed[a["id"]]["status"] == "deleted" and listed[a["id"]]["sha256"] == a["sha256"]


def test_refusals_change_nothing(box):
    data, db, calls = box
    a = calls["a"]
    with pytest.raises(RemovalError, match="no call"):
        delete_call(db, data, "0123456789", reason="x")
    set_hold(db, a["id"], True)
    with pytest.raises(RemovalError, match="on hold: release the hold first"):
        delete_call(db, data, a["id"], reason="x")
    assert (data / a["path"]).is_file() and catalog.get_call(db, a["id"])["status"] == "complete"
    assert catalog.get_call(db, a["id"])["held"] == 1
    set_hold(db, a["id"], False)
    delete_call(db, data, a["id"], reason="x", by=None)
    with pytest.raises(RemovalError, match="already deleted"):
        delete_call(db, data, a["id"], reason="again")
    assert len(events_of(db, a["id"])) == 1
    # a call still being recorded
    catalog.create_call(db, {"id": "feedc0ffee", "line": 1, "started_at": catalog.iso(0), "status": "recording",
                             "spool_path": "spool/feedc0ffee.mp3.part"})
    with pytest.raises(RemovalError, match="still recording"):
        delete_call(db, data, "feedc0ffee", reason="x")
    assert catalog.get_call(db, "feedc0ffee")["status"] == "recording"


def test_a_discarded_call_and_a_missing_file_are_deleted_all_the_same(box):
    data, db, calls = box
    delete_call(db, data, calls["short"]["id"], reason="tidy")
    assert catalog.get_call(db, calls["short"]["id"])["status"] == "deleted"
    b = calls["b"]
    (data / b["path"]).unlink()        # gone already (a person with a shell, a bad stick)
    delete_call(db, data, b["id"], reason="tidy")
    row = catalog.get_call(db, b["id"])
    assert row["status"] == "deleted" and row["sha256"] == b["sha256"]


@pytest.mark.parametrize("tampered", [
    "../../etc/passwd", "/etc/passwd", "../outside.txt", "{outside}", "recordings/../hookline.db",
    "recordings/../../outside.txt", "recordings", "recordings/2026", "recordings/link-out.mp3",
])
def test_a_tampered_path_never_deletes_anything_outside_recordings(box, tampered):
    data, db, calls = box
    a = calls["a"]
    outside = data.parent / "outside.txt"
    outside.write_text("not a recording")
    (data / "recordings" / "link-out.mp3").symlink_to(outside)
    before_passwd = Path("/etc/passwd").read_bytes()
    path = tampered.format(outside=outside)
    with dbmod.immediate(db):
        db.execute("UPDATE calls SET path = ? WHERE id = ?", [path, a["id"]])
    with pytest.raises(RemovalError, match="nothing deleted"):
        delete_call(db, data, a["id"], reason="x")
    assert outside.read_text() == "not a recording"
    assert (data / "hookline.db").is_file() and (data / "recordings" / "2026").is_dir()
    assert (data / "recordings" / "link-out.mp3").is_symlink()
    assert Path("/etc/passwd").read_bytes() == before_passwd
    assert (data / a["path"]).is_file(), "the real file is untouched too"
    row = catalog.get_call(db, a["id"])
    assert row["status"] == "complete" and row["path"] == path
    assert events_of(db, a["id"]) == []


def test_hold_and_note(box):
    data, db, calls = box
    a, b = calls["a"], calls["b"]
    assert set_hold(db, a["id"], True)["held"] == 1
    assert catalog.get_call(db, a["id"])["held"] == 1
    assert {r["id"]: r["held"] for r in st.calls(data)}[a["id"]] is True
    set_note(db, a["id"], "  Customer asked for a refund.\r\nSee\tticket 42.  ")
    assert catalog.get_call(db, a["id"])["note"] == "Customer asked for a refund.\nSee\tticket 42."
    set_note(db, a["id"], "   ")
    assert catalog.get_call(db, a["id"])["note"] is None
    set_note(db, a["id"], "ünïcødé ✓ " + "x" * (NOTE_MAX_CHARS - 10))
    assert len(catalog.get_call(db, a["id"])["note"]) == NOTE_MAX_CHARS
    with pytest.raises(RemovalError, match=f"at most {NOTE_MAX_CHARS}"):
        set_note(db, a["id"], "x" * (NOTE_MAX_CHARS + 1))
    for bad in ("bell\x07", "nul\x00", "esc\x1b[31m", "del\x7f here", "c1\x85 here", "sep\x1c here"):
        with pytest.raises(RemovalError, match="control character"):
            set_note(db, a["id"], bad)
    assert catalog.get_call(db, a["id"])["note"].startswith("ünïcødé"), "a refused note changes nothing"
    set_note(db, a["id"], None)
    assert catalog.get_call(db, a["id"])["note"] is None
    for fn, args in ((set_hold, (True,)), (set_note, ("hello",))):
        with pytest.raises(RemovalError, match="no call"):
            fn(db, "0123456789", *args)
    delete_call(db, data, b["id"], reason="x")
    with pytest.raises(RemovalError, match="deleted"):
        set_hold(db, b["id"], True)
    with pytest.raises(RemovalError, match="deleted"):
        set_note(db, b["id"], "too late")
    assert RemovalError.__mro__[1] is ValueError


def test_a_hold_set_from_another_connection_is_seen(box):
    """delete_call re-reads the row inside its write transaction: a hold the web page set a
    moment before (its own connection) stops it."""
    data, db, calls = box
    other = dbmod.connect(data)
    try:
        set_hold(other, calls["a"]["id"], True)
    finally:
        other.close()
    with pytest.raises(RemovalError, match="on hold"):
        delete_call(db, data, calls["a"]["id"], reason="x")
    assert os.path.isfile(data / calls["a"]["path"])
