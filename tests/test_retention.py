"""Retention (retention_days) and the disk guard (disk_reserve_pct), on calls the real daemon
recorded in simulated offices dated in the past: what goes, in which order, with which reason;
held calls stay; the guard on a real, small tmpfs; and the daemon sweeping by itself at start
and promptly after the setting changes."""
from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from pathlib import Path

import pytest

import simtools as st
from appliance import daemon as daemonmod
from appliance.sim import runner, scenario as scenariomod
from appliance.store import catalog, db as dbmod, peaks, retention, settings
from appliance.store.removal import set_hold

DAY = 86400.0
NOW = st.ts("2026-12-01T00:00:00Z")


def office(start: str, talks: list[float], line_count: int = 1) -> str:
    """A scenario dated `start` with one outbound call per talk time, 0.5 s apart, on line 1."""
    text = f'[appliance]\nstart = "{start}"\n'
    for i in range(1, line_count + 1):
        text += f'\n[[line]]\nid = {i}\noffhook = "gpio"\n'
    at = 0.5
    for talk in talks:
        text += (f'\n[[call]]\nline = 1\nat = {at}\ndirection = "outbound"\ntalk = {talk}\n'
                 'near = "tone:440@-12"\nfar = "noise@-30"\n')
        at += talk + 1.5
    return text


def record(tmp: Path, data: Path, start: str, talks: list[float]) -> list[dict]:
    """Simulate an office on `start` into data; returns the calls it added, oldest first."""
    before = {r["id"] for r in st.calls(data)} if (data / "hookline.db").exists() else set()
    name = f"s{len(list(tmp.glob('s*.toml')))}.toml"
    st.simulate(st.write_scenario(tmp, office(start, talks), name=name), data)
    return [r for r in st.calls(data) if r["id"] not in before]


def iso_days_ago(days: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * DAY))


def status(db, call_id: str) -> str:
    return catalog.get_call(db, call_id)["status"]


def reasons(db, call_id: str) -> list[str]:
    return [e["detail"]["reason"] for e in catalog.list_events(db, call_id=call_id) if e["kind"] == "deleted"]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict[str, list[dict]]]:
    """Calls from January (three kept, one too short: discarded), June and late November."""
    base = tmp_path_factory.mktemp("retention")
    data = base / "data"
    made = {
        "jan": record(base, data, "2026-01-10T10:00:00Z", [3.0, 3.0, 3.0, 1.0]),
        "jun": record(base, data, "2026-06-01T10:00:00Z", [3.0]),
        "nov": record(base, data, "2026-11-20T10:00:00Z", [3.0]),
    }
    assert [r["status"] for r in made["jan"]] == ["complete"] * 3 + ["discarded"]
    return data, made


@pytest.fixture
def box(template, tmp_path):
    src, made = template
    data = tmp_path / "data"
    shutil.copytree(src, data, ignore=shutil.ignore_patterns("sim", "run"))
    db = dbmod.connect(data)
    yield data, db, made
    db.close()


def frac(fraction: float, total: int = 10**12):
    """A disk of `total` bytes with this fraction free, whatever is deleted."""
    return lambda: (int(fraction * total), total)


def mp3_count(data: Path) -> int:
    return len(list((data / "recordings").rglob("*.mp3")))


