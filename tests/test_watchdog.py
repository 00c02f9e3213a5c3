"""systemd's notify protocol and watchdog, as systemd sees them: the box's own `hookline run`
talks to a real Unix datagram socket this test binds (NOTIFY_SOCKET, WATCHDOG_USEC set as
systemd sets them). Each line's capture PCM is the simulator's unpluggable ALSA plugin on a FIFO
the test feeds in real time; a line whose feed stops (the FIFO still open, so its ALSA read just
blocks, as on a hung interface) must stop the pings, leave its reason behind, and the next start
must log it as an event that says why.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest

import simtools as st
from appliance.notify import Notifier
from appliance.present.events import sentence
from appliance.sim import unpluggable
from appliance.sim.devices import ALSA_BASE_CONFIG
from appliance.store import catalog, db as dbmod
from appliance.store.kinds import Event
from appliance.watchdog import REASON_FILE, log_last_restart

WATCHDOG_S = 1.0
RATE = 8000
CHUNK_S = 0.05          # the test's "sound card" delivers this much at a time, in real time

BOX = """
data_dir = "{data}"
status_file = "{data}/run/status.json"

[[line]]
id = 1
capture = "hookline_wd_line1"
[line.offhook]
pin = 17

[[line]]
id = 2
capture = "hookline_wd_line2"
[line.offhook]
pin = 27
"""


class Feeds:
    """Silence into each line's FIFO at the pace of a sound card; `stall(n)` stops line n's feed
    but keeps its FIFO open, so the recorder's read of that line blocks and never fails."""

    def __init__(self, fifos: dict[int, os.PathLike]) -> None:
        # O_RDWR: open at once (no reader needed yet) and never an end-of-file for the reader.
        self.fds = {n: os.open(path, os.O_RDWR) for n, path in fifos.items()}
        self.stalled: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stall(self, line: int) -> None:
        self.stalled.add(line)

    def _run(self) -> None:
        chunk = bytes(int(RATE * CHUNK_S) * 4)      # stereo S16_LE silence
        while not self._stop.wait(CHUNK_S):         # the card's clock, not a synchronisation
            for line, fd in self.fds.items():
                if line not in self.stalled:
                    os.write(fd, chunk)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for fd in self.fds.values():
            os.close(fd)


class Systemd:
    """The notify socket's receiving end: every message with when it came."""

    def __init__(self, path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.path = path
        self.got: list[tuple[float, list[str]]] = []

    def next(self, timeout: float) -> list[str] | None:
        self.sock.settimeout(timeout)
        try:
            fields = self.sock.recv(4096).decode().split("\n")
        except TimeoutError:
            return None
        self.got.append((time.monotonic(), fields))
        return fields

    def until(self, wanted, timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            fields = self.next(max(0.01, deadline - time.monotonic()))
            if fields and wanted(fields):
                return fields
            assert time.monotonic() < deadline, f"not within {timeout} s; got {self.got[-5:]}"

    def pending(self) -> list[list[str]]:
        """What came so far, without waiting."""
        said = []
        while (fields := self.next(0.001)) is not None:
            said.append(fields)
        return said

    def pings_since(self, since: float) -> list[float]:
        return [at for at, fields in self.got if at >= since and "WATCHDOG=1" in fields]


@pytest.fixture
def box(tmp_path):
    fifos = {n: tmp_path / f"line{n}.fifo" for n in (1, 2)}
    for path in fifos.values():
        os.mkfifo(path)
    conf = tmp_path / "asound.conf"
    conf.write_text("\n".join(unpluggable.alsa_config({f"hookline_wd_line{n}": p for n, p in fifos.items()},
                                                      RATE, lambda p: json.dumps(str(p)))) + "\n")
    config = tmp_path / "hookline.toml"
    config.write_text(BOX.format(data=tmp_path / "data"))
    feeds = Feeds(fifos)
    systemd = Systemd(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6)),
           "ALSA_CONFIG_PATH": f"{ALSA_BASE_CONFIG}:{conf}"}
    yield config, tmp_path / "data", feeds, systemd, env
    feeds.close()
    systemd.sock.close()


def _events(data, line: int) -> str:
    return st.check("events", "--data", data, "--line", str(line)).stdout


