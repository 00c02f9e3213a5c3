"""The built-in demo (appliance/sim/demo.toml) looks like an office: one loop of it through the
real daemon under the simulator gives inbound calls with caller names and numbers, outbound calls
with the numbers dialed, a short call discarded, rings from a modem and from a sense input, and
real speech (espeak-ng phrases, appliance/sim/voices/) on both legs of every call, each party on
their own leg."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

import simtools as st
from appliance.sim import runner, scenario as scenariomod
from appliance.store import box, db as dbmod

DEMO = runner.DEMO_SCENARIO
VOICES = DEMO.parent / "voices"
WINDOW_S = 0.1


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data = tmp_path_factory.mktemp("demo") / "data"
    st.simulate(DEMO, data)
    return data, st.calls(data), st.events(data)


def test_the_demo_has_inbound_calls_with_names_and_numbers_and_outbound_calls_with_dialed_numbers(demo):
    _, calls, _ = demo
    seen = {(c["line"], c["direction"], c["remote_name"], c["remote_number"], c["dialed"], c["status"]) for c in calls}
    assert seen == {
        (1, "inbound", "ACME PLUMBING", "4155550123", None, "complete"),
        (1, "outbound", None, None, "4155550188", "complete"),
        (1, "inbound", "MILLER JANE", "4155550166", None, "complete"),
        (2, "outbound", None, None, "4155550147", "complete"),
        (2, "inbound", None, None, None, "discarded"),        # the wrong number, hung up at once
        (2, "inbound", None, None, None, "complete"),         # answered after the sense input saw two rings
    }
    assert all(c["path"] and ("_in_" in c["path"] or "_out_" in c["path"]) for c in calls if c["status"] == "complete")


def test_the_demo_rings_through_a_modem_and_a_sense_input_and_says_why_a_call_was_not_kept(demo):
    _, calls, events = demo
    rings = [e for e in events if e["kind"] == "ring"]
    assert len([e for e in rings if e["line"] == 1 and "device" in e["detail"]]) == 3, "2 + 1 from the modem"
    assert len([e for e in rings if e["line"] == 2 and e["detail"] == {"source": "sense"}]) == 3, "1 + 2, sensed"
    [short] = [c for c in calls if c["status"] == "discarded"]
    assert [e for e in events if e["kind"] == "discard" and e["call_id"] == short["id"]]


def test_the_demo_box_has_names_a_zone_and_a_region(demo):
    data, _, _ = demo
    db = dbmod.connect(data)
    try:
        facts = box.facts(db)
    finally:
        db.close()
    assert (facts.timezone, facts.phone_region) == ("America/Los_Angeles", "US")
    assert {i: (f.name, f.wiring, f.callerid) for i, f in facts.lines.items()} == {
        1: ("Front desk", "gpio", True), 2: ("Workshop", "gpio", False)}


def _levels(x: np.ndarray, rate: int) -> np.ndarray:
    """RMS level in dBFS of each WINDOW_S of x."""
    w = int(WINDOW_S * rate)
    n = len(x) // w
    frames = x[:n * w].reshape(n, w)
    return 20 * np.log10(np.maximum(np.sqrt(np.mean(frames ** 2, axis=1)), 1e-9))


def _voice(source: scenariomod.Source | None, rate: int, n: int) -> np.ndarray:
    """The source's levels per window over n windows (silence: -180)."""
    if source is None or source.kind != "file":
        return np.full(n, -180.0)
    audio, file_rate = soundfile.read(str(source.path), dtype="float64")
    assert file_rate == rate
    levels = _levels(audio, rate)
    return np.concatenate([levels, np.full(max(0, n - len(levels)), -180.0)])[:n]


@pytest.mark.parametrize("index", [1, 2, 4, 5, 6])
def test_each_party_speaks_on_their_own_leg_of_the_recording(demo, index):
    """Where a phrase plays in the scenario, the recording's leg has speech there: loud, with the
    ups and downs of syllables, in the telephone band; the other leg only has the line's hiss."""
    data, calls, _ = demo
    sc = scenariomod.load(DEMO)
    call = next(c for c in sc.calls if c.index == index)
    row = next(c for c in calls if c["status"] == "complete" and c["line"] == call.line
               and abs(st.ts(c["started_at"]) - sc.start - call.offhook_s) < 0.1)
    audio, rate = st.decode(data, row)
    # The sources start at the speech start; the file has the pre-roll before the off-hook, and
    # the codec's delay.
    lead = int(round((row["preroll_s"] + call.speech_start_s - call.offhook_s) * rate)) + st.CODEC_DELAY
    recorded = [_levels(audio[lead:, leg], rate) for leg in (0, 1)]
    n = len(recorded[0])
    sources = [_voice(call.near, rate, n), _voice(call.far, rate, n)]
    for leg, name in ((0, "near"), (1, "far")):
        speaking = sources[leg] > -40
        only_other = (sources[1 - leg] > -40) & (sources[leg] < -100)
        assert speaking.sum() * WINDOW_S > 2.0, f"call[{index}] {name}: hardly any speech in the demo's file"
        heard = recorded[leg][speaking]
        assert np.median(heard) > -30, f"call[{index}] {name}: the phrases are not loud on their leg"
        assert np.std(heard) > 3, f"call[{index}] {name}: a steady level is a tone, not speech"
        assert np.median(recorded[leg][only_other]) < -45, f"call[{index}] {name}: the other party leaks in"
        span = audio[lead:lead + int(n * WINDOW_S * rate), leg][np.repeat(speaking, int(WINDOW_S * rate))]
        freqs, mag = st.spectrum(span, rate)
        power = mag ** 2 / np.sum(mag ** 2)
        spread = [np.sum(power[(freqs >= lo) & (freqs < hi)]) for lo, hi in ((100, 1000), (1000, 3800))]
        assert min(spread) > 0.05 and sum(spread) > 0.95, f"call[{index}] {name}: {spread} is not a voice's spectrum"


def test_every_demo_conversation_ends_before_its_call_and_never_repeats():
    sc = scenariomod.load(DEMO)
    for call in sc.calls:
        talk_after_start = call.onhook_s - call.speech_start_s
        for source in (call.near, call.far):
            if source.kind != "file":
                continue
            audio, rate = soundfile.read(str(source.path), dtype="float64")
            assert len(audio) / rate >= talk_after_start, f"call[{call.index}]: {source.path.name} would loop"
            if call.talk >= 5:       # the short wrong-number call is cut off on purpose
                last_sound = np.flatnonzero(np.abs(audio) > 0.01)[-1] / rate
                assert last_sound <= talk_after_start, f"call[{call.index}]: hung up on {source.path.name}"


def test_the_voice_script_remakes_the_shipped_files(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make test installs it)")
    subprocess.run([sys.executable, str(VOICES / "make_voices.py"), str(tmp_path)], check=True, capture_output=True)
    shipped = sorted(p.name for p in VOICES.glob("*.mp3"))
    assert sorted(p.name for p in tmp_path.glob("*.mp3")) == shipped
    for name in shipped:
        length = soundfile.info(str(VOICES / name)).duration
        assert soundfile.info(str(tmp_path / name)).duration == pytest.approx(length, rel=0.1), name
        assert (VOICES / name).stat().st_size < 64 * 1024, f"{name}: the package keeps its voices small"
