"""Where a pause comes from, through the real seams: the line's button and LED on gpiozero mock
pins (the LED is lit exactly while paused), `hookline pause` / `hookline resume` against a running
simulated recorder (and its clear refusals), the command channel's answers, and the config's and
scenario's checks of what they are given."""
from __future__ import annotations

import json

import pytest

import simtools as st
from appliance import config as configmod, control
from appliance.sim import scenario as scenariomod
from appliance.sim.devices import PAUSE_PINS
from appliance.store import catalog, db as dbmod

BUTTON_SCENARIO = """
    [[line]]
    id = 1

    [[call]]
    line = 1
    at = 1.0
    direction = "outbound"
    talk = 8.0
    near = "noise@-30"

    [[action]]
    line = 1
    at = 3.0
    kind = "pause-button"

    [[action]]
    line = 1
    at = 5.0
    kind = "resume-button"
"""


def test_the_led_is_lit_exactly_while_the_button_has_paused_the_call(tmp_path):
    sc = scenariomod.load(st.write_scenario(tmp_path, BUTTON_SCENARIO))
    seen: list[tuple[int, bool]] = []

    def watch_the_led(daemon, hw):
        led, tick = hw.pins.pin(PAUSE_PINS[0][1]), hw.tick

        def watch(line, pos):
            tick(line, pos)
            seen.append((pos, bool(led.state)))
        daemon._tick = watch
    st.play_in_process(sc, tmp_path / "data", watch_the_led)
    rate = sc.sample_rate
    lit = [pos for pos, on in seen if on]
    # Lit from the press at 3 s to the press at 5 s, to within one read (20 ms) of each.
    assert lit and abs(lit[0] - 3 * rate) <= 0.02 * rate and abs(lit[-1] - 5 * rate) <= 0.02 * rate
    assert len(lit) == len({pos for pos, _ in seen if 3 * rate <= pos < 5 * rate})
    assert not seen[-1][1], "out once the call is resumed"
    db = dbmod.connect(tmp_path / "data")
    try:
        kinds = [(e["kind"], e["detail"].get("by")) for e in catalog.list_events(db) if e["kind"] in ("paused", "resume")]
    finally:
        db.close()
    assert kinds == [("paused", "button"), ("resume", "button")]


def test_hookline_pause_and_resume_against_a_running_recorder(tmp_path):
    data = tmp_path / "data"
    sim = st.start("simulate", st.write_scenario(tmp_path, st.CALL_IN_PROGRESS), "--data", data, "--speed", "realtime")
    try:
        st.wait_for_recording(data)
        assert st.check("pause", "--line", "1", "--data", data).stdout.startswith("line 1: paused")
        assert st.one_error_line(st.run("pause", "--line", "1", "--data", data)).endswith("line 1 is already paused")
        assert st.one_error_line(st.run("pause", "--line", "2", "--data", data)).endswith(
            "line 2 has no call in progress")
        refused = st.run("pause", "--line", "7", "--data", data)
        assert refused.returncode == 1 and "no line 7 (the lines are 1, 2)" in st.one_error_line(refused)
        with pytest.raises(control.ControlError, match='give the line as a number'):
            control.ask(control.socket_path(data / "run" / "status.json"), "pause", line="1")
        assert st.check("resume", "--line", "2", "--data", data).stdout.strip() == \
            "line 2 is not paused: nothing to resume"
        assert st.check("resume", "--line", "1", "--data", data).stdout.startswith("line 1: recording again after")
    finally:
        sim.terminate()             # the recorder stops, keeping the call so far
        sim.communicate(timeout=60)
    stopped = st.run("pause", "--line", "1", "--data", data)
    assert stopped.returncode == 1 and "the recorder is not running" in st.one_error_line(stopped)
    pauses = [e for e in st.events(data) if e["kind"] in ("paused", "resume")]
    assert [(e["kind"], e["detail"]["by"]) for e in pauses] == [("paused", "console"), ("resume", "console")]
    audit = json.loads(st.check("audit", "--data", data, "--json").stdout)
    assert [a["action"] for a in audit] == ["resume", "pause"]
    assert {a["target"] for a in audit} == {pauses[0]["call_id"]}


