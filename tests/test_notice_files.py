"""The notice's parts on their own: decoding and checking an upload (real WAV, MP3 and FLAC bytes
through libsndfile), band-limited conversion to the line's rate, the files it is kept in, the
recorder picking up a new one (or its removal) with no restart, and when the line's
Consent plays what (stream time, a stand-in player that counts samples)."""
from __future__ import annotations

import io

import lameenc
import numpy as np
import pytest
import soundfile

from appliance.line.consent import Consent
from appliance.notice import convert, stored


def encoded(mono: np.ndarray, rate: int, fmt: str = "WAV", channels: int = 1) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, np.stack([mono] * channels, axis=1), rate, format=fmt,
                    subtype="PCM_16" if fmt in ("WAV", "FLAC") else None)
    return buf.getvalue()


def sine(hz: float, seconds: float, rate: int, level: float = 0.5) -> np.ndarray:
    return level * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)


def level_at(x: np.ndarray, rate: int, hz: float) -> float:
    """The amplitude of the component at hz (a sine of amplitude a reads a)."""
    t = np.arange(len(x)) / rate
    return float(2 * abs(np.dot(x, np.exp(-2j * np.pi * hz * t))) / len(x))


def test_a_stereo_wav_at_44k1_becomes_mono_int16_at_the_kept_rate():
    samples, facts = convert.decode(encoded(sine(1000, 2.0, 44100), 44100, channels=2))
    assert samples.dtype == np.int16 and samples.ndim == 1 and len(samples) == 2 * convert.STORE_RATE
    assert facts.duration_s == 2.0 and facts.source == "WAV, 44100 Hz, 2 channels"
    assert facts.peak_dbfs == pytest.approx(-6.0, abs=0.1) and facts.rms_dbfs == pytest.approx(-9.0, abs=0.1)
    assert level_at(samples / 32767, convert.STORE_RATE, 1000) == pytest.approx(0.5, abs=0.01)


def test_an_mp3_decodes_too():
    rate = 22050
    pcm = np.round(sine(700, 3.0, rate) * 32767).astype(np.int16)
    enc = lameenc.Encoder()
    enc.set_bit_rate(64)
    enc.set_in_sample_rate(rate)
    enc.set_channels(1)
    samples, facts = convert.decode(bytes(enc.encode(pcm.tobytes()) + enc.flush()))
    assert facts.source.startswith("MP3, 22050 Hz") and abs(facts.duration_s - 3.0) < 0.1
    assert level_at(samples[1000:40000] / 32767, convert.STORE_RATE, 700) == pytest.approx(0.5, abs=0.05)


def test_converting_down_keeps_the_band_and_folds_nothing_back():
    x = sine(1000, 1.0, 48000) + sine(6000, 1.0, 48000)     # 6 kHz is above 8 kHz's Nyquist frequency
    y = convert.resample(x, 48000, 8000)
    assert len(y) == 8000
    assert level_at(y, 8000, 1000) == pytest.approx(0.5, abs=0.01)
    assert level_at(y, 8000, 2000) < 0.005, "6 kHz would fold back to 2 kHz"


BAD = {       # what is uploaded -> what the refusal says
    "nothing": (lambda: b"", "The file is empty"),
    "a pdf": (lambda: b"%PDF-1.4 not audio at all" * 50, "not a sound file Hookline can read"),
    "a flac": (lambda: encoded(sine(500, 1.0, 16000), 16000, fmt="FLAC"), "This is a FLAC"),
    "31 s": (lambda: encoded(sine(500, 31.0, 8000), 8000), "too long: 31.0 s (at most 30 s)"),
    "silence": (lambda: encoded(np.zeros(16000), 16000), "holds no sound at all"),
    "a whisper": (lambda: encoded(sine(500, 2.0, 16000, level=0.02), 16000),
                  "its loudest moment is -34 dBFS and its average level -37 dBFS"),
}


@pytest.mark.parametrize("what", BAD)
def test_what_cannot_serve_is_refused_with_its_reason(what):
    make, says = BAD[what]
    with pytest.raises(convert.NoticeError) as refused:
        convert.decode(make())
    assert says in str(refused.value)


def test_a_line_picks_up_a_new_announcement_and_its_removal_at_the_next_call(tmp_path):
    line = stored.AnnouncementFile(tmp_path, 8000)
    line.refresh()
    assert line.samples() is None
    first = stored.save(tmp_path, *convert.decode(encoded(sine(500, 1.0, 16000), 16000)), "a.wav", "admin")
    assert line.samples() is None, "the line's thread never loads: the daemon's refresh does"
    line.refresh()
    heard = line.samples()
    assert len(heard) == 8000 and level_at(heard / 32767, 8000, 500) == pytest.approx(0.5, abs=0.01)
    line.refresh()
    assert line.samples() is heard, "not loaded again while nothing changed"
    second = stored.save(tmp_path, *convert.decode(encoded(sine(900, 2.0, 16000), 16000)), "../b.wav\n", "admin")
    assert second["name"] == "b.wav" and second["sha256"] != first["sha256"]
    line.refresh()
    heard = line.samples()
    assert len(heard) == 16000 and level_at(heard / 32767, 8000, 900) == pytest.approx(0.5, abs=0.01)
    assert stored.remove(tmp_path)["name"] == "b.wav"
    line.refresh()
    assert line.samples() is None and stored.current(tmp_path) is None and stored.remove(tmp_path) is None


class Speaker:
    def __init__(self) -> None:
        self.played: list[int] = []

    def play(self, samples) -> None:
        self.played.append(len(samples))


SETTINGS = {"consent": "announcement+periodic", "beep_interval_s": 15, "beep_hz": 1400.0, "beep_ms": 500,
            "beep_dbfs": -12.0}


def test_the_notice_waits_for_the_dialing_then_plays_the_announcement_then_beeps(tmp_path):
    rate = 8000
    stored.save(tmp_path, *convert.decode(encoded(sine(500, 2.0, 16000), 16000)), "a.wav", "admin")
    speaker = Speaker()
    announcement = stored.AnnouncementFile(tmp_path, rate)
    announcement.refresh()
    consent = Consent(rate, speaker, announcement)
    consent.begin(0, "announcement+periodic", inbound=False)
    assert not consent.due(5 * rate - 1) and consent.due(5 * rate), "no digit at all: 5 s after the off-hook"
    consent.digit(1 * rate)
    consent.digit(2 * rate)
    assert not consent.due(5 * rate - 1) and consent.due(5 * rate), "3 s after the last digit"
    consent.digit(3 * rate)
    assert not consent.due(6 * rate - 1)
    assert consent.play(6 * rate, SETTINGS) == [("announcement", {"consent": "announcement+periodic",
                                                                  "duration_s": 2.0})]
    consent.digit(7 * rate)                         # keyed during the call: the notice has played
    assert consent.next_beep == (6 + 2 + 15) * rate, "one interval after the announcement ends"
    assert consent.play(23 * rate, SETTINGS)[0][0] == "beep" and consent.next_beep == 38 * rate
    assert speaker.played == [2 * rate, rate // 2]
    stored.remove(tmp_path)
    announcement.refresh()
    consent.begin(0, "announcement", inbound=True)
    assert [kind for kind, _ in consent.play(0, {**SETTINGS, "consent": "announcement"})] == ["warning", "beep"]
    assert consent.next_beep is None, "one notice only"
