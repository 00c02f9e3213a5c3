"""The announcement to callers, heard in the recording: an answered call hears it at once, an
outgoing call once its dialing is over (never during it); with announcement+periodic the tone
follows every interval after it; with no announcement uploaded the tone stands in, and one
warning says so. The file comes in as an admin's upload would (44.1 kHz stereo WAV), installed by
the scenario's `announcement` key, and is found in the far leg of the decoded MP3 by correlation."""
from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile

import simtools as st
from appliance.notice import stored
from appliance.notice.convert import STORE_RATE, Facts, resample
from appliance.sim.played import LATENCY_S
from appliance.store import db as dbmod
from test_consent import LANDS_WITHIN, bursts, scenario

FILE_RATE = 44100
ANNOUNCEMENT_S = 2.5


def announcement_wav(path, seconds: float = ANNOUNCEMENT_S, level: float = 0.3):
    """A stand-in for a spoken announcement, stereo at 44.1 kHz: a sweep through the telephone
    band, syllable by syllable (4 per second), so it is found by correlation and not by pitch."""
    t = np.arange(int(seconds * FILE_RATE)) / FILE_RATE
    sweep = np.sin(2 * np.pi * (300 * t + (2700 / (2 * seconds)) * t ** 2))
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    mono = level * sweep * syllables
    soundfile.write(str(path), np.stack([mono, 0.8 * mono], axis=1), FILE_RATE, subtype="PCM_16")
    return path, mono


def find(far: np.ndarray, rate: int, mono: np.ndarray) -> tuple[float, float]:
    """Where the announcement starts in the far leg (s) and how alike they are there (the
    normalised correlation, 1.0 for the very same samples)."""
    ref = resample(mono, FILE_RATE, rate)
    corr = np.correlate(far, ref, mode="valid")
    lag = int(np.argmax(np.abs(corr)))
    piece = far[lag:lag + len(ref)]
    return lag / rate, float(abs(corr[lag]) / (np.linalg.norm(piece) * np.linalg.norm(ref) + 1e-12))


def _simulate(tmp_path, consent="announcement", direction="inbound", call="rings = 1", talk=8.0, with_file=True):
    path, mono = announcement_wav(tmp_path / "notice.wav")
    appliance = 'announcement = "file:notice.wav"' if with_file else ""
    text = scenario(consent, talk, appliance=appliance + "\n    settings = { beep_interval_s = 5 }",
                    direction=direction, call=call)
    data = tmp_path / "data"
    st.check("simulate", st.write_scenario(tmp_path, text), "--data", data)
    [row] = st.calls(data)
    audio, rate = st.decode(data, row)
    return row, audio, rate, mono, st.events(data)


def test_an_answered_call_hears_the_announcement_at_once(tmp_path):
    row, audio, rate, mono, events = _simulate(tmp_path)
    start, alike = find(audio[:, 1], rate, mono)
    assert alike > 0.9, alike
    assert row["preroll_s"] <= start <= row["preroll_s"] + LANDS_WITHIN, (start, row["preroll_s"])
    _, near_alike = find(audio[:, 0], rate, mono)
    assert near_alike < 0.3, "the announcement goes to the line, not to the office"
    [played] = [e for e in events if e["kind"] == "announcement"]
    assert played["call_id"] == row["id"]
    assert played["detail"] == {"consent": "announcement", "duration_s": ANNOUNCEMENT_S}
    assert not [e for e in events if e["kind"] in ("beep", "warning")]


def test_an_outgoing_call_hears_it_once_the_dialing_is_over(tmp_path):
    row, audio, rate, mono, events = _simulate(tmp_path, direction="outbound", call='dial = "5551234"', talk=9.0)
    start, alike = find(audio[:, 1], rate, mono)
    assert alike > 0.9, alike
    digits = [e for e in events if e["kind"] == "digit"]
    assert "".join(e["detail"]["digit"] for e in digits) == "5551234"
    # The last digit is keyed 0.5 + 6 x 0.14 s after the off-hook; the notice waits 3 s after it.
    last_digit = row["preroll_s"] + 0.5 + 6 * 0.14
    assert last_digit + 3.0 <= start <= last_digit + 3.0 + LANDS_WITHIN, (start, last_digit)
    dialing = audio[int(row["preroll_s"] * rate):int((last_digit + 0.2) * rate), 1]
    assert st.rms_dbfs(dialing) < -60, "nothing is played onto the line while it is being dialed"
    [played] = [e for e in events if e["kind"] == "announcement"]
    assert st.ts(played["at"]) - st.ts(digits[-1]["at"]) >= 3.0


