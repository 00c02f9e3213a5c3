"""Waveform peaks: measured while recording from the frames that go into the MP3 (pre-roll
included), stored per call, and the same for a call recovered after kill -9 (measured then by
decoding the recovered file). Checked against the decoded MP3, leg by leg."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

import simtools as st
from appliance.recording import peaks
from appliance.store import db as dbmod, peaks as peak_store

RATE = 8000
SLOT = RATE // peaks.PER_S
TONE_AT_S = 3.0        # the third call's near leg is silent until this far into the call

SCENARIO = """
[appliance]
start = "2026-03-15T14:12:00Z"
sample_rate = 8000

[[line]]
id = 1
offhook = "gpio"

[[line]]
id = 2
offhook = "gpio"

[[line]]
id = 3
offhook = "gpio"

[[call]]
line = 1
at = 1.5
direction = "outbound"
talk = 4.0
near = "tone:440@-6"
far = "silence"

[[call]]
line = 2
at = 1.5
direction = "outbound"
talk = 4.0
near = "silence"
far = "tone:1000@-6"

[[call]]
line = 3
at = 1.5
direction = "outbound"
talk = 6.0
near = "file:late_tone.wav"
far = "silence"

[[call]]
line = 1
at = 8.0
direction = "outbound"
talk = 1.0
near = "tone:440@-6"
"""


def decoded_peaks(data: Path, row: dict) -> np.ndarray:
    """Peaks of the decoded MP3, computed here without the product's code: (slots, 2), 0..255."""
    audio, rate = soundfile.read(str(data / row["path"]), dtype="float64", always_2d=True)
    assert rate == RATE
    n = -(-len(audio) // SLOT)
    padded = np.zeros((n * SLOT, 2))
    padded[:len(audio)] = np.abs(audio)
    return np.minimum(np.round(padded.reshape(n, SLOT, 2).max(axis=1) * 255), 255)


def stored_peaks(data: Path, call_id: str) -> dict | None:
    db = dbmod.connect(data)
    try:
        return peak_store.load_peaks(db, call_id)
    finally:
        db.close()


def check_against_mp3(data: Path, row: dict) -> np.ndarray:
    """The stored peaks have the file's length and follow its audio on both legs; returns them."""
    got = stored_peaks(data, row["id"])
    assert got is not None, "a finished call has peaks"
    assert got["per_s"] == peaks.PER_S == 20
    assert len(got["near"]) == len(got["far"])
    assert all(isinstance(v, int) and 0 <= v <= 255 for v in got["near"] + got["far"])
    assert abs(len(got["near"]) - row["audio_s"] * peaks.PER_S) <= 2, (len(got["near"]), row["audio_s"])
    stored = np.array([got["near"], got["far"]], dtype=float).T
    mp3 = decoded_peaks(data, row)
    assert abs(len(stored) - len(mp3)) <= 1
    n = min(len(stored), len(mp3))
    stored, mp3 = stored[:n], mp3[:n]
    for leg in (0, 1):
        loud = mp3[:, leg] > 40
        quiet = mp3[:, leg] < 3
        # Slots next to an edge may go either way (a slot is 50 ms; the codec smears a little).
        edge = np.convolve(loud.astype(int), [1, 1, 1], "same") % 3 != 0
        assert np.all(stored[loud & ~edge, leg] > 40), leg
        assert np.all(stored[quiet & ~edge, leg] < 8), leg
        both = loud & ~edge
        if both.any():   # lossy codec at 32 kbit/s: the level is close, not equal
            assert np.median(np.abs(stored[both, leg] - mp3[both, leg])) < 15
    return stored


def onset_slot(values: np.ndarray, threshold: float = 40) -> int:
    loud = np.flatnonzero(values > threshold)
    assert len(loud), "never loud"
    return int(loud[0])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[Path, list[dict]]:
    base = tmp_path_factory.mktemp("peaks")
    t = np.arange(int(6.5 * RATE)) / RATE
    late = np.where(t >= TONE_AT_S, 0.5 * np.sin(2 * np.pi * 700 * t), 0.0)
    soundfile.write(base / "late_tone.wav", late, RATE, subtype="PCM_16")
    scenario = st.write_scenario(base, SCENARIO)
    data = base / "data"
    st.simulate(scenario, data)
    return data, st.calls(data)


def test_near_loud_far_silent_then_the_opposite(recorded):
    data, rows = recorded
    near_call = next(r for r in rows if r["line"] == 1 and r["status"] == "complete")
    far_call = next(r for r in rows if r["line"] == 2)
    for row, loud_leg in ((near_call, 0), (far_call, 1)):
        stored = check_against_mp3(data, row)
        quiet_leg = 1 - loud_leg
        assert stored[:, quiet_leg].max() < 3, "the silent leg stays flat"
        # -6 dBFS peaks at 0.5 of full scale: 128 of 255 (a little less after the MP3 round trip)
        talk = stored[int((row["preroll_s"] + 1) * 20): int((row["preroll_s"] + row["duration_s"]) * 20)]
        assert np.all(np.abs(talk[:, loud_leg] - 128) <= 12), talk[:, loud_leg]


def test_pre_roll_is_in_the_peaks_and_a_tone_starting_mid_call_starts_there(recorded):
    data, rows = recorded
    row = next(r for r in rows if r["line"] == 3)
    assert row["preroll_s"] == pytest.approx(st.PREROLL_S, abs=0.01)
    stored = check_against_mp3(data, row)
    mp3 = decoded_peaks(data, row)
    # Slot 0 is the first sample of the file, i.e. the start of the pre-roll: the tone that
    # starts TONE_AT_S into the call sits pre-roll + TONE_AT_S (+ the codec's delay) into it.
    expected = (row["preroll_s"] + TONE_AT_S) * peaks.PER_S + peaks.DECODER_DELAY / SLOT
    assert abs(onset_slot(stored[:, 0]) - expected) <= 1.5, (onset_slot(stored[:, 0]), expected)
    assert abs(onset_slot(stored[:, 0]) - onset_slot(mp3[:, 0])) <= 1
    assert stored[: int(expected) - 1, 0].max() < 3, "silent before the tone, pre-roll included"
    assert stored[:, 1].max() < 3


def test_a_discarded_call_has_no_peaks(recorded):
    data, rows = recorded
    [short] = [r for r in rows if r["status"] == "discarded"]
    assert stored_peaks(data, short["id"]) is None


# -- after kill -9 -------------------------------------------------------------------------------
LONG = """
[appliance]
start = "2026-03-15T14:12:00Z"
sample_rate = 8000

[[line]]
id = 1
offhook = "gpio"

[[call]]
line = 1
at = 0.5
direction = "outbound"
talk = 60.0
near = "tone:440@-12"
far = "silence"
"""


def _stream_s(data: Path) -> float:
    try:
        return json.loads((data / "run" / "status.json").read_text())["lines"][0]["stream_s"]
    except (OSError, ValueError, KeyError, IndexError):
        return 0.0


@pytest.mark.slow
def test_a_call_recovered_after_kill_9_gets_its_peaks(tmp_path):
    data = tmp_path / "data"
    scenario = st.write_scenario(tmp_path, LONG)
    proc = st.start("simulate", scenario, "--data", data, "--speed", "realtime")
    try:
        deadline = time.monotonic() + 30
        while _stream_s(data) < 5.0:
            assert time.monotonic() < deadline and proc.poll() is None, "the call never got going"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    [row] = st.calls(data)
    assert row["status"] == "recording"
    assert stored_peaks(data, row["id"]) is None, "nothing is stored before the call is finished"

    st.check("recover", "--data", data)
    [row] = st.calls(data)
    assert row["status"] == "recovered"
    stored = check_against_mp3(data, row)
    # -12 dBFS: a quarter of full scale, 64 of 255, from the off-hook (after the pre-roll) on.
    talk = stored[int((row["preroll_s"] + 0.5) * 20): -3]
    assert len(talk) > 40 and np.all(np.abs(talk[:, 0] - 64) <= 8)
    assert stored[:, 1].max() < 3
    assert stored[: int(row["preroll_s"] * 20), 0].max() < 3, "the pre-roll was quiet"


# -- the meter itself ----------------------------------------------------------------------------
def test_meter_gives_the_same_peaks_whatever_the_chunk_sizes():
    rng = np.random.default_rng(7)
    frames = (rng.standard_normal((RATE * 3 + 123, 2)) * 3000).astype(np.int16)
    frames[5000, 0] = -32768      # |-32768| does not fit int16: must still read as full scale
    frames[9001, 1] = 32767
    whole = peaks.PeakMeter(RATE)
    whole.feed(frames)
    expected = whole.finish()
    for sizes in ([160], [1], [399, 401], [7, 800, 1201]):
        meter, i, k = peaks.PeakMeter(RATE), 0, 0
        while i < len(frames):
            n = sizes[k % len(sizes)]
            meter.feed(frames[i:i + n])
            i, k = i + n, k + 1
        assert meter.finish() == expected, sizes
    near, far = expected
    lead = peaks.DECODER_DELAY // SLOT
    assert near[:lead] == far[:lead] == bytes(lead), "the decoder's delay is silence"
    assert near[(5000 + peaks.DECODER_DELAY) // SLOT] == 255
    assert far[(9001 + peaks.DECODER_DELAY) // SLOT] == 255
    assert len(near) == -(-(len(frames) + peaks.DECODER_DELAY) // SLOT)


def test_meter_rounds_and_pads_to_the_file_length():
    meter = peaks.PeakMeter(RATE, lead=0)
    values = [0, 64, 65, 128, 16384, 32767]
    for v in values:
        meter.feed(np.full((SLOT, 2), v, dtype=np.int16))
    near, far = meter.finish(total_samples=(len(values) + 2) * SLOT + 1)
    assert list(near[:len(values)]) == [round(v * 255 / 32768) for v in values] == [0, 0, 1, 1, 128, 255]
    assert near == far and len(near) == len(values) + 3 and near[len(values):] == bytes(3)
    short = peaks.PeakMeter(RATE, lead=0)
    short.feed(np.full((SLOT * 4, 2), 1000, dtype=np.int16))
    assert len(short.finish(total_samples=SLOT * 2)[0]) == 2, "never more slots than the file has"