@pytest.mark.parametrize("batch", [200, 2], ids=["one batch", "batches of two"])
def test_retention_deletes_what_is_older_than_the_limit_except_held_calls(box, batch, monkeypatch):
    monkeypatch.setattr(retention.rules, "BATCH", batch)
    data, db, made = box
    jan, jun, nov = made["jan"], made["jun"], made["nov"]
    held = jan[1]
    set_hold(db, held["id"], True)
    # a crashed call not recovered yet is never touched, however old
    catalog.create_call(db, {"id": "c0ffee0001", "line": 1, "started_at": "2026-01-01T00:00:00.000Z",
                             "status": "recording", "spool_path": "spool/c0ffee0001.mp3.part"})

    assert retention.sweep(db, data, {"retention_days": 0, "disk_reserve_pct": 5}, NOW, frac(0.5)) == []
    assert mp3_count(data) == 5, "0 days: keep forever"

    deleted = retention.sweep(db, data, {"retention_days": 30, "disk_reserve_pct": 5}, NOW, frac(0.5))
    assert deleted == [jan[0]["id"], jan[2]["id"], jan[3]["id"], jun[0]["id"]], "oldest first, held skipped"
    for row in (jan[0], jan[2], jun[0]):
        assert not (data / row["path"]).exists()
        after = catalog.get_call(db, row["id"])
        assert after["status"] == "deleted" and after["path"] is None and after["sha256"] == row["sha256"]
        assert peaks.load_peaks(db, row["id"]) is None
        assert reasons(db, row["id"]) == ["retention: older than 30 days"]
    assert status(db, jan[3]["id"]) == "deleted", "a discarded call's row goes the same way"
    for row in (held, nov[0]):
        assert status(db, row["id"]) == "complete" and (data / row["path"]).is_file()
        assert reasons(db, row["id"]) == []
    assert status(db, "c0ffee0001") == "recording"

    assert retention.sweep(db, data, {"retention_days": 30, "disk_reserve_pct": 5}, NOW, frac(0.5)) == []
    # 5 days: late November goes too, the held call still stays
    assert retention.sweep(db, data, {"retention_days": 5, "disk_reserve_pct": 5}, NOW, frac(0.5)) == [nov[0]["id"]]
    assert status(db, held["id"]) == "complete"


@pytest.mark.parametrize("batch", [200, 1], ids=["one batch", "batches of one"])
def test_disk_guard_deletes_the_oldest_until_free_space_is_back(box, batch, monkeypatch):
    monkeypatch.setattr(retention.rules, "BATCH", batch)
    data, db, made = box
    jan, jun, nov = made["jan"], made["jun"], made["nov"]
    set_hold(db, jan[0]["id"], True)
    size = jan[1]["size_bytes"]
    total = int(1.5 * size / 0.04)       # 1 % free: 1.5 recordings short of the 5 % floor
    seen = []

    def free() -> tuple[int, int]:     # each deleted recording frees its size
        seen.append(mp3_count(data))
        gone = sum(r["size_bytes"] for r in (*jan[:3], *jun, *nov) if not (data / r["path"]).exists())
        return int(0.01 * total) + gone, total

    deleted = retention.sweep(db, data, {"retention_days": 0, "disk_reserve_pct": 5}, NOW, free)
    assert deleted == [jan[1]["id"], jan[2]["id"]], "the two oldest that are not held"
    assert seen == ([5, 3] if batch > 1 else [5, 4, 3]), "space is checked again after every batch"
    for row in (jan[1], jan[2]):
        assert reasons(db, row["id"]) == ["disk guard: free space below 5%"]
        assert not (data / row["path"]).exists()
    for row in (jan[0], jun[0], nov[0]):
        assert status(db, row["id"]) == "complete" and (data / row["path"]).is_file()
    assert status(db, jan[3]["id"]) == "discarded", "no file, no space to win: left alone"
    assert [e for e in catalog.list_events(db) if e["kind"] == "warning"] == []


def test_disk_guard_with_only_held_calls_left_warns_once_an_hour(box):
    data, db, made = box
    jan, jun, nov = made["jan"], made["jun"], made["nov"]
    set_hold(db, jun[0]["id"], True)
    full = {"retention_days": 0, "disk_reserve_pct": 10}
    deleted = retention.sweep(db, data, full, NOW, frac(0.02))
    assert deleted == [jan[0]["id"], jan[1]["id"], jan[2]["id"], nov[0]["id"]]
    assert status(db, jun[0]["id"]) == "complete" and (data / jun[0]["path"]).is_file()

    def warnings():
        return [e for e in catalog.list_events(db) if e["kind"] == "warning"]

    [warning] = warnings()
    assert warning["line"] is None and warning["call_id"] is None
    assert "nearly full" in warning["detail"]["message"] and "on hold" in warning["detail"]["message"]
    assert warning["detail"]["reserve_pct"] == 10 and warning["detail"]["held_recordings"] == 1
    assert retention.sweep(db, data, full, NOW + 60, frac(0.02)) == []
    assert retention.sweep(db, data, full, NOW + 3000, frac(0.02)) == []
    assert len(warnings()) == 1, "not more than once an hour"
    retention.sweep(db, data, full, NOW + 3700, frac(0.02))
    assert len(warnings()) == 2
    assert status(db, jun[0]["id"]) == "complete"