@pytest.mark.slow
def test_a_hung_line_stops_the_pings_and_the_next_start_says_why(box):
    config, data, feeds, systemd, env = box
    recorder = st.start_recorder(config, **env)
    try:
        # Started, lines open, but no audio has come yet: not ready.
        st.await_status(recorder, "--config", config, until=lambda lines: len(lines) == 2)
        assert not [f for f in systemd.pending() if "READY=1" in f]
        feeds.start()
        systemd.until(lambda f: "READY=1" in f)
        lines = st.run("status", "--config", config, "--json", check=True)
        assert all(line["stream_s"] > 0 for line in json.loads(lines.stdout)["lines"]), lines.stdout
        status = systemd.until(lambda f: any(x.startswith("STATUS=") for x in f))
        assert status == ["STATUS=listening on 2 lines"]

        # Healthy: a ping every half interval.
        healthy_from = time.monotonic()
        while len(systemd.pings_since(healthy_from)) < 6:
            assert systemd.next(WATCHDOG_S) is not None, "the pings stopped while every line was reading"
        gaps = [b - a for a, b in zip(systemd.pings_since(healthy_from), systemd.pings_since(healthy_from)[1:])]
        assert 0.4 * WATCHDOG_S <= statistics.median(gaps) <= 0.6 * WATCHDOG_S, gaps
        assert max(gaps) < WATCHDOG_S, gaps

        # Line 2's interface stops delivering: its read blocks, the pings stop, the reason stays.
        feeds.stall(2)
        stalled_at = time.monotonic()
        said = systemd.until(lambda f: any(x.startswith("STATUS=line") for x in f), timeout=10)
        assert said[0].startswith("STATUS=line 2 has read no audio for "), said
        gave_up = time.monotonic()
        assert gave_up - stalled_at < 3 * WATCHDOG_S
        assert systemd.next(2 * WATCHDOG_S) is None, "a ping came after the line hung"
        assert recorder.poll() is None        # alive: killing it is systemd's job
        reason = json.loads((data / REASON_FILE).read_text())
        assert reason["line"] == 2 and reason["silent_s"] >= WATCHDOG_S and reason["thread"] == "running"
    finally:
        recorder.kill()                       # as systemd does after WatchdogSec without a ping
        recorder.communicate(timeout=20)

    # Restarted (line 2 delivers again): ready, pinging, and the event log says why.
    feeds.stalled.clear()
    recorder = st.start_recorder(config, **env)
    try:
        systemd.until(lambda f: "READY=1" in f)
        systemd.until(lambda f: "WATCHDOG=1" in f)
        assert not (data / REASON_FILE).exists()
        assert "The recorder was restarted: the audio interface had sent nothing for" in _events(data, 2)
        assert "restarted" not in _events(data, 1)
        recorder.send_signal(signal.SIGTERM)
        systemd.until(lambda f: "STOPPING=1" in f)
        recorder.communicate(timeout=20)
        assert recorder.returncode == 0
    finally:
        recorder.kill()
    db = dbmod.connect(data)
    [event] = [e for e in catalog.list_events(db, line=2) if e["kind"] == Event.WATCHDOG]
    db.close()
    assert event["detail"]["silent_s"] >= WATCHDOG_S and event["detail"]["device"] == "hookline_wd_line2"


@pytest.mark.slow
def test_a_box_with_an_unplugged_interface_starts_and_stays_pinged(box, tmp_path):
    """A missing device is retried (waits of 1, 2, 4 s, longer than the watchdog's interval):
    the line is alive, so the recorder is ready and the pings go on; STATUS says which line."""
    config, data, feeds, systemd, env = box
    config.write_text(config.read_text().replace("hookline_wd_line2", "hookline_wd_not_plugged_in"))
    feeds.stall(2)          # nobody reads its FIFO: a full pipe would block the feed of line 1 too
    feeds.start()
    recorder = st.start_recorder(config, **env)
    try:
        systemd.until(lambda f: "READY=1" in f)
        status = systemd.until(lambda f: any(x.startswith("STATUS=") for x in f))
        assert status == ["STATUS=listening on 2 lines; no audio interface on line 2 (retrying)"]
        since = time.monotonic()
        while time.monotonic() - since < 4 * WATCHDOG_S:     # through the 1 s and 2 s retry waits
            assert systemd.next(WATCHDOG_S) is not None, f"the pings stopped while line 2 was retrying: {systemd.got}"
        assert len(systemd.pings_since(since)) >= 7
        recorder.send_signal(signal.SIGTERM)
        assert systemd.until(lambda f: "STOPPING=1" in f)[0] == "STOPPING=1"
        recorder.communicate(timeout=20)
    finally:
        recorder.kill()
    assert not (data / REASON_FILE).exists()