@pytest.mark.parametrize("table, message", [
    ({"button": 17}, "GPIO17 is already used"),
    ({"led": 5}, "line[1].pause.button: missing"),
    ({"button": 30}, "line[1].pause.button: 30 is out of range"),
    ({"button": 5, "lamp": 6}, "line[1].pause.lamp: unknown key"),
    ({"button": 5, "pull": "sideways"}, "line[1].pause.pull: 'sideways' is not allowed"),
])
def test_the_pause_button_config_is_checked(table, message):
    doc = {"line": [{"id": 1, "capture": "hw:1", "offhook": {"pin": 17}, "pause": table}]}
    with pytest.raises(configmod.ConfigError) as refused:
        configmod.parse(doc)
    assert message in str(refused.value)


def test_a_pause_button_is_read_from_the_config():
    doc = {"line": [{"id": 1, "capture": "hw:1", "offhook": {"pin": 17}, "pause": {"button": 5, "led": 6}}]}
    assert configmod.parse(doc).lines[0].pause == configmod.PauseInputs(button=5, led=6)


@pytest.mark.parametrize("extra, message", [
    ('keys = [{ at = 1.0, digits = "*X" }]', "call[1].keys[1].digits: '*X' has characters a keypad cannot send"),
    ('keys = [{ at = 9.9, digits = "*1" }]', "call[1].keys[1].at: the keys run past the call's end"),
    ('keys = [{ at = 1.0, digits = "1", when = 2 }]', "call[1].keys[1].when: unknown key"),
    ('keys = ["*1"]', "call[1].keys[1]: must be a table"),
])
def test_scenario_keys_are_checked(tmp_path, extra, message):
    text = f'[[line]]\nid = 1\n[[call]]\nline = 1\nat = 1\ntalk = 10\n{extra}\n'
    with pytest.raises(scenariomod.ScenarioError) as refused:
        scenariomod.load(st.write_scenario(tmp_path, text))
    assert message in str(refused.value)


@pytest.mark.parametrize("action, message", [
    ('line = 1\nat = 2\nkind = "press"', "action[1].kind: 'press' is not allowed"),
    ('line = 9\nat = 2\nkind = "pause-button"', "action[1].line: line 9 is not defined"),
    ('line = 1\nat = -1\nkind = "pause-button"', "action[1].at: -1 is out of range"),
])
def test_scenario_actions_are_checked(tmp_path, action, message):
    text = f'[[line]]\nid = 1\n[[action]]\n{action}\n'
    with pytest.raises(scenariomod.ScenarioError) as refused:
        scenariomod.load(st.write_scenario(tmp_path, text))
    assert message in str(refused.value)


NOT_RECORDED_SCENARIO = """
    [appliance]
    dnr = [{ pattern = "4155550123", label = "Doctor" }]

    [[line]]
    id = 1
    settings = { recording = false }

    [[line]]
    id = 2
    callerid = "modem"

    [[call]]                        # recording off for the line
    line = 1
    at = 1.0
    direction = "outbound"
    talk = 16.0
    near = "noise@-30"
    keys = [{ at = 12.0, digits = "*1" }]   # after the dialing: a code

    [[action]]
    line = 1
    at = 15.0
    kind = "pause-button"

    [[call]]                        # on the do-not-record list
    line = 2
    at = 1.0
    direction = "inbound"
    rings = 1
    caller_id = { number = "4155550123" }
    talk = 10.0
    near = "noise@-30"
    keys = [{ at = 3.0, digits = "*1" }]

    [[action]]
    line = 2
    at = 9.0
    kind = "pause-button"
"""


def test_a_call_that_is_not_recorded_cannot_be_paused(tmp_path):
    """Nothing is recorded, so there is nothing to pause: neither the keypad code nor the button
    leaves a pause (an event naming the call, a lit LED) on a call recording is off for, or one
    on the do-not-record list; the refusal is no error either."""
    data = tmp_path / "data"
    st.simulate(st.write_scenario(tmp_path, NOT_RECORDED_SCENARIO), data)
    events = st.events(data)
    assert [(e["line"], e["kind"], e["detail"]) for e in events if e["kind"] in ("paused", "resume", "error")] == []
    assert {c["line"]: c["status"] for c in st.calls(data)} == {1: "discarded", 2: "discarded"}
