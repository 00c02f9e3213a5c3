"""Rings seen on a GPIO sense input (appliance/hook/sense_rings.py, `rings = true`): the ring
burst detector fed edges directly, together with the line's debounce as the line's thread runs
them; then gpiozero mock pins toggled at 20 and 25 Hz with contact bounce, through the real
daemon under the simulator."""
from __future__ import annotations

import pytest

import simtools as st
from appliance.config import ring_hold_ms
from appliance.hook.sense_rings import SenseRings
from appliance.line.hook_state import HookDebounce
from appliance.line.who_called import WhoCalled

RATE = 8000
BAND = (15.0, 30.0)
HOLD = ring_hold_ms(BAND) * RATE // 1000      # the line's debounce on a ring-sensing line: 100 ms
BOUNCE_MS = (0.6, 1.3, 2.1, 3.0)              # a contact settling after each change: three glitches


def s(seconds: float) -> int:
    return round(seconds * RATE)


def burst(start: float, seconds: float, hz: float, bounce: bool = False) -> list[tuple[bool, int]]:
    """A ring burst on the sense input: (level, frame) edges, True being the off-hook level, from
    start for `seconds` at `hz`, ending at the on-hook level; with contact bounce after each edge."""
    edges = []
    half = 1 / (2 * hz)
    for k in range(round(seconds / half)):
        level, t = k % 2 == 0, start + k * half
        edges.append((level, s(t)))
        if bounce:
            edges += [(level if i % 2 else not level, s(t + ms / 1000)) for i, ms in enumerate(BOUNCE_MS)]
    return edges


def lift(at: float) -> list[tuple[bool, int]]:
    """A handset lifted at `at`: the contact bounces for about 20 ms, then holds off-hook."""
    times = (0, 1.5, 2.5, 6, 7, 11, 12.5, 16, 19)
    return [(i % 2 == 0, s(at + ms / 1000)) for i, ms in enumerate(times)]


def hang_up(at: float) -> list[tuple[bool, int]]:
    return [(False, s(at))]


class Sense:
    """A line's hook state and ring counter, fed edges as the line's thread applies them."""

    def __init__(self, hold: int = HOLD):
        self.hook = HookDebounce(hold)
        self.rings = SenseRings(RATE, BAND, hold)
        self.who = WhoCalled(RATE, hears_rings=True)
        self.rang: list[int] = []
        self.calls: list[tuple[int, dict]] = []       # (off-hook frame, who called)
        self.onhooks: list[int] = []

    def feed(self, edges, until: int | None = None, read: int = 1) -> "Sense":
        """Edges in order; every `read` frames (the line's reads) the debounce settles."""
        for level, frame in sorted(edges, key=lambda e: e[1]):
            self._settle_until(frame, read)
            self.hook.report(level, frame)
            rang = self.rings.edge(level, frame, idle=not self.hook.offhook)
            if rang is not None and self.who.ring(rang):
                self.rang.append(rang)
        self._settle_until(until if until is not None else (edges[-1][1] if edges else 0) + s(1), read)
        return self

    def _settle_until(self, frame: int, read: int) -> None:
        pos = getattr(self, "_pos", 0)
        while pos + read <= frame:
            pos += read
            changed = self.hook.settle(pos)
            if changed is not None:
                if self.hook.offhook:
                    self.calls.append((changed, self.who.answer(changed)))
                else:
                    self.onhooks.append(changed)
        self._pos = pos


# -- the detector, fed edges directly ---------------------------------------------------------
@pytest.mark.parametrize("hz", [20, 25])
@pytest.mark.parametrize("bounce", [False, True], ids=["clean", "bouncing"])
def test_each_ring_burst_is_one_ring_at_its_start_and_never_a_call(hz, bounce):
    edges = burst(1.0, 2.0, hz, bounce) + burst(7.0, 2.0, hz, bounce) + burst(13.0, 2.0, hz, bounce)
    line = Sense().feed(edges, until=s(20))
    assert line.rang == [s(1.0), s(7.0), s(13.0)]
    assert line.calls == [] and line.onhooks == [], "the blinking never bounced the hook state"


def test_a_uk_double_ring_is_one_ring():
    edges = []
    for start in (1.0, 4.0):       # 0.4 s on, 0.2 s off, 0.4 s on, 2 s off; at 25 Hz
        edges += burst(start, 0.4, 25, bounce=True) + burst(start + 0.6, 0.4, 25, bounce=True)
    line = Sense().feed(edges, until=s(8))
    assert line.rang == [s(1.0), s(4.0)]
    assert line.calls == []


def test_answered_during_a_burst_is_an_inbound_call_after_one_ring():
    edges = burst(1.0, 2.0, 20) + burst(7.0, 0.6, 20, bounce=True)
    answer = 7.6 + 0.005
    edges += lift(answer) + hang_up(15.0)       # picked up mid-burst: the ringing stops, the level holds
    line = Sense().feed(edges, until=s(16))
    assert line.rang == [s(1.0), s(7.0)]
    [(offhook, who)] = line.calls
    assert offhook == s(answer + 0.019), "the call starts where the off-hook level settled"
    assert who == {"direction": "inbound"}
    assert line.onhooks == [s(15.0)]