def test_a_tampered_row_is_skipped_and_the_sweep_goes_on(box, tmp_path):
    data, db, made = box
    jan = made["jan"]
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    for path in (str(victim), f"../{victim.name}", "../../../../../../etc/passwd"):
        with dbmod.immediate(db):
            db.execute("UPDATE calls SET path = ? WHERE id = ?", [path, jan[0]["id"]])
        deleted = retention.sweep(db, data, {"retention_days": 30, "disk_reserve_pct": 5}, NOW, frac(0.01))
        assert jan[0]["id"] not in deleted
        assert victim.read_text() == "keep me" and Path("/etc/passwd").exists()
        assert status(db, jan[0]["id"]) == "complete"
    assert status(db, made["nov"][0]["id"]) == "deleted", "the guard went on past the refused call"


# -- a real, small disk ----------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    with st.small_tmpfs(tmp_path / "disk", "2m") as mnt:
        yield mnt


def ballast(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.write(b"\0" * size)
        f.flush()


def test_disk_guard_on_a_real_small_disk(tmp_path, small_disk):
    made = tmp_path / "made"
    rows = record(tmp_path, made, "2026-02-01T08:00:00Z", [15.0] * 5)
    assert all(r["status"] == "complete" for r in rows) and rows[0]["size_bytes"] > 60_000
    data = small_disk / "data"
    # Not the recorder's reserve for the catalog (recording/room.py): it belongs to the disk it was made on.
    shutil.copytree(made, data, ignore=shutil.ignore_patterns("sim", "run", ".catalog-reserve"))
    db = dbmod.connect(data)
    try:
        held = rows[-1]                       # the newest is on hold
        set_hold(db, held["id"], True)
        total = shutil.disk_usage(data).total
        reserve_pct = 30
        # Fill the disk (outside recordings/) until about 1.5 recordings short of the reserve.
        short_by = int(1.5 * rows[0]["size_bytes"])
        ballast(small_disk / "ballast", shutil.disk_usage(data).free - (int(reserve_pct / 100 * total) - short_by))
        assert retention.free_fraction_of(data) < reserve_pct / 100
        # The dry run's estimate (from the files' sizes) names the same oldest calls, deleting nothing.
        planned = [call_id for call_id, _ in retention.plan(db, data, {"retention_days": 0,
                                                                        "disk_reserve_pct": reserve_pct}, NOW)]
        assert all((data / r["path"]).is_file() for r in rows)
        deleted = retention.sweep(db, data, {"retention_days": 0, "disk_reserve_pct": reserve_pct}, NOW)
        assert planned and abs(len(planned) - len(deleted)) <= 1
        assert planned[:len(deleted)] == deleted[:len(planned)]
        assert retention.free_fraction_of(data) >= reserve_pct / 100
        assert 2 <= len(deleted) <= 3, deleted
        assert deleted == [r["id"] for r in rows[:len(deleted)]], "oldest first"
        for row in rows[:len(deleted)]:
            assert not (data / row["path"]).exists()
            assert reasons(db, row["id"]) == [f"disk guard: free space below {reserve_pct}%"]
        for row in rows[len(deleted):]:
            assert (data / row["path"]).is_file() and status(db, row["id"]) == "complete"
        assert [e for e in catalog.list_events(db) if e["kind"] == "warning"] == []

        # Now something else fills the disk: everything not held goes, the held call stays, one warning.
        ballast(small_disk / "ballast2", int(0.9 * shutil.disk_usage(data).free))
        left = [r["id"] for r in rows[len(deleted):-1]]
        assert left
        assert retention.sweep(db, data, {"retention_days": 0, "disk_reserve_pct": reserve_pct}, NOW) == left
        assert [r["id"] for r in rows if status(db, r["id"]) != "deleted"] == [held["id"]]
        assert (data / held["path"]).is_file()
        [warning] = [e for e in catalog.list_events(db) if e["kind"] == "warning"]
        assert warning["line"] is None and "on hold" in warning["detail"]["message"]
    finally:
        db.close()


# -- the daemon does it by itself ------------------------------------------------------------------
def test_the_daemon_sweeps_at_start_and_promptly_after_the_setting_changes(tmp_path):
    data = tmp_path / "data"
    old = record(tmp_path, data, iso_days_ago(300), [3.0, 3.0])
    recent = record(tmp_path, data, iso_days_ago(60), [3.0])
    db = dbmod.connect(data)
    set_hold(db, old[1]["id"], True)
    settings.set_value(db, "retention_days", 200)
    db.close()

    now_iso = iso_days_ago(0)
    sc = scenariomod.load(st.write_scenario(tmp_path, office(now_iso, [2.0]).replace("at = 0.5", "at = 20.0"),
                                            name="live.toml"))
    daemon, hw = runner.build_daemon(sc, data, realtime=True)
    hw.start()
    daemon.start()
    db = dbmod.connect(data)
    try:
        deadline = time.monotonic() + 10
        while status(db, old[0]["id"]) != "deleted":
            assert time.monotonic() < deadline, "the sweep at start did not delete the 300-day-old call"
            time.sleep(0.1)
        assert reasons(db, old[0]["id"]) == ["retention: older than 200 days"]
        assert not (data / old[0]["path"]).exists()
        assert status(db, recent[0]["id"]) == "complete"

        settings.set_value(db, "retention_days", 30)     # as the web page does: a row in SQLite
        changed = time.monotonic()
        while status(db, recent[0]["id"]) != "deleted":
            assert time.monotonic() - changed < 5, "the setting change did not trigger a sweep"
            time.sleep(0.1)
        assert reasons(db, recent[0]["id"]) == ["retention: older than 30 days"]
        assert status(db, old[1]["id"]) == "complete" and (data / old[1]["path"]).is_file(), "held"
        assert daemon._retention.is_alive() and all(line.is_alive() for line in daemon.lines), \
            "retention never runs on (or stops) a line thread"
    finally:
        db.close()
        hw.stop()
        daemon.stop()


def test_a_failing_sweep_is_logged_and_the_next_one_runs(tmp_path, monkeypatch, caplog):
    data = tmp_path / "data"
    sc = scenariomod.load(st.write_scenario(tmp_path, office("2026-03-15T09:00:00Z", [2.5])))
    calls = []
    real_sweep = retention.run

    def flaky(*args, **kw):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            raise OSError("disk on fire")
        return real_sweep(*args, **kw)

    monkeypatch.setattr(daemonmod.retention, "run", flaky)
    monkeypatch.setattr(daemonmod, "SWEEP_INTERVAL_S", 0.1)
    daemon, hw = runner.build_daemon(sc, data, realtime=False)
    caplog.set_level(logging.ERROR, logger="hookline.daemon")
    hw.start()
    daemon.start()
    try:
        deadline = time.monotonic() + 10
        while len(calls) < 3:
            assert time.monotonic() < deadline, calls
            time.sleep(0.05)
        assert daemon._retention.is_alive()
    finally:
        hw.stop()
        daemon.stop()
    assert set(calls) == {"retention"}
    assert any("retention sweep failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_retention_sweep_command_lists_then_applies_the_rules(box):
    data, db, made = box
    held = made["jan"][1]
    set_hold(db, held["id"], True)
    st.check("settings", "set", "retention_days", "30", "--data", data)
    expected = [made["jan"][0]["id"], made["jan"][2]["id"], made["jan"][3]["id"], made["jun"][0]["id"]]
    plan = json.loads(st.check("retention", "sweep", "--dry-run", "--json", "--data", data).stdout)
    assert plan["dry_run"] is True and plan["retention_days"] == 30
    assert [r["id"] for r in plan["would_delete"]] == expected
    assert {r["reason"] for r in plan["would_delete"]} == {"retention: older than 30 days"}
    assert mp3_count(data) == 5, "a dry run deletes nothing"
    done = json.loads(st.check("retention", "sweep", "--json", "--data", data).stdout)
    assert [r["id"] for r in done["deleted"]] == expected
    assert all(r["reason"] == "retention: older than 30 days" for r in done["deleted"])
    assert mp3_count(data) == 2 and status(db, held["id"]) == "complete"
    again = st.check("retention", "sweep", "--data", data)
    assert again.stdout == "" and "deleted 0 calls" in again.stderr
    bad = st.run("retention", "sweep", "--data", data / "nope")
    assert bad.returncode == 2 and "no catalog in" in st.one_error_line(bad)
