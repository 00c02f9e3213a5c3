"""The parts of pausing and masking on their own: the blanking stage (stretches replaced by the
fill, open ones until closed, the file's length kept), and the DTMF decoder's timing that the
recording's lag must cover (a key is known, and its end reported, before the encoder gets there)."""
from __future__ import annotations

import numpy as np
import pytest

from appliance.audio import tones
from appliance.audio.dtmf import DtmfDecoder
from appliance.line.blanking import TONE_DBFS, TONE_HZ, Blanks
from appliance.line.keyed import GUARD_S, MIN_LAG_S

RATE = 8000


def _frames(n: int, first: int = 0) -> np.ndarray:
    return (np.arange(first, first + n)[:, None] % 1000 + 1).repeat(2, axis=1).astype(np.int16)


def test_a_stretch_is_replaced_by_silence_of_the_same_length_on_both_legs():
    blanks = Blanks(RATE)
    blanks.add(100, 300)
    out = blanks.apply(_frames(1000), 0)
    assert out.shape == (1000, 2)
    assert not out[100:300].any() and out[:100].all() and out[300:].all()


def test_an_open_stretch_blanks_until_it_is_closed_across_chunks():
    blanks = Blanks(RATE)
    stretch = blanks.add(150)
    first = blanks.apply(_frames(100, 100), 100)
    assert first[:50].all() and not first[50:].any()
    blanks.close(stretch, 260)
    second = blanks.apply(_frames(100, 200), 200)
    assert not second[:60].any() and second[60:].all()
    assert blanks.apply(_frames(100, 300), 300).all() and blanks.stretches == [], "a past stretch is forgotten"


def test_frames_with_no_stretch_are_handed_on_untouched():
    blanks = Blanks(RATE)
    frames = _frames(100)
    assert blanks.apply(frames, 0) is frames


def test_the_tone_fill_is_a_soft_425_hz_tone_continuous_across_chunks():
    blanks = Blanks(RATE)
    blanks.add(0, RATE, fill="tone")
    out = np.concatenate([blanks.apply(_frames(160, i), i) for i in range(0, RATE, 160)])[:, 0] / 32768
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    assert np.argmax(spectrum) * RATE / len(out) == pytest.approx(TONE_HZ, abs=2)
    assert 20 * np.log10(np.abs(out).max()) == pytest.approx(TONE_DBFS, abs=0.5)


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("period_ms", [5, 20])
def test_the_recording_lag_covers_the_decoder_and_the_guard(rate, period_ms):
    """Fed one period at a time, the decoder knows a key (and later its end) while the recording,
    MIN_LAG_S behind, has not yet reached the key's tone minus the guard (nor its end plus it)."""
    start, length = int(0.3 * rate), int(0.04 * rate)          # the shortest tone that always counts
    stream = np.zeros(rate)
    stream[start:start + length] = tones.dtmf("7", -20, 0, length, rate)
    stream = np.round(stream * 32767).astype(np.int16)
    decoder, period, lag, guard = DtmfDecoder(rate), rate * period_ms // 1000, int(MIN_LAG_S * rate), int(GUARD_S * rate)
    known = ended = None
    for pos in range(0, rate, period):
        found = decoder.feed(stream[pos:pos + period], pos)
        released = decoder.take_releases()
        if found:
            [(digit, frame)] = found
            assert digit == "7" and abs(frame - start) <= 0.005 * rate
            known = pos + period
            assert known - lag <= frame - guard, "the recording would have passed the key's start"
        if released:
            [(_, end)] = released
            ended = pos + period
            assert abs(end - (start + length)) <= 0.006 * rate
            assert ended - lag <= end + guard
    assert known is not None and ended is not None