def test_a_bouncing_offhook_alone_is_no_ring():
    line = Sense().feed(lift(2.0) + hang_up(9.0), until=s(10))
    assert line.rang == []
    [(offhook, who)] = line.calls
    assert offhook == s(2.019) and who == {"direction": "outbound"}, "a line that hears rings heard none"


@pytest.mark.parametrize("hz", [10, 50])
def test_blinking_outside_the_ring_band_is_no_ring(hz):
    """10 Hz is a rotary dial's pulses; 50 Hz is faster than any ring (the band is 15-30 Hz)."""
    line = Sense().feed(burst(1.0, 1.0, hz) + burst(5.0, 1.0, hz), until=s(8))
    assert line.rang == []


def test_an_offhook_line_counts_no_rings():
    rings = SenseRings(RATE, BAND, HOLD)
    assert [rings.edge(level, frame, idle=False) for level, frame in burst(1.0, 2.0, 20)] == [None] * 80
    assert [r for level, frame in burst(5.0, 2.0, 20) if (r := rings.edge(level, frame, idle=True))] == [s(5.0)]


def test_stamped_at_the_lines_reads_rings_still_count_and_never_start_a_call():
    """On the box an edge is stamped with the stream position of the line's last 20 ms read, so
    a 25 ms half-cycle shows as 20 or 40 ms and two edges may share a stamp."""
    read = s(0.02)
    edges = [(level, -(-frame // read) * read) for level, frame in
             burst(1.0, 2.0, 20, bounce=True) + burst(7.0, 2.0, 25, bounce=True)]
    line = Sense().feed(edges, until=s(12), read=read)
    assert line.rang == [s(1.0), s(7.0)]
    assert line.calls == []


def test_a_late_read_during_a_ring_starts_no_call():
    """The line's thread reads 60 ms late once, as the ring swings to the off-hook level: the
    edges meanwhile are stamped with the position of the read before, then three reads catch up at
    once. The hold of one and a half cycles of the slowest ring (100 ms) rides that out; the 50 ms
    debounce of a line without rings would not."""
    read, stall, stall_s = s(0.02), s(1.5), 0.06

    def stamp(frame: int) -> int:
        if stall <= frame < stall + s(stall_s):
            return stall
        return frame // read * read

    edges = [(level, stamp(frame)) for level, frame in burst(1.0, 2.0, 20)]
    line = Sense().feed(edges, until=s(5), read=read)
    assert line.rang == [s(1.0)] and line.calls == []
    assert Sense(hold=s(0.05)).feed(edges, until=s(5), read=read).calls, "the stall looks like an off-hook"


def test_a_ring_heard_by_the_modem_and_the_sense_input_is_one_ring():
    who = WhoCalled(RATE, hears_rings=True)
    assert who.ring(s(1.3)) and not who.ring(s(1.0)), "the modem's RING, then the burst it belongs to"
    assert who.ring(s(7.0)), "the next ring of the train"
    assert who.answer(s(10)) == {"direction": "inbound"}


# -- mock pins through the real daemon --------------------------------------------------------------
SCENARIO = """
appliance = { start = "2026-03-15T09:00:00Z" }
line = [{ id = 1, offhook = "gpio", rings = "sense" }]
call = [{ line = 1, at = 40.0, talk = 1.0, direction = "outbound" }]    # the simulation's end
"""


def test_mock_pins_ringing_at_20_and_25_hz_with_bounce_then_answered_and_a_bouncing_lift(tmp_path):
    edges = (burst(2.0, 2.0, 20, bounce=True)                    # a ring
             + burst(8.0, 1.2, 25, bounce=True) + lift(9.2)      # another, answered during the burst
             + hang_up(14.0)
             + lift(24.0) + hang_up(30.0))                       # later, a call out: bounce, no ring
    calls, events = st.simulate_hook_changes(tmp_path, SCENARIO, [(frame, level) for level, frame in edges])
    rings = [e for e in events if e["kind"] == "ring"]
    assert [(e["at"], e["detail"]) for e in rings] == [("2026-03-15T09:00:02.000Z", {"source": "sense"}),
                                                       ("2026-03-15T09:00:08.000Z", {"source": "sense"})]
    inbound, outbound = calls
    assert inbound["direction"] == "inbound" and inbound["status"] == "complete"
    assert st.ts(inbound["started_at"]) == pytest.approx(st.ts("2026-03-15T09:00:09.2Z"), abs=0.05)
    assert inbound["duration_s"] == pytest.approx(14.0 - 9.2, abs=0.05)
    assert outbound["direction"] == "outbound" and "_out_" in outbound["path"]
    hook = [e["kind"] for e in events if e["kind"] in ("offhook", "onhook")]
    assert hook == ["offhook", "onhook", "offhook", "onhook"], "the ringing itself never started a call"
