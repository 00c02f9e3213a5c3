"""The consent beep: played onto the line through its ALSA playback PCM, heard on the far leg
of the recording, logged as events; periodic beeps come every beep_interval_s of stream time.
The call is answered (the line sees its rings), so the notice starts at the answer."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

import simtools as st
from appliance.sim.played import LATENCY_S

LANDS_WITHIN = LATENCY_S + 0.4     # the off-hook's debounce, a capture period, the codec

SCENARIO = """
    [appliance]
    start = "2026-03-15T14:12:00Z"
    {appliance}

    [[line]]
    id = 1
    offhook = "gpio"
    rings = "sense"
    settings = {{ consent = "{consent}"{extra} }}

    [[call]]
    line = 1
    at = 1.0
    direction = "{direction}"
    {call}
    talk = {talk}
    near = "tone:440@-12"
    far = "silence"
"""


def scenario(consent: str, talk: float = 12.0, appliance: str = "settings = { beep_interval_s = 5 }",
             direction: str = "inbound", call: str = "rings = 1", **settings) -> str:
    """One call on a line that sees its rings (so an inbound call is known as answered)."""
    extra = "".join(f", {k} = {v}" for k, v in settings.items())
    return SCENARIO.format(appliance=appliance, consent=consent, extra=extra, direction=direction, call=call,
                           talk=talk)


def _beep_starts(far: np.ndarray, rate: int) -> list[float]:
    """Start times (s) of bursts of 1400 Hz on a leg, by 20 ms blocks."""
    n = rate // 50
    t = np.arange(n) / rate
    probe = np.exp(-2j * np.pi * 1400 * t)
    on = [abs(np.dot(far[i * n:(i + 1) * n], probe)) > 5 for i in range(len(far) // n)]
    return [i * n / rate for i in range(len(on)) if on[i] and (i == 0 or not on[i - 1])]


@pytest.mark.parametrize("speed", ["max", pytest.param("realtime", marks=pytest.mark.slow)])
def test_periodic_beeps_reach_the_far_leg(tmp_path, speed):
    data = tmp_path / "data"
    st.check("simulate", st.write_scenario(tmp_path, name="s.toml", text=scenario("periodic")),
             "--data", data, "--speed", speed)
    [call] = st.calls(data)
    audio, rate = soundfile.read(data / call["path"])
    starts = _beep_starts(audio[:, 1], rate)
    # Off-hook at preroll_s into the file; beeps at 0, 5 and 10 s of talk, each landing within
    # LANDS_WITHIN (debounce, the simulated playback latency and the codec's).
    expected = [call["preroll_s"] + k for k in (0, 5, 10)]
    assert len(starts) == 3, starts
    slack = 0.3 if speed == "realtime" else 0.0     # at realtime a busy machine may run the player late
    for got, want in zip(starts, expected):
        assert want <= got <= want + LANDS_WITHIN + slack, (starts, expected)
    assert _beep_starts(audio[:, 0], rate) == [], "the beep belongs to the line, not the office leg"
    beeps = [e for e in st.events(data) if e["kind"] == "beep"]
    assert [e["call_id"] for e in beeps] == [call["id"]] * 3
    assert all(e["detail"]["consent"] == "periodic" for e in beeps)


def test_consent_start_beeps_once_and_off_never(tmp_path):
    for consent, count in (("start", 1), ("off", 0)):
        data = tmp_path / consent
        st.check("simulate", st.write_scenario(tmp_path, name=f"{consent}.toml", text=scenario(consent)),
                 "--data", data)
        [call] = st.calls(data)
        audio, rate = soundfile.read(data / call["path"])
        assert len(_beep_starts(audio[:, 1], rate)) == count, consent
        assert len([e for e in st.events(data) if e["kind"] == "beep"]) == count


# -- the recorder warning tone, measured ------------------------------------------------------------
def bursts(x: np.ndarray, rate: int, hz: float) -> list[tuple[float, float, float]]:
    """(start, end, frequency) of each burst of a tone near hz on a leg: its envelope (the leg
    shifted down by hz, smoothed over 4 ms) above half its peak; the frequency from a finely
    zero-padded spectrum of the burst's middle."""
    t = np.arange(len(x)) / rate
    smooth = int(0.004 * rate)
    envelope = np.abs(np.convolve(x * np.exp(-2j * np.pi * hz * t), np.ones(smooth) / smooth, mode="same"))
    on = envelope > envelope.max() / 2
    edges = np.flatnonzero(np.diff(on.astype(int)))
    out = []
    for rise, fall in zip(edges[::2], edges[1::2]):
        middle = x[rise + smooth * 3:fall - smooth * 3]
        freqs = np.fft.rfftfreq(1 << 20, 1 / rate)
        mag = np.abs(np.fft.rfft(middle * np.hanning(len(middle)), 1 << 20))
        out.append(((rise + 1) / rate, (fall + 1) / rate, float(freqs[np.argmax(mag)])))
    return out


