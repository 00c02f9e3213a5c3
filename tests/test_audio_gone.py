"""A capture interface unplugged and plugged back in (the scenario's `audio-gone` fault), through
the simulator's unpluggable ALSA PCM: reads fail with -ENODEV as snd-usb-audio's do, opening
fails until the device is back. What was recorded is kept, the call goes on in a linked part,
the events say what happened and when, the other line never notices, and both speeds agree."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

import simtools as st
from appliance.sim import scenario as scenariomod

RATE = 8000
STEP_HZ = (400, 150)   # the far leg's test signal: second k of the talk is a tone of 400 + 150 k Hz


def _stepped_wav(path, seconds: int = 20) -> None:
    t = np.arange(RATE) / RATE
    steps = [0.25 * np.sin(2 * np.pi * (STEP_HZ[0] + STEP_HZ[1] * k) * t) for k in range(seconds)]
    soundfile.write(str(path), np.concatenate(steps), RATE, subtype="PCM_16")


def _second_of_talk(hz: float) -> float:
    return (hz - STEP_HZ[0]) / STEP_HZ[1]


def _scenario(tmp_path, *, fault_at: float, fault_for: float, talk: float = 20.0, at: float = 2.0,
              line2_talk: float = 24.0, extra: str = "", load: bool = True) -> tuple:
    _stepped_wav(tmp_path / "steps.wav")
    text = f"""
[appliance]
start = "2026-03-15T14:00:00Z"
seed = 5

[[line]]
id = 1
offhook = "gpio"
callerid = "modem"
noise_dbfs = -60

[[line]]
id = 2
offhook = "gpio"
noise_dbfs = -60

[[call]]
line = 1
at = {at}
direction = "inbound"
rings = 2
caller_id = {{ number = "5551234567", name = "DOE JOHN" }}
talk = {talk}
near = "tone:440@-14"
far = "file:steps.wav"

[[call]]
line = 2
at = 2.0
direction = "outbound"
talk = {line2_talk}
near = "tone:600@-14"
far = "silence"

