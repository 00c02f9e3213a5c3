"""Serial hook and caller-ID sources (appliance/hook/serial/) through real ptys.

The test plays the device on the pty's master side: a voice modem that answers AT commands
(optionally echoing them, refusing some, or going silent), or a line-monitor board. Ports
that vanish and come back are a symlink repointed to a new pty, as udev's
/dev/serial/by-id/... link would be."""
from __future__ import annotations

import logging
import os
import random
import select
import threading
import time
import tty
from pathlib import Path

import pytest

from appliance.config import LineMonitorHook, ModemCallerId
from appliance.hook.base import HookEvent
from appliance.hook.serial import LineMonitorSource, ModemSource

IDENT = "Test voice modem CX93001"
INFO = "CX93001-EIS_V0.2002-V92"
FAST = dict(backoff_s=0.05, backoff_max_s=0.2)


class Events:
    """Thread-safe collector of posted HookEvents."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[HookEvent] = []
        self.times: list[float] = []

    def __call__(self, event: HookEvent) -> None:
        assert isinstance(event, HookEvent) and event.frame is None
        with self._lock:
            self._items.append(event)
            self.times.append(time.monotonic())

    @property
    def items(self) -> list[HookEvent]:
        with self._lock:
            return list(self._items)

    def of(self, kind: str) -> list[HookEvent]:
        return [e for e in self.items if e.kind == kind]

    def wait(self, kind: str, count: int = 1, timeout: float = 3.0) -> list[HookEvent]:
        deadline = time.monotonic() + timeout
        while len(self.of(kind)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"wanted {count} {kind!r} event(s), got {[(e.kind, e.detail) for e in self.items]}")
            time.sleep(0.005)
        return self.of(kind)


def wait_until(predicate, timeout: float = 3.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class Device:
    """The far end of a pty: answers AT commands like a modem (when modem=True) and sends lines."""

    def __init__(self, link: Path | None = None, *, modem: bool = True, echo: bool = False,
                 refuse: tuple[str, ...] = ()) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        if link is not None:
            tmp = link.with_name(link.name + ".new")
            tmp.unlink(missing_ok=True)
            os.symlink(self.path, tmp)
            os.replace(tmp, link)
            self.path = str(link)
        self.echo = echo
        self.refuse = {c.upper() for c in refuse}
        self.answering = True
        self.commands: list[str] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._answer, daemon=True) if modem else None
        if self._thread:
            self._thread.start()

    def write(self, data: bytes) -> None:
        with self._lock:
            if not self._closed:
                os.write(self.master, data)

    def send(self, *lines: str, end: str = "\r\n") -> None:
        self.write("".join(f"{line}{end}" for line in lines).encode("ascii"))

    def count(self, command: str) -> int:
        return sum(c.upper() == command.upper() for c in list(self.commands))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self.slave)
            os.close(self.master)
        if self._thread:
            self._thread.join(2)

    def _answer(self) -> None:
        pending = b""
        while not self._closed:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.02)
                if not ready:
                    continue
                data = os.read(self.master, 1024)
            except (OSError, ValueError):
                return
            pending += data
            *lines, pending = pending.replace(b"\n", b"\r").split(b"\r")
            for raw in lines:
                command = raw.decode("ascii", "replace").strip()
                if not command:
                    continue
                self.commands.append(command)
                if not self.answering:
                    continue
                out = f"{command}\r\n" if self.echo else ""
                upper = command.upper()
                if upper == "ATE0":
                    out += "\r\nOK\r\n"
                    self.echo = False
                elif upper == "ATI":
                    out += f"\r\n{IDENT}\r\n\r\nOK\r\n"
                elif upper == "ATI3":
                    out += f"\r\n{INFO}\r\n\r\nOK\r\n"
                elif upper in self.refuse or not upper.startswith("AT"):
                    out += "\r\nERROR\r\n"
                else:
                    out += "\r\nOK\r\n"
                try:
                    self.write(out.encode())
                except OSError:
                    return


@pytest.fixture
def devices():
    made: list[Device] = []

    def make(*args, **kwargs) -> Device:
        made.append(Device(*args, **kwargs))
        return made[-1]
    yield make
    for device in made:
        device.close()


@pytest.fixture
def sources():
    made: list = []

    def start(source, events: Events | None = None):
        events = events or Events()
        made.append(source)
        source.start(events)
        return source, events
    yield start
    for source in made:
        source.close()


def modem_cfg(port: str, **kw) -> ModemCallerId:
    return ModemCallerId(port=port, **{"probe_interval_s": 60.0, "reply_timeout_s": 0.5, **kw})


def ready_modem(devices, sources, **device_kw):
    dev = devices(**device_kw)
    src, events = sources(ModemSource(modem_cfg(dev.path), **FAST))
    events.wait("device-ok")
    return dev, src, events


# -- initialisation ---------------------------------------------------------------------------------

def test_init_sequence_and_device_ok_with_an_echoing_modem(devices, sources):
    dev, src, events = ready_modem(devices, sources, echo=True)
    ok = events.of("device-ok")[0].detail
    assert ok == {"device": dev.path, "device_kind": "modem", "modem": IDENT, "modem_info": INFO, "init": "AT+VCID=1"}
    assert dev.commands == ["AT", "ATE0", "ATI", "ATI3", "AT+VCID=1"]
    assert src.healthy and src.ident == IDENT and src.init_command == "AT+VCID=1"
    assert not events.of("device-error") and not events.of("serial-garbage")
    # echoed commands are neither caller ID nor garbage, and RINGs come through
    dev.send("RING")
    assert events.wait("ring")[0].detail == {"device": dev.path}


def test_vcid_refused_falls_back_to_the_next_command(devices, sources):
    dev, src, events = ready_modem(devices, sources, refuse=("AT+VCID=1",))
    assert events.of("device-ok")[0].detail["init"] == "AT#CID=1"
    assert dev.commands[-2:] == ["AT+VCID=1", "AT#CID=1"]
    assert "AT%CCID=1" not in dev.commands
    assert not events.of("device-error")


def test_caller_id_refused_everywhere_is_an_error_but_rings_still_come(devices, sources):
    dev, src, events = ready_modem(devices, sources, echo=True, refuse=("AT+VCID=1", "AT#CID=1", "AT%CCID=1"))
    error = events.wait("device-error")[0].detail
    assert "caller ID unsupported" in error["error"] and "AT%CCID=1" in error["error"]
    assert events.of("device-ok")[0].detail["init"] is None
    dev.send("RING", "RING")
    events.wait("ring", 2)
    assert len(events.of("device-error")) == 1


# -- caller ID --------------------------------------------------------------------------------------

FULL = {"number": "5551234567", "name": "DOE JOHN", "withheld": False, "withheld_reason": None,
        "date": "0315", "time": "1412"}

CALLER_ID = {
    "spaced, CRLF": (["DATE = 0315", "TIME = 1412", "NMBR = 5551234567", "NAME = DOE JOHN"], "\r\n", FULL),
    "no spaces, LF": (["DATE=0315", "TIME=1412", "NMBR=5551234567", "NAME=DOE JOHN"], "\n", FULL),
    "lone CR": (["DATE =0315", "TIME= 1412", "NMBR  =  5551234567", "NAME = DOE JOHN"], "\r", FULL),
    "any order": (["NAME = DOE JOHN", "NMBR = 5551234567", "TIME = 1412", "DATE = 0315"], "\r\n", FULL),
    "UK: number only": (["NMBR = 01632960123"], "\r\n",
                        {**FULL, "number": "01632960123", "name": None, "date": None, "time": None}),
    "no name": (["DATE = 0315", "TIME = 1412", "NMBR = 5551234567"], "\r\n", {**FULL, "name": None}),
    "private": (["DATE = 0315", "TIME = 1412", "NMBR = P", "NAME = P"], "\r\n",
                {**FULL, "number": None, "name": None, "withheld": True, "withheld_reason": "private"}),
    "unavailable": (["DATE = 0315", "TIME = 1412", "NMBR = O", "NAME = O"], "\r\n",
                    {**FULL, "number": None, "name": None, "withheld": True, "withheld_reason": "unavailable"}),
    "number only private": (["NMBR = P"], "\r\n",
                            {**FULL, "number": None, "name": None, "date": None, "time": None,
                             "withheld": True, "withheld_reason": "private"}),
    "name not on file": (["DATE = 0315", "TIME = 1412", "NMBR = 5551234567", "NAME = O"], "\r\n",
                         {**FULL, "name": None}),
    "unknown tags": (["MESG = 060342", "DATE = 0315", "TIME = 1412", "DDN_NMBR = 5550000",
                      "NMBR = 5551234567", "NAME = DOE JOHN"], "\r\n", FULL),
}


@pytest.mark.parametrize("name", list(CALLER_ID))
def test_caller_id_variants(devices, sources, caplog, name):
    lines, end, expected = CALLER_ID[name]
    caplog.set_level(logging.INFO, logger="hookline.serial")
    dev, src, events = ready_modem(devices, sources)
    seen = src.lines_seen
    dev.send("RING", *lines, "RING", end=end)
    events.wait("ring", 2)
    cid = events.wait("callerid")
    assert len(cid) == 1
    detail = cid[0].detail
    assert {k: detail[k] for k in expected} == expected
    assert detail["raw"] == [line.strip() for line in lines]
    assert [e.kind for e in events.items if e.kind in ("ring", "callerid")] == ["ring", "callerid", "ring"]
    wait_until(lambda: src.lines_seen == seen + len(lines) + 2, what="lines_seen")
    if name == "unknown tags":
        assert "DDN_NMBR" in caplog.text and "MESG" in caplog.text
    assert not events.of("serial-garbage")


def test_caller_id_block_ends_at_the_next_ring(devices, sources):
    dev, src, events = ready_modem(devices, sources)
    src.CALLERID_GAP_S = 5.0     # so only the RING can have ended it in time
    sent = time.monotonic()
    dev.send("DATE = 0315", "NMBR = 5551234567", "RING")
    events.wait("ring", timeout=1.0)
    assert [e.kind for e in events.items[-2:]] == ["callerid", "ring"]
    assert events.of("callerid")[0].detail["number"] == "5551234567"
    assert time.monotonic() - sent < 1.0


def test_caller_id_block_ends_at_another_line(devices, sources):
    dev, src, events = ready_modem(devices, sources)
    src.CALLERID_GAP_S = 5.0
    seen = src.lines_seen
    dev.send("NMBR = 5551234567", "NAME = DOE JOHN", "NO CARRIER")
    cid = events.wait("callerid", timeout=1.0)[0].detail
    assert (cid["number"], cid["name"]) == ("5551234567", "DOE JOHN")
    wait_until(lambda: src.lines_seen == seen + 3, what="lines_seen")


def test_caller_id_block_ends_after_a_quiet_300_ms(devices, sources):
    dev, src, events = ready_modem(devices, sources)
    seen = src.lines_seen
    dev.send("DATE = 0315", "TIME = 1412", "NMBR = 5551234567")
    sent = time.monotonic()
    time.sleep(0.15)
    assert not events.of("callerid") and src.callerid_pending
    assert src.lines_seen == seen      # held until the block is posted
    events.wait("callerid", timeout=2.0)
    waited = events.times[events.items.index(events.of("callerid")[0])] - sent
    assert 0.25 <= waited < 1.0
    assert src.lines_seen == seen + 3 and not src.callerid_pending


def test_a_repeated_field_starts_a_new_block(devices, sources):
    dev, src, events = ready_modem(devices, sources)
    dev.send("NMBR = 5551111111", "NMBR = 5552222222", "NAME = SECOND", "RING")
    events.wait("ring")
    assert [(e.detail["number"], e.detail["name"]) for e in events.of("callerid")] == \
        [("5551111111", None), ("5552222222", "SECOND")]


# -- a modem that stops answering, or vanishes --------------------------------------------------------

def test_hung_modem_is_reopened_and_initialised_again(devices, sources):
    dev = devices()
    src, events = sources(ModemSource(modem_cfg(dev.path, probe_interval_s=0.2, reply_timeout_s=0.2), **FAST))
    events.wait("device-ok")
    probes = dev.count("AT")
    wait_until(lambda: dev.count("AT") >= probes + 2, what="idle probes")   # probed while idle
    assert not events.of("device-error")
    dev.answering = False
    error = events.wait("device-error")[0].detail
    assert "not answering" in error["error"] and error["device"] == dev.path
    assert not src.healthy
    hung_at = dev.count("AT")
    wait_until(lambda: dev.count("AT") >= hung_at + 2, what="re-opens while hung")   # still hung: retried
    assert len(events.of("device-error")) == 1       # one error per outage
    dev.answering = True
    events.wait("device-ok", 2)
    assert len(events.of("device-error")) == 1
    assert dev.count("AT+VCID=1") == 2 and src.healthy
    dev.send("RING")
    events.wait("ring")


def test_vanished_port_is_one_error_and_ok_when_back(devices, sources, tmp_path):
    link = tmp_path / "ttyModem"
    dev = devices(link)
    src, events = sources(ModemSource(modem_cfg(str(link)), **FAST))
    events.wait("device-ok")
    dev.close()
    link.unlink()
    error = events.wait("device-error")[0].detail
    assert error["device"] == str(link)
    time.sleep(0.6)             # several re-open attempts fail meanwhile
    assert len(events.of("device-error")) == 1 and not src.healthy
    back = devices(link)        # a new pty behind the same name
    ok = events.wait("device-ok", 2)[1].detail
    assert ok["init"] == "AT+VCID=1" and ok["device"] == str(link)
    assert back.commands[:1] == ["AT"] and "AT+VCID=1" in back.commands
    assert len(events.of("device-error")) == 1
    back.send("RING")
    events.wait("ring")


def test_a_port_missing_at_start_comes_up_later(devices, sources, tmp_path):
    link = tmp_path / "ttyLate"
    src, events = sources(ModemSource(modem_cfg(str(link)), **FAST))
    assert "cannot open" in events.wait("device-error")[0].detail["error"]
    devices(link)
    events.wait("device-ok")
    assert len(events.of("device-error")) == 1


# -- garbage ----------------------------------------------------------------------------------------

def test_garbage_never_stops_the_modem_source(devices, sources):
    dev, src, events = ready_modem(devices, sources)
    noise = random.Random(7)
    dev.write(bytes(noise.randrange(256) for _ in range(3000)))
    dev.write(b"\r\n" + b"\x00" * 50 + b"\r\n" + b"A" * 10_000 + b"\r\n")
    dev.write(b"\xff\xfe\xc3\x28 bad utf-8 \xe2\x82\r\nRI\rNG\r\n\r\r\n")
    dev.send("RING", "NMBR = 5551234567", "NAME = DOE JOHN", "RING")
    events.wait("ring", 2)
    cid = events.wait("callerid")
    assert cid[-1].detail["number"] == "5551234567" and cid[-1].detail["name"] == "DOE JOHN"
    garbage = events.wait("serial-garbage")
    time.sleep(0.3)
    assert len(events.of("serial-garbage")) == 1
    assert garbage[0].detail["device"] == dev.path and garbage[0].detail["count"] >= 1
    assert isinstance(garbage[0].detail["sample"], str)
    assert src.garbage_lines >= 3 and src.healthy
    assert not events.of("device-error")
    assert src._thread.is_alive()


def test_ten_kilobytes_without_a_newline_count_as_one_line(devices, sources):
    dev, src, events = ready_modem(devices, sources)
    seen = src.lines_seen
    dev.write(b"Z" * 10_000)
    dev.write(b"Z" * 5_000 + b"\r\nRING\r\n")
    events.wait("ring")
    wait_until(lambda: src.lines_seen == seen + 2, what="lines_seen")
    assert src.garbage_lines == 1
    assert events.wait("serial-garbage")[0].detail["count"] == 1


def test_an_unfinished_line_does_not_swallow_the_next(devices, sources):
    dev, src, events = ready_modem(devices, sources)
    src.PARTIAL_TIMEOUT_S = 0.2
    seen = src.lines_seen
    dev.write(b"RIN")
    wait_until(lambda: src.lines_seen == seen + 1, what="the stale partial line")
    dev.send("RING")
    events.wait("ring")
    assert src.garbage_lines == 1


# -- line monitor -----------------------------------------------------------------------------------

def test_line_monitor_default_patterns(devices, sources):
    dev = devices(modem=False)
    src, events = sources(LineMonitorSource(LineMonitorHook(port=dev.path), **FAST))
    assert events.wait("device-ok")[0].detail == {"device": dev.path, "device_kind": "line monitor"}
    seen = src.lines_seen
    dev.send("RING", "OFFHOOK", "STATUS 48V", "ON-HOOK", "OFF HOOK 2", "ON_HOOK")
    wait_until(lambda: src.lines_seen == seen + 6, what="lines_seen")
    assert [e.kind for e in events.items[1:]] == ["ring", "offhook", "onhook", "offhook", "onhook"]


def test_line_monitor_custom_patterns(devices, sources):
    dev = devices(modem=False)
    cfg = LineMonitorHook(port=dev.path, offhook_pattern=r"^L1:(1|UP)$", onhook_pattern=r"^L1:(0|DOWN)$",
                          ring_pattern=None)
    src, events = sources(LineMonitorSource(cfg, **FAST))
    events.wait("device-ok")
    seen = src.lines_seen
    dev.send("L1:1", "RING", "L2:1", "L1:0", "L1:UP", end="\n")
    wait_until(lambda: src.lines_seen == seen + 5, what="lines_seen")
    assert [e.kind for e in events.items[1:]] == ["offhook", "onhook", "offhook"]


@pytest.mark.parametrize("field", ["offhook_pattern", "onhook_pattern", "ring_pattern"])
def test_line_monitor_bad_regex_names_the_pattern(field):
    with pytest.raises(ValueError, match=field):
        LineMonitorSource(LineMonitorHook(port="/dev/null", **{field: "(OFF"}))


def test_line_monitor_port_vanishes_and_returns(devices, sources, tmp_path):
    link = tmp_path / "ttyMonitor"
    dev = devices(link, modem=False)
    src, events = sources(LineMonitorSource(LineMonitorHook(port=str(link)), **FAST))
    events.wait("device-ok")
    dev.close()
    link.unlink()
    events.wait("device-error")
    time.sleep(0.4)
    assert len(events.of("device-error")) == 1 and not src.healthy
    back = devices(link, modem=False)
    events.wait("device-ok", 2)
    garbage_before = src.garbage_lines
    back.write(b"\x00\x00\xff")       # line noise as the board powers up
    back.send("", "OFFHOOK")
    events.wait("offhook")
    assert src.garbage_lines == garbage_before + 1


# -- closing ----------------------------------------------------------------------------------------

def test_close_returns_promptly_in_every_state(devices, sources, tmp_path):
    # running and idle
    dev, src, events = ready_modem(devices, sources)
    t = time.monotonic()
    src.close()
    assert time.monotonic() - t < 1.0 and not src._thread.is_alive()
    # waiting for a reply from a hung modem
    hung = devices()
    hung.answering = False
    src2, _ = sources(ModemSource(modem_cfg(hung.path, reply_timeout_s=5.0), **FAST))
    wait_until(lambda: hung.count("AT") >= 1, what="the first AT")
    t = time.monotonic()
    src2.close()
    assert time.monotonic() - t < 1.0 and not src2._thread.is_alive()
    # backing off from a missing port
    src3, events3 = sources(LineMonitorSource(LineMonitorHook(port=str(tmp_path / "nothing")), backoff_s=10.0))
    events3.wait("device-error")
    t = time.monotonic()
    src3.close()
    assert time.monotonic() - t < 1.0 and not src3._thread.is_alive()
    src3.close()    # twice is harmless
    # the modem saw nothing after close
    sent = len(dev.commands)
    time.sleep(0.2)
    assert len(dev.commands) == sent
