"""The consent beep: played onto the line through its ALSA playback PCM, heard on the far leg
of the recording, logged as events; periodic beeps come every beep_interval_s of stream time.
The call is answered (the line sees its rings), so the notice starts at the answer."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

import simtools as st

SCENARIO = """
    [appliance]
    start = "2026-03-15T14:12:00Z"
    settings = {{ beep_interval_s = 5 }}

    [[line]]
    id = 1
    offhook = "gpio"
    rings = "sense"
    settings = {{ consent = "{consent}" }}

    [[call]]
    line = 1
    at = 1.0
    direction = "inbound"
    rings = 1
    talk = 12.0
    near = "tone:440@-12"
    far = "silence"
"""


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
    st.check("simulate", st.write_scenario(tmp_path, name="s.toml", text=SCENARIO.format(consent="periodic")),
             "--data", data, "--speed", speed)
    [call] = st.calls(data)
    audio, rate = soundfile.read(data / call["path"])
    starts = _beep_starts(audio[:, 1], rate)
    # Off-hook at preroll_s into the file; beeps at 0, 5 and 10 s of talk, each landing within
    # half a second (debounce, playback and codec latency).
    expected = [call["preroll_s"] + k for k in (0, 5, 10)]
    assert len(starts) == 3, starts
    for got, want in zip(starts, expected):
        assert want <= got <= want + 0.5, (starts, expected)
    assert _beep_starts(audio[:, 0], rate) == [], "the beep belongs to the line, not the office leg"
    beeps = [e for e in st.events(data) if e["kind"] == "beep"]
    assert [e["call_id"] for e in beeps] == [call["id"]] * 3
    assert all(e["detail"]["consent"] == "periodic" for e in beeps)


def test_consent_start_beeps_once_and_off_never(tmp_path):
    for consent, count in (("start", 1), ("off", 0)):
        data = tmp_path / consent
        st.check("simulate", st.write_scenario(tmp_path, name=f"{consent}.toml", text=SCENARIO.format(consent=consent)),
                 "--data", data)
        [call] = st.calls(data)
        audio, rate = soundfile.read(data / call["path"])
        assert len(_beep_starts(audio[:, 1], rate)) == count, consent
        assert len([e for e in st.events(data) if e["kind"] == "beep"]) == count
