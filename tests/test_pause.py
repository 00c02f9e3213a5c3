"""Pausing a call's recording for a card payment, and masking keyed digits, measured in the
decoded MP3 of simulated calls: a pause by the keypad code (*1 ... *2) and by the line's button
is silence of the same length, the codes' tones are not in the file, no digit keyed while paused
reaches the catalog; a pause ends by itself after pause_max_s, and is carried across a split;
with mask_dtmf on, a card number keyed after dialing cannot be decoded from the file and is not
stored, and one `masked` event counts its keys."""
from __future__ import annotations

import numpy as np
import pytest

import simtools as st
from appliance.audio.dtmf import DtmfDecoder

SCENARIO = """
    [appliance]
    start = "2026-03-15T14:12:00Z"

    [[line]]
    id = 1
    callerid = "modem"

    [[line]]
    id = 2
    settings = { mask_dtmf = true }

    [[line]]
    id = 3
    settings = { pause_max_s = 10, max_call_s = 10, pause_fill = "tone" }

    # Line 1: an answered call; the office keys *1, then digits while paused, then *2; later the
    # line's button pauses and resumes it (scenario seconds: off-hook at 10).
    [[call]]
    line = 1
    at = 2.0
    rings = 2
    caller_id = { number = "4155550123" }
    talk = 20.0
    near = "noise@-30"
    far = "noise@-30"
    keys = [{ at = 3.0, digits = "*1" }, { at = 5.0, digits = "1234" }, { at = 8.0, digits = "*2" },
            { at = 10.0, digits = "9" }]

    [[action]]
    line = 1
    at = 23.0
    kind = "pause-button"

    [[action]]
    line = 1
    at = 25.5
    kind = "resume-button"

    # Line 2: an outgoing call; after dialing, a card number keyed on the keypad.
    [[call]]
    line = 2
    at = 1.0
    direction = "outbound"
    dial = "5551234"
    talk = 16.0
    near = "noise@-30"
    far = "noise@-30"
    keys = [{ at = 6.0, digits = "4111111111111111" }]

    [[action]]
    line = 2
    at = 15.0
    kind = "pause-button"           # and hung up while paused

    # Line 3: paused by its button and never resumed: it resumes by itself after pause_max_s,
    # across the split at max_call_s.
    [[call]]
    line = 3
    at = 1.0
    direction = "outbound"
    talk = 15.0
    near = "noise@-30"
    far = "noise@-30"

    [[action]]
    line = 3
    at = 4.0
    kind = "pause-button"
"""

FILL_DBFS = -55.0       # silence: both legs below this in every 5 ms window (the noise is at -30)


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    base = tmp_path_factory.mktemp("pause")
    data = base / "data"
    st.simulate(st.write_scenario(base, SCENARIO), data)
    calls = {}
    for call in st.calls(data):
        calls.setdefault(call["line"], []).append(call)
    return data, calls, st.events(data)


def _audio(data, call):
    """The call's decoded MP3 from its first frame (the codec's delay taken off) and its rate."""
    audio, rate = st.decode(data, call)
    return audio[st.CODEC_DELAY:], rate


def _file_s(call, event) -> float:
    """Where an event falls in the call's file (seconds)."""
    return st.ts(event["at"]) - st.ts(call["started_at"]) + call["preroll_s"]


def _levels(audio, rate, step_s=0.005):
    step = int(step_s * rate)
    n = len(audio) // step
    power = np.mean(np.square(audio[:n * step].reshape(n, step, 2)), axis=1)
    return 10 * np.log10(np.maximum(power.max(axis=1), 1e-12)), step_s


def _quiet(audio, rate, start_s, end_s) -> bool:
    levels, step = _levels(audio, rate)
    return bool(np.all(levels[int(start_s / step):int(end_s / step)] < FILL_DBFS))


def _loud(audio, rate, start_s, end_s) -> bool:
    levels, step = _levels(audio, rate)
    return bool(np.all(levels[int(start_s / step):int(end_s / step)] > -40))


def _keys_in(audio, rate) -> str:
    near = np.round(audio[:, 0] * 32767).astype(np.int16)
    return "".join(digit for digit, _ in DtmfDecoder(rate).feed(near, 0))


def _of(events, call, *kinds):
    return [e for e in events if e["call_id"] == call["id"] and e["kind"] in kinds]


