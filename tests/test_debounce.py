"""Hook input debounce, in stream time: a level counts once it has held for debounce_ms, and the
call's edges sit where the stable level began. Driven through gpiozero mock pins."""
from __future__ import annotations

import pytest

import simtools as st

SCENARIO = """
[appliance]
start = "2026-03-15T09:00:00Z"

[[line]]
id = 1
offhook = "gpio"

[[call]]
line = 1
at = 30.0
talk = 1.0
direction = "outbound"
near = "tone:440@-12"
"""
RATE = 8000
MS = RATE // 1000   # frames per millisecond; the simulated line reads 20 ms periods, debounce 30 ms


def _run(tmp_path, changes):
    return st.simulate_hook_changes(tmp_path, SCENARIO, changes)


def test_glitches_shorter_than_debounce_start_no_call(tmp_path):
    # Idle line; two 20 ms blips and a burst of contact bounce that never settles off-hook.
    changes = [(1000 * MS, True), (1020 * MS, False),
               (5000 * MS, True), (5020 * MS, False)]
    t = 9000 * MS
    for _ in range(5):
        changes += [(t, True), (t + 20 * MS, False)]
        t += 40 * MS
    calls, events = _run(tmp_path, changes)
    assert calls == []
    assert [e for e in events if e["kind"] in ("offhook", "onhook")] == []


def test_bouncing_offhook_and_a_dropout_make_one_call(tmp_path):
    # Off-hook at 2 s with 3 bounces, a 20 ms loop-current dropout mid-call, on-hook at 12 s.
    changes = [(2000 * MS, True), (2020 * MS, False), (2040 * MS, True), (2060 * MS, False),
               (2080 * MS, True),
               (7000 * MS, False), (7020 * MS, True),
               (12000 * MS, False)]
    calls, events = _run(tmp_path, changes)
    [call] = calls
    assert call["status"] == "complete"
    # The call starts where the level settled (the last bounce), not at the first contact.
    assert call["started_at"] == "2026-03-15T09:00:02.080Z"
    assert call["duration_s"] == pytest.approx(12.0 - 2.08, abs=0.021)
    kinds = [e["kind"] for e in events if e["kind"] in ("offhook", "onhook")]
    assert kinds == ["offhook", "onhook"]


@pytest.mark.parametrize("active, pull, idle_high", [("low", "up", True), ("high", "down", False),
                                                       ("high", "none", False)])
def test_active_level_and_pull_decide_what_off_hook_is(active, pull, idle_high):
    """Both wirings of the sense input: an opto pulling the pin low when the line is off-hook
    (active low, pull-up), and one driving it high (active high, pull-down or external pull)."""
    from gpiozero.pins.mock import MockFactory

    from appliance.config import GpioHook
    from appliance.hook.gpio import GpioHookSource

    factory = MockFactory()
    pin = factory.pin(17)
    pin.drive_high() if idle_high else pin.drive_low()
    seen = []
    source = GpioHookSource(GpioHook(pin=17, active=active, pull=pull, debounce_ms=30), pin_factory=factory)
    source.start(lambda ev: seen.append(ev.kind))
    try:
        pin.drive_low() if idle_high else pin.drive_high()    # the handset is lifted
        pin.drive_high() if idle_high else pin.drive_low()    # and put back
    finally:
        source.close()
    assert seen == ["onhook", "offhook", "onhook"]