def test_no_watchdog_outside_systemd_or_for_another_process(tmp_path):
    env = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    notifier = Notifier(env)
    assert notifier.watchdog_s is None and env == {}      # read once, gone from the environment
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_s == 30.0
    assert Notifier({"WATCHDOG_USEC": "x"}).watchdog_s is None
    nowhere = Notifier({})
    assert nowhere.address is None and nowhere.send("READY=1") is False


def test_an_abstract_notify_socket_is_reached(tmp_path):
    name = f"hookline-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).send("READY=1", "STATUS=listening on 1 line")
        assert sock.recv(4096) == b"READY=1\nSTATUS=listening on 1 line"
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert gone.send("WATCHDOG=1") is False and gone.send("WATCHDOG=1") is False    # no crash, said once


def test_an_unreadable_reason_is_dropped_not_logged(tmp_path):
    db = dbmod.connect(tmp_path)
    (tmp_path / REASON_FILE).write_text("{half a file")
    assert log_last_restart(db, tmp_path) is None
    assert not (tmp_path / REASON_FILE).exists()
    assert catalog.list_events(db) == []
    (tmp_path / REASON_FILE).write_text(json.dumps({"line": 3, "silent_s": 31.4, "at": 1.7e9, "device": "hw:1"}))
    assert log_last_restart(db, tmp_path) == {"line": 3, "silent_s": 31.4, "device": "hw:1", "thread": "running"}
    [event] = catalog.list_events(db, line=3)
    assert event["kind"] == Event.WATCHDOG and event["detail"]["silent_s"] == 31.4
    db.close()


@pytest.mark.parametrize("result", ["watchdog", "signal", "exit-code", "success"])
def test_a_recorder_the_watchdog_killed_whole_is_logged_at_the_next_start(tmp_path, result):
    """The unit's ExecStopPost, run as systemd runs it: only a watchdog kill leaves a reason, and a
    hung line's own reason is kept (it says more)."""
    config = tmp_path / "hookline.toml"
    config.write_text(BOX.format(data=tmp_path))
    env = {**st.clean_env(), "SERVICE_RESULT": result}
    done = subprocess.run([sys.executable, "-m", "appliance.watchdog_stopped", "--config", str(config)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / REASON_FILE).exists() == (result == "watchdog")
    db = dbmod.connect(tmp_path)
    said = log_last_restart(db, tmp_path)
    events = catalog.list_events(db)
    db.close()
    if result != "watchdog":
        assert said is None and events == []
        return
    [event] = events
    assert event["kind"] == Event.WATCHDOG and event["line"] is None
    assert sentence(event) == "The recorder was restarted: it had stopped responding (systemd's watchdog)"
    assert not (tmp_path / REASON_FILE).exists()


def test_a_hung_lines_own_reason_is_kept_by_the_stop_post(tmp_path):
    config = tmp_path / "hookline.toml"
    config.write_text(BOX.format(data=tmp_path))
    (tmp_path / REASON_FILE).write_text(json.dumps({"line": 2, "silent_s": 41.0, "at": 1.7e9, "device": "hw:1"}))
    subprocess.run([sys.executable, "-m", "appliance.watchdog_stopped", "--config", str(config)], check=True,
                   env={**st.clean_env(), "SERVICE_RESULT": "watchdog"}, capture_output=True, timeout=60)
    assert json.loads((tmp_path / REASON_FILE).read_text())["line"] == 2


@pytest.mark.parametrize("text", ["[]", "null", '"line 2"', '{"line": 1, "silent_s": 40, "at": NaN}',
                                  '{"line": 1, "silent_s": 40, "at": 1e400}', '{"process": "unresponsive", "at": 1e999}',
                                  '{"line": 1, "silent_s": NaN, "at": 1.7e9}', '{"line": 1e400, "silent_s": 1, "at": 1.7e9}',
                                  '{"line": 100000000000000000000000, "silent_s": 1, "at": 1.7e9}'])
def test_a_reason_file_that_is_not_a_reason_never_stops_the_recorder_starting(tmp_path, text):
    """Whatever the file on the data disk holds, the start goes on: it is logged, removed, and no
    event is made up from it."""
    db = dbmod.connect(tmp_path)
    (tmp_path / REASON_FILE).write_text(text)
    assert log_last_restart(db, tmp_path) is None
    assert not (tmp_path / REASON_FILE).exists()
    assert catalog.list_events(db) == []
    db.close()
