"""The retention rules added to the maximum age: the maximum age per line, the size cap, the
free-space floor in GB, when_full (stop-recording: the next simulated call is not recorded, with
its reason, and an alarm), the dry run rule by rule, and the warnings before a settings change
deletes calls (the settings page over real HTTP, `hookline settings set`)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import simtools as st
import webtools as wt
from appliance.store import catalog, db as dbmod, retention, settings, users
from appliance.store.removal import set_hold

pytestmark = pytest.mark.xdist_group("retention_rules")

DAY = 86400.0


def iso_days_ago(days: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * DAY))


def office(start: str, lines: list[int]) -> str:
    """Two lines; one 3-second outbound call per entry of `lines`, on that line, 6 s apart."""
    text = f'[appliance]\nstart = "{start}"\n'
    for i in (1, 2):
        text += f'\n[[line]]\nid = {i}\noffhook = "gpio"\n'
    for i, line in enumerate(lines):
        text += (f'\n[[call]]\nline = {line}\nat = {0.5 + 6 * i}\ndirection = "outbound"\ntalk = 3.0\n'
                 'near = "tone:440@-12"\nfar = "noise@-30"\n')
    return text


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """300 days ago: lines 1, 2, 1; 60 days ago: lines 1, 2; 2 days ago: line 1."""
    base = tmp_path_factory.mktemp("rules")
    data = base / "data"
    for n, (days, lines) in enumerate(((300, [1, 2, 1]), (60, [1, 2]), (2, [1]))):
        st.simulate(st.write_scenario(base, office(iso_days_ago(days), lines), name=f"s{n}.toml"), data)
    rows = st.calls(data)
    assert [r["status"] for r in rows] == ["complete"] * 6 and [r["line"] for r in rows] == [1, 2, 1, 1, 2, 1]
    db = dbmod.connect(data)
    try:
        users.create_user(db, "admin", "admin", wt.PASSWORDS["admin"])
    finally:
        db.close()
    return data, rows


@pytest.fixture
def box(template, tmp_path):
    src, rows = template
    data = tmp_path / "data"
    shutil.copytree(src, data, ignore=shutil.ignore_patterns("sim", "run"))
    db = dbmod.connect(data)
    yield data, db, rows
    db.close()


def status(db, row) -> str:
    return catalog.get_call(db, row["id"])["status"]


def reasons(db, row) -> list[str]:
    return [e["detail"]["reason"] for e in catalog.list_events(db, call_id=row["id"]) if e["kind"] == "deleted"]


ROOM = lambda: (10**12, 2 * 10**12)      # noqa: E731  a disk half free


def test_a_line_keeps_calls_for_its_own_maximum_age(box):
    data, db, rows = box
    settings.set_value(db, "retention_days", 200)
    settings.set_value(db, "line.2.retention_days", 30)
    values = settings.box_values(db)
    deleted = retention.sweep(db, data, values, time.time(), ROOM)
    assert deleted == [rows[1]["id"], rows[4]["id"], rows[0]["id"], rows[2]["id"]], \
        "line 2's own 30 days first, then the box's 200 days for line 1"
    assert reasons(db, rows[4]) == ["retention: older than 30 days"]
    assert reasons(db, rows[0]) == ["retention: older than 200 days"]
    assert status(db, rows[3]) == "complete" and (data / rows[3]["path"]).is_file(), "line 1: 60 days is young"
    assert status(db, rows[5]) == "complete"


def test_the_size_cap_deletes_the_oldest_until_the_recordings_fit(box):
    data, db, rows = box
    set_hold(db, rows[0]["id"], True)
    total = sum(r["size_bytes"] for r in rows)
    cap = total - rows[1]["size_bytes"] - rows[2]["size_bytes"] // 2      # two recordings too many (and a half)
    values = {**settings.box_values(db), "max_recordings_gb": cap / 1e9}
    outcome = retention.run(db, data, values, time.time(), disk=ROOM)
    assert outcome.ids == [rows[1]["id"], rows[2]["id"]], "the oldest not held, until under the cap"
    assert reasons(db, rows[1]) == [f"size cap: recordings above {cap / 1e9:g} GB"]
    effect = outcome.effects["size-cap"]
    assert effect.count == 2 and effect.bytes == rows[1]["size_bytes"] + rows[2]["size_bytes"]
    assert sum(r["size_bytes"] for r in rows if status(db, r) == "complete") <= cap
    assert retention.sweep(db, data, values, time.time(), ROOM) == [], "under the cap: nothing more"


def test_the_floor_in_gb_is_used_when_it_is_the_stricter(box):
    data, db, rows = box
    size = rows[0]["size_bytes"]
    total = 100 * size

    def disk() -> tuple[int, int]:      # 50 % free (above the 5 % floor), each deletion frees its size
        gone = sum(r["size_bytes"] for r in rows if not (data / r["path"]).exists())
        return 50 * size + gone, total

    values = {**settings.box_values(db), "disk_reserve_gb": 51.5 * size / 1e9}
    outcome = retention.run(db, data, values, time.time(), disk=disk)
    assert outcome.ids == [rows[0]["id"], rows[1]["id"]], "1.5 recordings short of the GB floor"
    assert reasons(db, rows[0]) == [f"disk guard: free space below 5% or {51.5 * size / 1e9:g} GB"]
    assert retention.run(db, data, {**values, "disk_reserve_gb": 0}, time.time(), disk=disk).ids == [], \
        "the percentage alone is met"


def test_the_dry_run_shows_each_rule_s_effect(box):
    data, db, rows = box
    st.check("settings", "set", "retention_days", "100", "--data", data)
    cap = sum(r["size_bytes"] for r in rows[3:]) - 1         # the three left after the maximum age: one too many
    st.check("settings", "set", "max_recordings_gb", f"{cap / 1e9}", "--data", data)
    dry = st.check("retention", "sweep", "--dry-run", "--json", "--data", data)
    plan = json.loads(dry.stdout)
    assert plan["rules"]["retention"]["count"] == 3 and plan["rules"]["size-cap"]["count"] == 1
    assert plan["rules"]["retention"]["bytes"] == sum(r["size_bytes"] for r in rows[:3])
    assert plan["rules"]["retention"]["oldest"] == rows[0]["started_at"]
    assert plan["rules"]["retention"]["newest"] == rows[2]["started_at"]
    assert plan["rules"]["size-cap"]["oldest"] == rows[3]["started_at"] and plan["rules"]["disk-guard"]["count"] == 0
    assert [r["id"] for r in plan["would_delete"]] == [r["id"] for r in rows[:4]]
    assert plan["max_recordings_gb"] == pytest.approx(cap / 1e9) and plan["stops_recording"] is None
    text = st.check("retention", "sweep", "--dry-run", "--data", data)
    assert "would delete 4 calls" in text.stderr
    assert re.search(r"maximum age \(retention_days\): 3 calls, \d+ KB, started \d{4}-\d\d-\d\d to", text.stderr)
    assert "size cap (max_recordings_gb): 1 call," in text.stderr
    assert "free-space floor (disk_reserve_pct, disk_reserve_gb): 0 calls" in text.stderr
    assert all((data / r["path"]).is_file() for r in rows), "a dry run deletes nothing"


def test_settings_set_warns_before_a_change_deletes_calls(box):
    data, db, rows = box
    proc = st.check("settings", "set", "line.2.retention_days", "30", "--data", data)
    day = time.strftime("%Y-%m-%d", time.gmtime(st.ts(rows[4]["started_at"]) + DAY))
    assert f"warning: this will delete 2 calls from before {day}" in proc.stderr
    quiet = st.check("settings", "set", "line.2.retention_days", "400", "--data", data)
    assert "warning" not in quiet.stderr
    st.check("settings", "set", "retention_days", "100", "--data", data)
    back = st.check("settings", "unset", "line.2.retention_days", "--data", data)
    assert "warning: this will delete 1 call from before" in back.stderr, "line 2 falls back to 100 days"


def test_the_settings_page_asks_before_a_change_deletes_calls(box):
    data, db, rows = box
    server = wt.start(data)
    try:
        admin = wt.login(server.base, "admin")
        asked = admin.post_form("/settings", {"box.retention_days": "100"})
        assert asked.status_code == 200
        day = time.strftime("%Y-%m-%d", time.gmtime(st.ts(rows[2]["started_at"]) + DAY))
        said = " ".join(re.sub(r"<[^>]+>", " ", asked.text).split())
        assert f"Nothing was saved yet. This will delete 3 calls from before {day} (maximum age: 3)" in said
        assert "Save and delete" in said
        assert settings.stored_value(db, "retention_days") is None and all(status(db, r) == "complete" for r in rows)
        confirm = wt.form_value(asked.text, "confirm_deletes")
        # The warning confirmed is for 100 days: 10 days (deleting more) is warned about again.
        more = admin.post_form("/settings", {"box.retention_days": "10", "confirm_deletes": confirm})
        assert more.status_code == 200 and "This will delete 5 calls" in " ".join(re.sub(r"<[^>]+>", " ", more.text).split())
        assert settings.stored_value(db, "retention_days") is None and all(status(db, r) == "complete" for r in rows)
        assert admin.post_form("/settings", {"box.retention_days": "100", "confirm_deletes": "1"}).status_code == 200
        kept = admin.post_form("/settings", {"box.retention_days": "100", "confirm_deletes": confirm})
        assert kept.status_code == 303 and settings.stored_value(db, "retention_days") == 100
        harmless = admin.post_form("/settings", {"box.retention_days": "1000"})
        assert harmless.status_code == 303, "a change that deletes nothing saves at once"
        clash = admin.post_form("/settings", {"box.retention_days": "10", "box.min_age_days": "20"})
        assert clash.status_code == 400 and "above the maximum age" in clash.text
        both = admin.post_form("/settings", {"box.retention_days": "2000", "box.min_age_days": "1500"})
        assert both.status_code == 303, "raising both together passes, whatever the order"
    finally:
        server.close()


# -- when the disk is full --------------------------------------------------------------------------
def test_when_full_stop_recording_drops_the_next_call_with_its_reason_and_an_alarm(tmp_path):
    with st.small_tmpfs(tmp_path / "disk", "4m") as mnt:
        data = mnt / "data"
        dbmod.connect(data).close()
        st.check("settings", "set", "when_full", "stop-recording", "--data", data)
        st.check("settings", "set", "disk_reserve_pct", "40", "--data", data)
        usage = shutil.disk_usage(data)
        with open(mnt / "ballast", "wb") as f:          # leave 30 % free, below the 40 % floor
            f.write(b"\0" * (usage.free - int(0.3 * usage.total)))
        scenario = st.write_scenario(tmp_path, office("2026-11-20T10:00:00Z", [1]))
        st.simulate(scenario, data)
        [call] = st.calls(data)
        assert call["status"] == "discarded" and call["path"] is None
        assert not list((data / "recordings").rglob("*.mp3")) if (data / "recordings").exists() else True
        [discard] = [e for e in st.events(data) if e["kind"] == "discard"]
        assert discard["detail"]["rule"] == "disk-full"
        assert discard["detail"]["reason"].startswith("not recorded: the disk is below its free-space floor (40%)")
        warnings = [e for e in st.events(data) if e["kind"] == "warning"]
        assert [w["detail"]["code"] for w in warnings] == ["recording-stopped"]
        assert "new calls are not recorded" in warnings[0]["detail"]["message"]
        shown = st.check("calls", "--data", data).stdout
        assert "discarded" in shown
        # The default, delete-oldest, goes on recording.
        st.check("settings", "set", "when_full", "delete-oldest", "--data", data)
        st.simulate(st.write_scenario(tmp_path, office("2026-11-20T11:00:00Z", [1]), name="again.toml"), data)
        assert [c["status"] for c in st.calls(data)] == ["discarded", "complete"]


# -- a sweep killed half-way ---------------------------------------------------------------------
SWEEP_CHILD = """
import sys, time
from appliance.store import db, retention
d = db.connect(sys.argv[1])
print("ready", flush=True)
retention.sweep(d, sys.argv[1], {"retention_days": 30}, time.time(), lambda: (1, 2))
"""


def _many_old_calls(data: Path, n: int) -> list[Path]:
    """n complete calls from a year ago, each with a small file and peaks, written straight into
    a new catalog (as bench_retention does, smaller)."""
    db = dbmod.connect(data)
    files = []
    try:
        with dbmod.immediate(db):
            for i in range(n):
                rel = f"recordings/2025/12/{1 + i % 28:02d}/old_{i:05d}.mp3"
                (data / rel).parent.mkdir(parents=True, exist_ok=True)
                (data / rel).write_bytes(b"\xff\xfb" + bytes(500))
                files.append(data / rel)
                db.execute("INSERT INTO calls (id, line, started_at, status, path, size_bytes, created_at) "
                           "VALUES (?, 1, ?, 'complete', ?, 502, ?)",
                           [f"old{i:07d}", f"2025-12-{1 + i % 28:02d}T10:00:00.000Z", rel, "2025-12-01T10:00:00.000Z"])
                db.execute("INSERT INTO call_peaks (call_id, per_s, near, far) VALUES (?, 10, x'00', x'00')",
                           [f"old{i:07d}"])
    finally:
        db.close()
    return files


@pytest.mark.parametrize("after_s", [0.02, 0.06, 0.12])
def test_a_sweep_killed_half_way_never_leaves_a_row_deleted_with_its_file_there(tmp_path, after_s):
    """SIGKILL at a few moments of a sweep of 6,000 calls (12 batches): whatever it hit (between
    batches, or between a batch's file removals and its commit), no row says deleted while its
    file is there, and the next sweep finishes the job with one event per call."""
    data = tmp_path / "data"
    files = _many_old_calls(data, 6000)
    child = subprocess.Popen([sys.executable, "-c", SWEEP_CHILD, str(data)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(after_s)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    db = dbmod.connect(data)
    try:
        rows = {r["id"]: r for r in catalog.list_calls(db)}
        deleted = {i for i, r in rows.items() if r["status"] == "deleted"}
        for i, path in enumerate(files):
            if f"old{i:07d}" in deleted:
                assert not path.exists(), "a row says deleted while its file is still there"
        # The next sweep completes the job: every call deleted once, with one event each, no file left.
        retention.sweep(db, data, {"retention_days": 30}, time.time(), lambda: (1, 2))
        assert all(r["status"] == "deleted" for r in catalog.list_calls(db))
        assert not any(path.exists() for path in files)
        events = [e for e in catalog.list_events(db) if e["kind"] == "deleted"]
        assert len(events) == len(files) and len({e["call_id"] for e in events}) == len(files)
    finally:
        db.close()
