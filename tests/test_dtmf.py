"""DTMF decoding (appliance/audio/dtmf.py) on generated signals at 8 and 16 kHz: every key, a dialled
number, chunking, levels, noise, twist, frequency and duration limits, held and repeated keys, and
speech-like signals, noise, single tones and real recordings that must give no digits.

Levels are per tone in dBFS as in appliance/audio/tones.py (0 dBFS = a full-scale sine)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from appliance.audio import tones
from appliance.audio.dtmf import DtmfDecoder

RATES = pytest.mark.parametrize("rate", [8000, 16000])
KEYS = "0123456789*#ABCD"
ALSA_SOUNDS = sorted(Path("/usr/share/sounds/alsa").glob("*.wav"))


# -- signals -------------------------------------------------------------------------------------
def n_of(ms: float, rate: int) -> int:
    return int(round(ms * rate / 1000))


def key_tone(key: str, ms: float, rate: int, dbfs: float = -10.0, twist_db: float = 0.0,
             deviation: float = 0.0) -> np.ndarray:
    """A key's two tones; twist_db = low-group minus high-group level (the decoder's convention),
    deviation = relative frequency error of both tones."""
    n = n_of(ms, rate)
    return (tones.sine(tones.DTMF_LOW[key] * (1 + deviation), dbfs, 0, n, rate)
            + tones.sine(tones.DTMF_HIGH[key] * (1 + deviation), dbfs - twist_db, 0, n, rate))


def silence(ms: float, rate: int) -> np.ndarray:
    return np.zeros(n_of(ms, rate))


def dialled(keys: str, rate: int, on_ms: float = 70, off_ms: float = 70, lead_ms: float = 100,
            **tone) -> tuple[np.ndarray, list[int]]:
    """Keys dialled one after another: the signal and the frame where each tone begins."""
    parts, starts, at = [silence(lead_ms, rate)], [], n_of(lead_ms, rate)
    for key in keys:
        starts.append(at)
        parts += [key_tone(key, on_ms, rate, **tone), silence(off_ms, rate)]
        at += len(parts[-2]) + len(parts[-1])
    return np.concatenate(parts + [silence(100, rate)]), starts


def with_noise(x: np.ndarray, snr_db: float, signal_dbfs: float, seed: int) -> np.ndarray:
    """x plus white noise whose power is snr_db below that of a two-tone pair at signal_dbfs per tone."""
    signal_power = 2 * tones.amplitude(signal_dbfs) ** 2 / 2
    noise = np.random.default_rng(seed).standard_normal(len(x)) * np.sqrt(signal_power / 10 ** (snr_db / 10))
    return x + noise


def pink_noise(seconds: float, rate: int, rms: float, seed: int) -> np.ndarray:
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(int(seconds * rate)))
    freqs = np.fft.rfftfreq(int(seconds * rate), 1 / rate)
    spectrum[0] = 0
    spectrum[1:] /= np.sqrt(freqs[1:])
    x = np.fft.irfft(spectrum, int(seconds * rate))
    return x * rms / np.sqrt(np.mean(x ** 2))


def voice(seconds: float, rate: int, f0: float, harmonics: list[int], seed: int) -> np.ndarray:
    """Voiced-speech-like sound: harmonics of f0 with 2 % vibrato at 5.5 Hz, amplitude-modulated at
    4 Hz, peaking at -10 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    x = sum(np.sin(h * phase + rng.uniform(0, 2 * np.pi)) for h in harmonics)
    x = x * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t))
    return tones.amplitude(-10) * x / np.max(np.abs(x))


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    n = int(len(x) * rate_out / rate_in)
    return np.fft.irfft(np.fft.rfft(x)[: n // 2 + 1], n) * n / len(x)


def pcm(x: np.ndarray) -> np.ndarray:
    """Float full-scale samples as int16, clipped like a real converter."""
    return np.round(np.clip(x * 32768, -32768, 32767)).astype(np.int16)


# -- decoding ------------------------------------------------------------------------------------
def decode(x: np.ndarray, rate: int, chunk: int | None = None, first_frame: int = 0) -> list[tuple[str, int]]:
    """Feed the signal (as int16) in chunks (default 20 ms) and collect every digit."""
    samples, chunk = pcm(x), chunk or rate // 50
    decoder, found = DtmfDecoder(rate), []
    for at in range(0, len(samples), chunk):
        found += decoder.feed(samples[at:at + chunk], first_frame + at)
    return found


def keys_of(x: np.ndarray, rate: int) -> str:
    return "".join(key for key, _ in decode(x, rate))


def assert_dialled(found: list[tuple[str, int]], keys: str, starts: list[int], rate: int) -> None:
    assert "".join(key for key, _ in found) == keys
    errors_ms = [(frame - start) * 1000 / rate for (_, frame), start in zip(found, starts)]
    assert max(map(abs, errors_ms)) <= 10, errors_ms


# -- what must be heard --------------------------------------------------------------------------
@RATES
def test_every_key_decodes(rate: int) -> None:
    x, starts = dialled(KEYS, rate)
    assert_dialled(decode(x, rate), KEYS, starts, rate)


@RATES
def test_dialled_number_in_order_at_absolute_frames(rate: int) -> None:
    x, starts = dialled("5551234", rate, on_ms=70, off_ms=70)
    first_frame = 12_345_678
    found = decode(x, rate, first_frame=first_frame)
    assert_dialled(found, "5551234", [first_frame + s for s in starts], rate)


@RATES
def test_chunk_size_does_not_matter(rate: int) -> None:
    x, _ = dialled("5551234#", rate, on_ms=45, off_ms=45)
    x = with_noise(x, 15, -20, seed=3)
    results = {chunk: decode(x, rate, chunk=chunk) for chunk in (1, 7, 160, 320, 4096)}
    assert "".join(key for key, _ in results[160]) == "5551234#"
    assert all(found == results[160] for found in results.values()), results


@RATES
@pytest.mark.parametrize("dbfs", [-3, -20, -30, -35])
def test_levels(rate: int, dbfs: float) -> None:
    """At -3 dBFS per tone the pair's peaks (+3 dBFS) clip; it must still decode."""
    x, starts = dialled("159D", rate, dbfs=dbfs)
    assert_dialled(decode(x, rate), "159D", starts, rate)


@RATES
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_white_noise_at_15_db_snr(rate: int, seed: int) -> None:
    x, starts = dialled(KEYS, rate, dbfs=-20)
    assert_dialled(decode(with_noise(x, 15, -20, seed), rate), KEYS, starts, rate)


@RATES
@pytest.mark.parametrize("twist_db", [6, -3])
def test_twist_within_limits_accepted(rate: int, twist_db: float) -> None:
    """Positive twist: high tone weaker (normal, up to 8 dB); negative: high tone stronger (reverse, up to 4)."""
    x, starts = dialled("147*2580", rate, twist_db=twist_db)
    assert_dialled(decode(x, rate), "147*2580", starts, rate)


@RATES
@pytest.mark.parametrize("twist_db", [12, -8])
def test_twist_beyond_limits_rejected(rate: int, twist_db: float) -> None:
    x, _ = dialled("147*2580", rate, twist_db=twist_db)
    assert decode(x, rate) == []


@RATES
@pytest.mark.parametrize("deviation", [0.014, -0.014])
def test_frequency_within_1_5_percent_accepted(rate: int, deviation: float) -> None:
    x, starts = dialled(KEYS, rate, deviation=deviation)
    assert_dialled(decode(x, rate), KEYS, starts, rate)


@RATES
@pytest.mark.parametrize("deviation", [0.035, -0.035, 0.04, -0.04])
def test_frequency_off_by_3_5_percent_or_more_rejected(rate: int, deviation: float) -> None:
    x, _ = dialled(KEYS, rate, deviation=deviation)
    assert decode(x, rate) == []


@RATES
@pytest.mark.parametrize("ms", [40, 45])
def test_tones_of_40_ms_or_more_accepted(rate: int, ms: float) -> None:
    """At every alignment with the decoder's 5 ms hop (the lead-in shifts by 1 ms steps), with
    and without noise."""
    for lead_ms in range(100, 110):
        x, starts = dialled("3", rate, on_ms=ms, lead_ms=lead_ms)
        assert_dialled(decode(x, rate), "3", starts, rate)
        assert_dialled(decode(with_noise(x, 15, -10, seed=lead_ms), rate), "3", starts, rate)


@RATES
@pytest.mark.parametrize("ms", [20, 23])
def test_tones_of_23_ms_or_less_rejected(rate: int, ms: float) -> None:
    for lead_ms in range(100, 110):
        x, _ = dialled(KEYS, rate, on_ms=ms, lead_ms=lead_ms)
        assert decode(x, rate) == []
        assert decode(with_noise(x, 15, -10, seed=lead_ms), rate) == []


@RATES
def test_held_key_is_one_digit(rate: int) -> None:
    x, starts = dialled("8", rate, on_ms=2000)
    assert_dialled(decode(with_noise(x, 15, -10, seed=8), rate), "8", starts, rate)


@RATES
def test_same_key_twice_with_a_50_ms_pause_is_two_digits(rate: int) -> None:
    x, starts = dialled("11", rate, on_ms=70, off_ms=50)
    assert_dialled(decode(x, rate), "11", starts, rate)


@RATES
def test_10_ms_dropout_in_a_held_key_is_still_one_digit(rate: int) -> None:
    x, starts = dialled("66", rate, on_ms=200, off_ms=10)
    assert keys_of(x, rate) == "6"


# -- what must not be heard ----------------------------------------------------------------------
@RATES
@pytest.mark.parametrize("hz", [697, 941, 1209, 1633, 1000])
def test_single_tone_rejected(rate: int, hz: float) -> None:
    assert keys_of(tones.sine(hz, -10, 0, rate, rate), rate) == ""


@RATES
@pytest.mark.parametrize(("extra_hz", "extra_db", "heard"), [(770, -7, ""), (1336, -7, ""), (770, -20, "1")])
def test_a_second_tone_in_a_group_must_be_8_db_down(rate: int, extra_hz: float, extra_db: float,
                                                    heard: str) -> None:
    """Key 1 (697 + 1209 Hz at -10 dBFS) plus a third tone in one of its groups."""
    x = np.concatenate([key_tone("1", 100, rate) + tones.sine(extra_hz, -10 + extra_db, 0, n_of(100, rate), rate),
                        silence(100, rate)])
    assert keys_of(x, rate) == heard


@RATES
def test_speech_like_harmonics_give_no_digits(rate: int) -> None:
    """Harmonic sets where two harmonics sit near a DTMF pair (174 Hz: 4th 697, 7th 1220; 134 Hz:
    7th 941, 9th 1210; 192 Hz: 4th 770, 7th 1347), swept over 120-220 Hz fundamentals."""
    harmonic_sets = [[1, 2, 3, 4, 5], [3, 4, 7], [4, 7, 10], [5, 7, 9], [7, 9, 11], [2, 4, 7, 9]]
    fundamentals = [*np.arange(120.0, 221.0, 4.0), 174.25, 134.43, 192.5]
    x = np.concatenate([voice(0.5, rate, f0, harmonics, seed=i)
                        for i, (f0, harmonics) in enumerate((f0, h) for f0 in fundamentals for h in harmonic_sets)])
    assert keys_of(x, rate) == ""


@RATES
def test_noise_and_a_1_khz_tone_give_no_digits(rate: int) -> None:
    white = np.random.default_rng(5).standard_normal(4 * rate) * tones.amplitude(-20)
    x = np.concatenate([white, pink_noise(4, rate, tones.amplitude(-20), seed=6), tones.sine(1000, -10, 0, 2 * rate, rate)])
    assert keys_of(x, rate) == ""


@RATES
@pytest.mark.skipif(not ALSA_SOUNDS, reason="no recordings in /usr/share/sounds/alsa")
def test_recorded_speech_gives_no_digits(rate: int) -> None:
    """The ALSA test announcements ("Front left" ...), at their own level and 10 dB hotter."""
    for path in ALSA_SOUNDS:
        audio, file_rate = soundfile.read(str(path), dtype="float64")
        speech = resample(audio if audio.ndim == 1 else audio[:, 0], file_rate, rate)
        assert keys_of(speech, rate) == "", path.name
        assert keys_of(speech * np.sqrt(10), rate) == "", path.name


@RATES
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_synthesised_speech_gives_no_digits(rate: int, tmp_path: Path) -> None:
    wav = tmp_path / "speech.wav"
    text = "Hello, this call is recorded. Please press one for sales, or hold for the operator."
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    audio, file_rate = soundfile.read(str(wav), dtype="float64")
    assert keys_of(resample(audio, file_rate, rate), rate) == ""


# -- interface -----------------------------------------------------------------------------------
def test_a_jump_in_frames_starts_a_new_stream() -> None:
    """A gap in first_frame (lost audio) forgets the key in progress and keeps absolute frames."""
    rate = 8000
    tone = pcm(key_tone("7", 100, rate))
    decoder = DtmfDecoder(rate)
    assert decoder.feed(tone[:80], 0) == []
    assert decoder.feed(tone, 5000) == [("7", pytest.approx(5000, abs=rate // 100))]


def test_rate_below_8_khz_refused() -> None:
    with pytest.raises(ValueError, match="8000"):
        DtmfDecoder(4000)
