"""After an unclean stop the recorder runs the store check (without repair) by itself, while it
records, and reports what it found as one warning event; after a clean stop it does not."""
from __future__ import annotations

import threading

import pytest

import simtools as st
from appliance import after_crash
from appliance.sim import runner, scenario as scenariomod
from test_retention import office
from test_store_check import data, template  # noqa: F401  (fixtures: a box with four recorded calls)


def start_recorder(tmp_path, folder):
    # One call, far in the scenario's future: the recorder is up and idle while the check runs.
    sc = scenariomod.load(st.write_scenario(tmp_path, office("2026-11-21T10:00:00Z", [2.0])
                                            .replace("at = 0.5", "at = 600.0"), name="live.toml"))
    daemon, hw = runner.build_daemon(sc, folder, realtime=True)
    hw.start()
    daemon.start()
    return daemon, hw


def store_warnings(folder) -> list[dict]:
    return [e for e in st.events(folder) if e["kind"] == "warning" and e["detail"].get("code") == "store-check"]


def test_after_an_unclean_stop_the_recorder_checks_the_store_and_says_what_it_found(tmp_path, data):  # noqa: F811
    gone = st.calls(data)[0]
    (data / gone["path"]).unlink()
    (data / after_crash.MARKER).write_text("4242\n")        # as a crash or a power cut leaves it
    daemon, hw = start_recorder(tmp_path, data)
    try:
        assert daemon._store_check is not None
        daemon._store_check.join(30)
        assert not daemon._store_check.is_alive()
        assert all(line.is_alive() for line in daemon.lines), "the lines record while the check runs"
    finally:
        hw.stop()
        daemon.stop()
    [warning] = store_warnings(data)
    assert warning["detail"]["findings"] == {"no-file": 1}
    assert {r["id"]: r["status"] for r in st.calls(data)}[gone["id"]] == "complete", "no repair by itself"
    assert "the check of the recordings found: 1 recording is missing its file" in \
        st.check("events", "--data", data).stdout
    assert not (data / after_crash.MARKER).exists(), "a clean stop takes the marker away"

    daemon, hw = start_recorder(tmp_path, data)             # after that clean stop: no check
    try:
        assert daemon._store_check is None
        assert (data / after_crash.MARKER).is_file()
    finally:
        hw.stop()
        daemon.stop()
    assert len(store_warnings(data)) == 1


@pytest.mark.parametrize("damage", ["none", "quarantine"])
def test_the_check_after_a_crash_writes_a_warning_only_when_it_finds_something(data, damage):  # noqa: F811
    if damage == "quarantine":
        (data / "quarantine").mkdir()
        (data / "quarantine" / "abc.mp3.part").write_bytes(b"\x00" * 100)
    report = after_crash.check_and_report(data, 1_800_000_000.0)
    assert len(report.findings) == (damage != "none")
    assert len(store_warnings(data)) == (damage != "none")


def test_a_clean_stop_before_the_check_ends_leaves_the_marker_so_the_next_start_checks_again(
        tmp_path, data, monkeypatch):  # noqa: F811
    release = threading.Event()
    monkeypatch.setattr(after_crash, "check_and_report", lambda data_dir, now: release.wait(30))
    (data / after_crash.MARKER).write_text("4242\n")
    daemon, hw = start_recorder(tmp_path, data)
    try:
        assert daemon._store_check.is_alive()
    finally:
        hw.stop()
        daemon.stop()
        release.set()
    assert (data / after_crash.MARKER).is_file()