[[fault]]
line = 1
at = {fault_at}
kind = "audio-gone"
for = {fault_for}
{extra}"""
    path = st.write_scenario(tmp_path, text)
    return path, next(c for c in scenariomod.load(path).calls if c.line == 1) if load else None


def _t(iso: str) -> float:
    return st.ts(iso) - st.ts("2026-03-15T14:00:00Z")


def test_unplugged_mid_call_keeps_the_first_part_and_goes_on_in_a_linked_one(tmp_path):
    path, call = _scenario(tmp_path, fault_at=16.0, fault_for=5.0)
    answered = call.speech_start_s
    data = tmp_path / "data"
    st.simulate(path, data)
    calls = st.calls(data)
    line1 = sorted((c for c in calls if c["line"] == 1), key=lambda c: c["part"])
    assert [c["part"] for c in line1] == [1, 2] and all(c["status"] == "complete" for c in line1)
    first, second = line1
    assert second["previous_id"] == first["id"]
    # The call keeps who it was: both parts are the inbound call from the caller ID.
    for part in line1:
        assert (part["direction"], part["remote_number"], part["remote_name"]) == ("inbound", "5551234567",
                                                                                   "DOE JOHN")
    # Part 1 ends when the interface went, part 2 starts when it came back.
    assert _t(first["ended_at"]) == pytest.approx(16.0, abs=0.05)
    assert _t(second["started_at"]) == pytest.approx(21.0, abs=0.05)
    assert _t(second["ended_at"]) == pytest.approx(call.onhook_s, abs=0.1)

    # The audio: part 1 runs to the unplug, part 2 resumes with what the far end said after the
    # replug (the 5 s in between were never captured, and nothing is invented to fill them).
    audio1, rate = st.decode(data, first)
    audio2, _ = st.decode(data, second)
    offhook = call.offhook_s
    assert first["duration_s"] == pytest.approx(16.0 - offhook, abs=0.05) and first["preroll_s"] == 1.0
    assert second["duration_s"] == pytest.approx(call.onhook_s - 21.0, abs=0.05) and second["preroll_s"] == 0
    for row, audio in ((first, audio1), (second, audio2)):   # MP3 frames pad the end by up to ~0.25 s
        assert 0 <= len(audio) / rate - (row["preroll_s"] + row["duration_s"]) < 0.3

    def far_step(audio, part_start: float, at: float) -> float:
        """Which second of the far end's talk is heard at scenario time `at` (±0.25 s) of a part."""
        i = int((at - part_start) * rate) + st.CODEC_DELAY
        return _second_of_talk(st.dominant_hz(audio[i - rate // 4:i + rate // 4, 1], rate))

    assert far_step(audio1, offhook - 1.0, 15.6) == int(15.6 - answered)
    assert far_step(audio2, 21.0, 21.4) == int(21.4 - answered)
    for audio in (audio1, audio2):
        assert st.dominant_hz(audio[rate:2 * rate, 0], rate) == pytest.approx(440, abs=10)

    events = st.events(data)
    line1_events = [(e["kind"], e["call_id"]) for e in events if e["line"] == 1 and e["kind"] in
                    ("offhook", "device-error", "device-ok", "resumed", "onhook")
                    and e.get("detail", {}).get("device", "hookline_sim_line1") == "hookline_sim_line1"]
    assert line1_events == [("offhook", first["id"]), ("device-error", first["id"]), ("device-ok", None),
                            ("resumed", second["id"]), ("onhook", second["id"])]
    error = next(e for e in events if e["kind"] == "device-error")
    ok = next(e for e in events if e["kind"] == "device-ok" and e["detail"]["device"] == "hookline_sim_line1")
    assert _t(error["at"]) == pytest.approx(16.0, abs=0.05)
    assert "No such device" in error["detail"]["error"] and error["detail"]["device"] == "hookline_sim_line1"
    assert _t(ok["at"]) == pytest.approx(21.0, abs=0.05)

    # The other line never noticed.
    (line2,) = [c for c in calls if c["line"] == 2]
    assert line2["status"] == "complete" and line2["duration_s"] == pytest.approx(24.0, abs=0.05)
    assert not [e for e in events if e["line"] == 2 and e["kind"] in ("device-error", "xrun", "error")]


def test_hanging_up_while_unplugged_ends_the_call_with_its_first_part(tmp_path):
    path, call = _scenario(tmp_path, fault_at=14.0, fault_for=8.0, talk=6.0)
    assert 14.0 < call.onhook_s < 22.0
    data = tmp_path / "data"
    st.simulate(path, data)
    line1 = [c for c in st.calls(data) if c["line"] == 1]
    assert len(line1) == 1 and line1[0]["status"] == "complete" and line1[0]["part"] == 1
    assert _t(line1[0]["ended_at"]) == pytest.approx(14.0, abs=0.05)
    events = [e for e in st.events(data) if e["line"] == 1]
    onhook = [e for e in events if e["kind"] == "onhook"]
    assert len(onhook) == 1 and onhook[0]["call_id"] == line1[0]["id"]
    assert "before recording could resume" in onhook[0]["detail"]["reason"]
    assert _t(onhook[0]["at"]) == pytest.approx(22.0, abs=0.1)   # heard when the device came back
    assert not [e for e in events if e["kind"] == "resumed"]


def test_unplugged_while_idle_logs_the_outage_and_records_the_next_call(tmp_path):
    path, call = _scenario(tmp_path, fault_at=0.5, fault_for=1.5, at=3.0, talk=4.0)
    data = tmp_path / "data"
    st.simulate(path, data)
    line1 = [c for c in st.calls(data) if c["line"] == 1]
    assert len(line1) == 1 and line1[0]["status"] == "complete" and line1[0]["remote_number"] == "5551234567"
    assert _t(line1[0]["started_at"]) == pytest.approx(call.offhook_s, abs=0.05)
    assert line1[0]["duration_s"] == pytest.approx(call.onhook_s - call.offhook_s, abs=0.05)
    audio, rate = st.decode(data, line1[0])
    assert st.dominant_hz(audio[-2 * rate:-rate, 0], rate) == pytest.approx(440, abs=10)
    kinds = [(e["kind"], e["call_id"]) for e in st.events(data)
             if e["line"] == 1 and e["kind"] in ("device-error", "device-ok") and
             e["detail"].get("device") == "hookline_sim_line1"]
    assert kinds == [("device-error", None), ("device-ok", None)]


@pytest.mark.slow
def test_both_speeds_give_the_same_catalog(tmp_path):
    # Answered at 9.5 s; part 1 runs 2 s, the interface is gone 3 s, part 2 runs 3 s. Line 2's
    # call spans the outage and ends first, so the real-time run lasts 19.5 s, not 28.
    path, _ = _scenario(tmp_path, fault_at=11.5, fault_for=3.0, talk=8.0, at=0.5, line2_talk=14.0)
    result = {}
    for speed in ("max", "realtime"):
        data = tmp_path / speed
        st.simulate(path, data, speed=speed)
        result[speed] = sorted((c["line"], c["part"], c["started_at"], c["ended_at"], c["status"],
                                c["remote_number"]) for c in st.calls(data))
    assert result["max"] == result["realtime"]
    assert [(1, 1), (1, 2), (2, 1)] == [r[:2] for r in result["max"]]


def test_an_outage_while_the_device_is_already_gone_is_refused(tmp_path):
    extra = '\n[[fault]]\nline = 1\nat = 18.0\nkind = "audio-gone"\nfor = 2.0\n'
    path, _ = _scenario(tmp_path, fault_at=16.0, fault_for=5.0, extra=extra, load=False)
    proc = st.run("simulate", path, "--data", tmp_path / "data")
    assert proc.returncode == 2
    line = st.one_error_line(proc)
    assert "fault[2].at" in line and "already gone" in line, line
    assert not (tmp_path / "data" / "recordings").exists()
