"""The simulator's parts that need no ALSA, FIFOs or threads: what happens on a line and when
(schedule.py), the capture outages that shift it, mixing what the box played into the far leg
(played.py), driving the wires (wires.py), and the scenario's per-table checks."""
from __future__ import annotations

import tomllib
from types import SimpleNamespace

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from appliance.sim import scenario as scenariomod
from appliance.sim.played import mix_far, take_queued
from appliance.sim.schedule import Outages, Schedule, caller_id_lines, capture_outages, line_actions, line_events
from appliance.sim.wires import WireDriver

RATE = 8000
PERIOD = RATE * 20 // 1000


def _scenario(text: str) -> scenariomod.Scenario:
    return scenariomod.parse(tomllib.loads(text))


OFFICE = """
[appliance]
start = "2026-03-15T14:12:00Z"
[[line]]
id = 1
callerid = "modem"
[[line]]
id = 2
offhook = "vox"
[[call]]
line = 1
at = 1.0
rings = 2
caller_id = { number = "5551234", name = "ACME" }
talk = 3.0
[[call]]
line = 2
at = 1.0
rings = 1
talk = 2.0
[[fault]]
line = 1
at = 9.0
kind = "modem-hang"
for = 2.0
"""


# -- the schedule ---------------------------------------------------------------------------------
def test_an_inbound_call_rings_sends_caller_id_and_goes_off_hook_after_the_last_ring():
    sc = _scenario(OFFICE)
    events = list(line_events(sc, 1, RATE, 0, Outages([], 0)))
    # Rings every 6 s from 1 s; caller ID 0.5 s after the first ring's 2 s; answered 1 s after
    # the last ring ends (1 + 6 + 2 + 1 = 10 s), on-hook 3 s later. The hang starts at 9 s.
    assert events == [
        (1 * RATE, "ring", None),
        (int(3.5 * RATE), "cid", ["DATE = 0315", "TIME = 1412", "NMBR = 5551234", "NAME = ACME"]),
        (7 * RATE, "ring", None),
        (9 * RATE, "hang", True),
        (10 * RATE, "hook", True),
        (11 * RATE, "hang", False),
        (13 * RATE, "hook", False),
    ]


def test_a_vox_line_has_no_hook_changes_and_a_line_without_a_modem_no_caller_id():
    sc = _scenario(OFFICE)
    assert list(line_events(sc, 2, RATE, 0, Outages([], 0))) == [(1 * RATE, "ring", None)]


def test_at_the_same_moment_a_fault_comes_before_a_hook_change():
    sc = _scenario(OFFICE.replace("at = 9.0", "at = 10.0"))
    events = [e for e in line_events(sc, 1, RATE, 0, Outages([], 0)) if e[0] == 10 * RATE]
    assert [kind for _, kind, _ in events] == ["hang", "hook"]


def test_a_looping_scenario_repeats_its_events_a_loop_later():
    sc = _scenario(OFFICE.replace("[appliance]", "[appliance]\nloop_s = 30"))
    loop = 30 * RATE
    events = line_events(sc, 2, RATE, loop, Outages([], loop))
    assert [next(events) for _ in range(3)] == [(RATE, "ring", None), (RATE + loop, "ring", None),
                                                (RATE + 2 * loop, "ring", None)]


def test_raw_caller_id_lines_are_sent_verbatim():
    call = SimpleNamespace(caller_id={"lines": ["DDN_NMBR = 5551234"]}, at=1.0)
    assert caller_id_lines(_scenario(OFFICE), call) == ["DDN_NMBR = 5551234"]


def test_the_schedule_hands_out_what_is_due_once_and_in_order():
    sc = _scenario(OFFICE)
    schedule = Schedule(sc, RATE, 0, capture_outages(sc, RATE, PERIOD, 0))
    assert list(schedule.due(1, RATE - 1)) == []
    assert list(schedule.due(1, 7 * RATE)) == [("ring", None), ("cid", caller_id_lines(sc, sc.calls[0])),
                                               ("ring", None)]
    assert list(schedule.due(1, 7 * RATE)) == []
    assert list(schedule.due(1, 10 * RATE)) == [("hang", True), ("hook", True)]


def test_replacing_a_schedule_sorts_the_hook_changes():
    sc = _scenario(OFFICE)
    schedule = Schedule(sc, RATE, 0, capture_outages(sc, RATE, PERIOD, 0))
    schedule.replace(1, [(300, False), (100, True)])
    assert list(schedule.due(1, 10 ** 9)) == [("hook", True), ("hook", False)]


# -- capture outages ------------------------------------------------------------------------------
def test_outages_are_aligned_to_whole_periods():
    sc = _scenario(OFFICE + '[[fault]]\nline = 2\nat = 2.013\nkind = "audio-gone"\nfor = 0.1\n')
    outages = capture_outages(sc, RATE, PERIOD, 0)
    assert not outages[1]
    # 2.013 s is frame 16104, nearest period boundary 16160; 0.1 s is 800 frames, 5 periods.
    assert outages[2].spans == [(16160, 16960)]


def test_time_during_an_outage_never_reaches_the_stream():
    outages = Outages([(1000, 1600)], 0)
    assert outages.stream_frame(999) == 999
    assert outages.stream_frame(1000) == outages.stream_frame(1300) == 1001   # just after it is back
    assert outages.stream_frame(1600) == 1000
    assert outages.stream_frame(5000) == 4400


def test_a_looping_line_with_no_events_has_none_instead_of_hanging():
    sc = _scenario(OFFICE.replace("[appliance]", "[appliance]\nloop_s = 30") + "[[line]]\nid = 3\n")
    assert line_actions(sc, 3) == []
    loop = 30 * RATE
    assert list(line_events(sc, 3, RATE, loop, Outages([], loop))) == []