def test_announcement_then_the_tone_every_interval(tmp_path):
    row, audio, rate, mono, events = _simulate(tmp_path, consent="announcement+periodic", talk=14.0)
    start, alike = find(audio[:, 1], rate, mono)
    assert alike > 0.9
    after = int((start + ANNOUNCEMENT_S + 0.1) * rate)      # the sweep passes 1400 Hz on its way
    tones = [after / rate + b[0] for b in bursts(audio[after:, 1], rate, 1400)]
    expected = [start + ANNOUNCEMENT_S + 5, start + ANNOUNCEMENT_S + 10]
    assert len(tones) == 2 and all(abs(got - want) <= 0.05 for got, want in zip(tones, expected)), (tones, expected)
    assert [e["kind"] for e in events if e["kind"] in ("announcement", "beep")] == ["announcement", "beep", "beep"]


def test_with_no_announcement_uploaded_the_tone_stands_in_and_one_warning_says_so(tmp_path):
    row, audio, rate, mono, events = _simulate(tmp_path, with_file=False)
    found = bursts(audio[:, 1], rate, 1400)
    assert len(found) == 1 and abs(found[0][1] - found[0][0] - 0.5) <= 0.03, found
    [warning] = [e for e in events if e["kind"] == "warning"]
    assert "none has been uploaded" in warning["detail"]["message"]
    assert [e["detail"]["consent"] for e in events if e["kind"] == "beep"] == ["announcement"]
    assert not [e for e in events if e["kind"] == "announcement"]
    assert LATENCY_S < 1


def test_a_scenario_whose_announcement_cannot_serve_is_refused_and_writes_nothing(tmp_path):
    announcement_wav(tmp_path / "whisper.wav", level=0.005)
    data = tmp_path / "data"
    for file, says in (("whisper.wav", "too quiet for a phone line"), ("missing.wav", "not found")):
        text = scenario("announcement", appliance=f'announcement = "file:{file}"')
        proc = st.run("simulate", st.write_scenario(tmp_path, text), "--data", data)
        assert proc.returncode != 0
        line = st.one_error_line(proc)
        assert "appliance.announcement" in line and says in line, line
    assert not data.exists(), "nothing is written for a refused scenario"


@pytest.mark.slow
def test_a_new_announcement_is_heard_from_the_next_call_without_a_restart(tmp_path):
    """At realtime: the first call hears the scenario's announcement; then a new one is stored as
    the page stores it, and the next call, with the recorder still running, hears the new one."""
    _, first = announcement_wav(tmp_path / "notice.wav")
    t = np.arange(int(2.0 * FILE_RATE)) / FILE_RATE
    second = 0.3 * np.sin(2 * np.pi * (3000 * t - (2700 / 4.0) * t ** 2))      # a sweep down, 2 s
    text = scenario("announcement", talk=3.0, appliance='announcement = "file:notice.wav"') + """
    [[call]]
    line = 1
    at = 10.0
    direction = "inbound"
    rings = 1
    talk = 4.0
    near = "tone:440@-12"
    far = "silence"
"""
    data = tmp_path / "data"
    proc = st.start("simulate", st.write_scenario(tmp_path, text), "--data", data, "--speed", "realtime")
    try:
        deadline = time.monotonic() + 30
        while not _announcements(data):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "late"
            time.sleep(0.1)
        samples = np.round(resample(second, FILE_RATE, STORE_RATE) * 32767).astype(np.int16)
        stored.save(data, samples, Facts(2.0, -10.5, -13.5, "WAV, 44100 Hz, mono"), "new.wav", "admin")
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        proc.kill()
    one, two = st.calls(data)
    for row, heard, not_heard in ((one, first, second), (two, second, first)):
        audio, rate = st.decode(data, row)
        assert find(audio[:, 1], rate, heard)[1] > 0.9, row["id"]
        assert find(audio[:, 1], rate, not_heard)[1] < 0.5, row["id"]
    assert [e["detail"]["duration_s"] for e in st.events(data) if e["kind"] == "announcement"] == [2.5, 2.0]


def _announcements(data) -> int:
    if not (data / "hookline.db").exists():
        return 0
    db = dbmod.connect(data)
    try:
        return db.execute("SELECT count(*) FROM call_events WHERE kind = 'announcement'").fetchone()[0]
    finally:
        db.close()