def _tone_call(tmp_path, talk: float, **settings) -> tuple[list, dict, list]:
    data = tmp_path / "data"
    st.check("simulate", st.write_scenario(tmp_path, scenario("periodic", talk, appliance="", **settings)),
             "--data", data)
    [call] = st.calls(data)
    audio, rate = st.decode(data, call)
    return bursts(audio[:, 1], rate, settings.get("beep_hz", 1400)), call, st.events(data)


def test_the_recorder_warning_tone_is_1400_hz_for_half_a_second_every_15_seconds(tmp_path):
    found, call, events = _tone_call(tmp_path, talk=50.0)
    assert len(found) == 4, found                       # at 0, 15, 30 and 45 s of a 50 s call
    starts = [start for start, _, _ in found]
    assert call["preroll_s"] <= starts[0] <= call["preroll_s"] + LANDS_WITHIN, (starts, call["preroll_s"])
    for (start, end, hz), following in zip(found, starts[1:] + [None]):
        assert abs(hz - 1400) <= 10, found
        assert abs((end - start) - 0.5) <= 0.03, found
        if following is not None:
            assert abs((following - start) - 15.0) <= 0.05, found
    beeps = [e["detail"] for e in events if e["kind"] == "beep"]
    assert beeps == [{"consent": "periodic", "hz": 1400.0, "ms": 500}] * 4


def test_the_tones_pitch_length_and_interval_are_settings(tmp_path):
    found, _, events = _tone_call(tmp_path, talk=14.0, beep_hz=950, beep_ms=200, beep_interval_s=6)
    assert len(found) == 3, found
    for (start, end, hz), following in zip(found, [s for s, _, _ in found[1:]] + [None]):
        assert abs(hz - 950) <= 10 and abs((end - start) - 0.2) <= 0.03, found
        if following is not None:
            assert abs((following - start) - 6.0) <= 0.05, found
    assert {e["detail"]["hz"] for e in events if e["kind"] == "beep"} == {950}


def test_a_pause_keeps_the_beeps_on_the_line_and_out_of_the_recording(tmp_path):
    """The caller hears the periodic tone all through a pause (it is the law while the call goes
    on) and each one is logged; the recording holds the pause's silence whole, the box's own tone
    included, and the tone after the pause is still on its schedule, one interval after the last."""
    data = tmp_path / "data"
    text = scenario("periodic", talk=20.0) + """
    [[action]]
    line = 1
    at = 7.5
    kind = "pause-button"

    [[action]]
    line = 1
    at = 16.5
    kind = "resume-button"
"""
    st.check("simulate", st.write_scenario(tmp_path, text), "--data", data)
    [call] = st.calls(data)
    events = st.events(data)
    start = st.ts(call["started_at"]) - call["preroll_s"]
    at = {kind: [st.ts(e["at"]) - start for e in events if e["kind"] == kind] for kind in ("beep", "paused", "resume")}
    [paused], [resumed] = at["paused"], at["resume"]
    assert [round(t - at["beep"][0], 2) for t in at["beep"]] == [0, 5, 10, 15], at
    assert sum(paused < t < resumed for t in at["beep"]) == 2, ("two beeps played while paused", at)
    audio, rate = st.decode(data, call)
    found = [s for s, _, _ in bursts(audio[st.CODEC_DELAY:, 1], rate, 1400)]
    assert len(found) == 2 and all(not paused <= s <= resumed for s in found), (found, paused, resumed)
    assert abs(found[1] - found[0] - 15.0) <= 0.05, found
    held = audio[st.CODEC_DELAY + int(paused * rate) + rate // 50:st.CODEC_DELAY + int(resumed * rate)]
    assert st.rms_dbfs(held) < -60, "the pause is silent, beeps included"