def test_a_looping_line_loses_every_earlier_loops_outages():
    outages = Outages([(1000, 1600)], 10000)
    assert outages.stream_frame(10000 + 500) == 10000 + 500 - 600
    assert outages.stream_frame(20000 + 2000) == 20000 + 2000 - 3 * 600


def test_the_next_outage_is_found_in_this_loop_or_the_next():
    outages = Outages([(1000, 1600), (4000, 4200)], 10000)
    assert outages.next_from(0) == (1000, 1600)
    assert outages.next_from(1001) == (4000, 4200)
    assert outages.next_from(4001) == (11000, 11600)
    assert Outages([(1000, 1600)], 0).next_from(1001) is None
    assert Outages([], 0).next_from(0) is None


def test_events_after_an_outage_are_shifted_by_it():
    sc = _scenario(OFFICE)
    events = list(line_events(sc, 1, RATE, 0, Outages([(2 * RATE, 3 * RATE)], 0)))
    assert events[0] == (1 * RATE, "ring", None)
    assert events[2] == (6 * RATE, "ring", None)


# -- what the box played, on the far leg ----------------------------------------------------------
def test_played_audio_is_added_to_the_far_leg_only_and_clipped():
    chunk = np.array([[100, 1000], [200, 32000], [300, -5]], dtype=np.int16)
    mixed = mix_far(chunk, np.array([10, 2000], dtype="<i2"))
    assert mixed.tolist() == [[100, 1010], [200, 32767], [300, -5]]
    assert chunk.tolist() == [[100, 1000], [200, 32000], [300, -5]]   # the caller's chunk is untouched


def test_queued_played_audio_is_taken_a_chunk_at_a_time():
    pending = [np.array([1, 2, 3], dtype="<i2"), np.array([4, 5], dtype="<i2")]
    take, rest = take_queued(pending, 4)
    assert take.tolist() == [1, 2, 3, 4]
    assert [r.tolist() for r in rest] == [[5]]
    take, rest = take_queued(rest, 4)
    assert take.tolist() == [5] and rest == []


# -- the wires ------------------------------------------------------------------------------------
class _Peer:
    hung, plugged = False, True

    def __init__(self):
        self.sent = []

    def send(self, *lines):
        self.sent += lines

    def plug(self):
        self.plugged = True

    def unplug(self):
        self.plugged = False


def _line(line_id, pin=None):
    return SimpleNamespace(cfg=SimpleNamespace(id=line_id, offhook=SimpleNamespace(pin=pin)), hook=None, callerid=None)


def test_a_hook_change_drives_the_active_low_sense_pin():
    pins = MockFactory()
    wires = WireDriver(pins, {}, {}, realtime=True, line_ids=[1])
    pins.pin(17).drive_high()
    wires.act(_line(1, pin=17), "hook", True)
    assert pins.pin(17).state == 0
    wires.act(_line(1, pin=17), "hook", False)
    assert pins.pin(17).state == 1


def test_a_line_monitor_back_from_an_outage_reports_the_hook_state_it_sees():
    monitor = _Peer()
    wires = WireDriver(MockFactory(), {}, {1: monitor}, realtime=True, line_ids=[1])
    wires.act(_line(1), "hook", True)
    wires.act(_line(1), "ring", None)
    wires.act(_line(1), "monitor-gone", True)
    assert not monitor.plugged
    wires.act(_line(1), "monitor-gone", False)
    assert monitor.plugged
    assert monitor.sent == ["OFFHOOK", "RING", "OFFHOOK"]


def test_rings_and_caller_id_go_to_the_modem():
    modem = _Peer()
    wires = WireDriver(MockFactory(), {1: modem}, {}, realtime=True, line_ids=[1])
    wires.act(_line(1), "ring", None)
    wires.act(_line(1), "cid", ["NMBR = 5551234"])
    assert modem.sent == ["RING", "NMBR = 5551234"]


# -- the scenario's per-table checks --------------------------------------------------------------
@pytest.mark.parametrize("extra, message", [
    ('[[call]]\nline = 3\nat = 20.0\ntalk = 1.0\n',
     "scenario error: call[3].line: line 3 is not defined (add it as a [[line]])"),
    ('[[fault]]\nline = 4\nat = 20.0\nkind = "modem-gone"\nfor = 1.0\n',
     "scenario error: fault[2].line: line 4 is not defined (add it as a [[line]])"),
    ('[[fault]]\nline = 2\nat = 20.0\nkind = "modem-gone"\nfor = 1.0\n',
     'scenario error: fault[2].kind: line 2 has no modem (set callerid = "modem" on it)'),
    ('[[fault]]\nline = 1\nat = 20.0\nkind = "monitor-gone"\nfor = 1.0\n',
     'scenario error: fault[2].kind: line 1 has no serial line monitor (set offhook = "serial" on it)'),
    ('[[call]]\nline = 1\nat = 12.0\ntalk = 1.0\n',
     "scenario error: call[3].at: line 1 is still busy with call[1] (start it at 13 s or later)"),
    ('[[line]]\nid = 1\n', "scenario error: line: two lines have the same id"),
])
def test_each_table_names_what_is_wrong(extra, message):
    with pytest.raises(scenariomod.ScenarioError) as caught:
        _scenario(OFFICE + extra)
    assert str(caught.value) == message


def test_a_start_without_a_time_zone_is_refused():
    with pytest.raises(scenariomod.ScenarioError) as caught:
        _scenario(OFFICE.replace('"2026-03-15T14:12:00Z"', '"2026-03-15T14:12:00"'))
    assert str(caught.value) == ("scenario error: appliance.start: '2026-03-15T14:12:00' is not a UTC time "
                                 '(write it like "2026-03-15T14:12:00Z")')