def test_a_pause_by_keypad_and_by_button_is_silence_of_the_same_length(office):
    data, calls, events = office
    [call] = calls[1]
    audio, rate = _audio(data, call)
    assert len(audio) / rate == pytest.approx(call["preroll_s"] + call["duration_s"], abs=0.1)
    windows = _of(events, call, "paused", "resume")
    assert [(e["kind"], e["detail"]["by"]) for e in windows] == [
        ("paused", "keypad"), ("resume", "keypad"), ("paused", "button"), ("resume", "button")]
    keypad_on, keypad_off, button_on, button_off = (_file_s(call, e) for e in windows)
    # The keypad pause begins at the code's last key (at 3.14 s of talk), the button's on the press.
    assert keypad_on == pytest.approx(call["preroll_s"] + 3.14, abs=0.01)
    assert button_off - button_on == pytest.approx(2.5, abs=0.03)
    for on, off in ((keypad_on, keypad_off), (button_on, button_off)):
        assert _quiet(audio, rate, on + 0.02, off - 0.02), (on, off)
    # The button's pause is silent to within 20 ms of its ends, and not a moment more.
    assert _loud(audio, rate, button_on - 0.06, button_on - 0.02)
    assert _loud(audio, rate, button_off + 0.02, button_off + 0.06)
    # The codes' tones are not in the file; the key after resuming is.
    assert _keys_in(audio, rate) == "9"


def test_no_key_keyed_while_paused_reaches_the_catalog(office):
    data, calls, events = office
    [call] = calls[1]
    assert [e["detail"]["digit"] for e in _of(events, call, "digit")] == ["9"]
    assert call["dialed"] is None       # an answered call collects no dialed digits


def test_masked_card_digits_cannot_be_recovered_from_the_file(office):
    data, calls, events = office
    [call] = calls[2]
    audio, rate = _audio(data, call)
    assert _keys_in(audio, rate) == "5551234", "only the number dialed is in the file"
    assert call["dialed"] == "5551234"
    assert "".join(e["detail"]["digit"] for e in _of(events, call, "digit")) == "5551234"
    [masked] = _of(events, call, "masked")
    assert masked["detail"] == {"keys": 16}
    assert len(audio) / rate == pytest.approx(call["preroll_s"] + call["duration_s"], abs=0.1)
    # Paused 2 s before hanging up: the pause ends with the call, silent to the end of the file.
    [paused, ended] = _of(events, call, "paused", "resume")
    assert ended["detail"]["ended"] == "call-end" and ended["detail"]["after_s"] == pytest.approx(2.0, abs=0.02)
    assert _quiet(audio, rate, _file_s(call, paused) + 0.02, len(audio) / rate - 0.2)
    # The talk around the keys is still there.
    keys_s = call["preroll_s"] + 6.0
    assert _loud(audio, rate, keys_s - 0.5, keys_s - 0.05)
    assert _loud(audio, rate, keys_s + 16 * 0.14 + 0.05, keys_s + 16 * 0.14 + 0.5)


def test_a_pause_resumes_by_itself_and_is_carried_across_a_split(office):
    data, calls, events = office
    first, second = sorted(calls[3], key=lambda c: c["part"])
    assert [(e["kind"], e["detail"].get("ended"), e["detail"].get("continued")) for e in
            _of(events, first, "paused", "resume")] == [("paused", None, None), ("resume", "split", None)]
    [carried, ended] = _of(events, second, "paused", "resume")
    assert carried["detail"]["continued"] is True
    assert ended["detail"]["automatic"] is True and ended["detail"]["by"] == "timer"
    assert st.ts(ended["at"]) - st.ts(_of(events, first, "paused")[0]["at"]) == pytest.approx(10.0, abs=0.01)
    # pause_fill = tone: a soft 425 Hz tone stands in, on both legs, to the end of the pause.
    audio, rate = _audio(data, second)
    end_s = _file_s(second, ended)
    held = audio[int(0.1 * rate):int((end_s - 0.05) * rate)]
    assert st.dominant_hz(held[:, 0], rate) == pytest.approx(425, abs=5)
    assert st.dominant_hz(held[:, 1], rate) == pytest.approx(425, abs=5)
    assert -40 < st.rms_dbfs(held[:, 1]) < -30
    assert _loud(audio, rate, end_s + 0.02, end_s + 1.0)


def test_the_call_page_lists_each_parts_own_pause_window(office):
    from appliance.present.pause_events import windows
    data, calls, events = office
    first, second = sorted(calls[3], key=lambda c: c["part"])
    [before] = windows(first, events)
    assert (before["start_s"], before["length_s"], before["by"]) == (4.0, 7.0, "the line's pause button")
    assert before["ended"] == "The pause goes on in the next part"
    [after] = windows(second, events)
    assert after["continued"] and (after["start_s"], after["length_s"]) == (0.0, 3.0)   # to 10 s after the press
    assert after["ended"] == "Recording resumed by itself after 10 seconds, the longest pause allowed"
