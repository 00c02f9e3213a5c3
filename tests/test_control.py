"""The command channel to the running recorder (appliance/control.py): a Unix socket, one JSON
request and one answer; it answers well within 250 ms, and a client finding nobody there fails
at once saying the recorder is not running. Then the real daemon, on simulated hardware."""
from __future__ import annotations

import json
import socket
import stat
import time

import pytest

import simtools as st
from appliance import control
from appliance.sim import runner, scenario as scenariomod


@pytest.fixture
def sock_path(tmp_path):
    return tmp_path / "run" / control.SOCKET_NAME


def test_nobody_listening_fails_at_once_with_a_clear_message(sock_path):
    started = time.monotonic()
    with pytest.raises(control.ControlError) as caught:
        control.ask(sock_path, "status")
    assert time.monotonic() - started < 0.1
    assert str(caught.value) == f"the recorder is not running (nothing answers at {sock_path})"


def test_commands_are_answered_quickly_and_bad_ones_clearly(sock_path):
    calls = []
    server = control.ControlServer(sock_path, {"status": lambda request: calls.append(request) or {"lines": []},
                                               "broken": lambda request: 1 / 0})
    assert server.start()
    try:
        assert stat.S_IMODE(sock_path.stat().st_mode) == 0o660
        started = time.monotonic()
        assert control.ask(sock_path, "status", line=2) == {"lines": []}
        assert time.monotonic() - started < 0.25
        assert calls == [{"command": "status", "line": 2}]
        with pytest.raises(control.ControlError, match=r"unknown command 'nope' \(known: broken, status\)"):
            control.ask(sock_path, "nope")
        with pytest.raises(control.ControlError, match="broken failed: division by zero"):
            control.ask(sock_path, "broken")
        with socket.socket(socket.AF_UNIX) as raw:            # garbage gets an answer, not a hang
            raw.settimeout(2)
            raw.connect(str(sock_path))
            raw.sendall(b"\xff not json\n")
            assert b'"ok": false' in raw.recv(4096)
        assert control.ask(sock_path, "status") == {"lines": []}, "the channel survives all of that"
    finally:
        server.stop()
    assert not sock_path.exists()


def test_a_stale_socket_is_replaced_and_a_live_one_is_not(sock_path):
    sock_path.parent.mkdir()
    with socket.socket(socket.AF_UNIX) as dead:           # a recorder that died left its socket
        dead.bind(str(sock_path))
    first = control.ControlServer(sock_path, {"status": lambda request: "first"})
    assert first.start()
    try:
        second = control.ControlServer(sock_path, {"status": lambda request: "second"})
        assert not second.start(), "a live recorder's socket is never taken over"
        assert control.ask(sock_path, "status") == "first"
    finally:
        first.stop()


SCENARIO = """
[appliance]
start = "2026-03-15T14:12:00Z"

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
far = "tone:1000@-12"
"""


def test_the_running_recorder_answers_with_its_live_lines(tmp_path):
    sc = scenariomod.load(st.write_scenario(tmp_path, SCENARIO))
    daemon, hw = runner.build_daemon(sc, tmp_path / "data", realtime=True)
    path = control.socket_path(daemon.status_file)
    hw.start()
    daemon.start()
    try:
        deadline = time.monotonic() + 10
        while True:
            status = control.ask(path, "status")
            if status["lines"][0]["state"] == "recording" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert [line["line"] for line in status["lines"]] == [1, 2]
        assert status["lines"][0]["state"] == "recording" and status["lines"][1]["state"] == "idle"
        assert status["running"] is True
    finally:
        hw.stop()
        daemon.stop()
    with pytest.raises(control.ControlError, match="not running"):
        control.ask(path, "status")


@pytest.mark.slow
def test_hookline_status_asks_the_running_recorder(tmp_path):
    scenario = st.write_scenario(tmp_path, SCENARIO.replace("talk = 3.0", "talk = 6.0"))
    data = tmp_path / "data"
    started = time.monotonic()
    stopped = st.run("status", "--data", data)
    assert stopped.returncode == 1 and time.monotonic() - started < 5
    assert "the recorder is not running" in stopped.stderr
    proc = st.start("simulate", scenario, "--data", data, "--speed", "realtime")
    try:
        deadline = time.monotonic() + 20
        while True:
            answer = st.run("status", "--data", data)
            if "recording" in answer.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        rows = answer.stdout.splitlines()
        assert answer.returncode == 0 and rows[0].split() == ["LINE", "NAME", "STATE", "IN", "CALL", "OFFICE", "LEVEL",
                                                              "LINE", "LEVEL", "PROBLEM"]
        assert rows[1].split()[:4] == ["1", "Line", "1", "recording"] and " s " in rows[1]
        assert rows[2].split()[:4] == ["2", "Line", "2", "idle"]
        # A line renamed while the recorder runs is called by its new name within a second or so.
        st.check("settings", "set", "name", "Warehouse", "--line", "2", "--data", data)
        deadline = time.monotonic() + 5
        while "Warehouse" not in answer.stdout and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = st.run("status", "--data", data)
        assert answer.stdout.splitlines()[2].split()[:3] == ["2", "Warehouse", "idle"], answer.stdout
        as_json = st.run("status", "--data", data, "--json")
        assert [line["line"] for line in json.loads(as_json.stdout)["lines"]] == [1, 2]
    finally:
        proc.wait(60)
    assert proc.returncode == 0
