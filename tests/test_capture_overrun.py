"""How long an ALSA overrun was, as the xrun event says it (audio.capture.OverrunMeter). The real
overrun on a kernel sound card is in tests/appliance (a recorder stopped for 3 s mid-call)."""
from appliance.audio.capture import OverrunMeter

RATE, PERIOD = 8000, 160        # 20 ms periods


def reads_keeping_up(clock: OverrunMeter, t: float, n: int) -> float:
    """n reads that each wait for their period and leave the buffer empty, as a line that keeps up does."""
    for _ in range(n):
        t += 0.02
        clock.read(t, PERIOD, 0)
    return t


def test_a_stall_loses_its_length_less_what_the_buffer_still_held():
    clock = OverrunMeter(RATE, PERIOD)
    t = reads_keeping_up(clock, 100.0, 50)
    t += 3.0                                    # stopped for 3 s
    for left in range(24, 0, -1):               # what the full buffer held comes back, each read slow on a
        t += 0.015                              # busy box, and the overrun shows before it is empty
        clock.read(t, PERIOD, left * PERIOD)
    assert clock.overrun(t) == round((3.0 + 24 * 0.015) * RATE) - 24 * PERIOD     # the stall, less what came back


def test_an_overrun_right_after_keeping_up_counts_at_least_a_period():
    clock = OverrunMeter(RATE, PERIOD)
    t = reads_keeping_up(clock, 5.0, 10)
    assert clock.overrun(t + 0.001) == PERIOD


def test_the_next_overrun_is_measured_from_the_last_one():
    clock = OverrunMeter(RATE, PERIOD)
    t = reads_keeping_up(clock, 0.0, 5)
    assert clock.overrun(t + 1.0) == RATE
    assert clock.overrun(t + 1.5) == RATE // 2            # still behind: half a second more lost
