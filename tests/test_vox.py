"""VOX: calls start and end from the audio alone, on generated telephone-line signals.

Levels are RMS dBFS with full scale 32768 (as the line's meters). "Talk" is speech-like: syllables
of a harmonic voice (120-250 Hz fundamental, gliding, 13 harmonics at 1/k), amplitude modulated,
with short gaps between them. Event frames are checked against where the generated sound truly
begins and ends, to 20 ms.
"""
from __future__ import annotations

import numpy as np
import pytest

from appliance.hook.vox import VoxDetector, VoxSettings

RATES = (8000, 16000)
TOL_S = 0.020
NOISY_TOL_S = 0.050     # over hum or hiss, a syllable's soft onset and fading end are lost in the noise


def _at_level(x: np.ndarray, dbfs: float, active: np.ndarray | None = None) -> np.ndarray:
    """Scale x so its RMS (over the `active` samples, if given) is dbfs."""
    rms = np.sqrt(np.mean(np.square(x if active is None else x[active])))
    return x * (10 ** (dbfs / 20) / rms)


def talk(rate: int, seconds: float, dbfs: float, seed: int = 1, lowest_hz: float = 0) -> np.ndarray:
    """Speech-like sound that starts at its first sample and ends at its last; with lowest_hz,
    harmonics below that frequency are left out."""
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    total = 0
    while True:
        n = int(rng.uniform(0.12, 0.30) * rate)
        gap = int(rng.uniform(0.04, 0.15) * rate) if rng.random() > 0.15 else int(0.4 * rate)
        if total + n > seconds * rate:
            break
        t = np.arange(n) / rate
        f0 = np.linspace(rng.uniform(120, 250), rng.uniform(120, 250), n)
        phase = 2 * np.pi * np.cumsum(f0) / rate
        kmax = int(min(3400, 0.45 * rate) // 250)
        voice = sum(np.sin(k * phase) / k * (k * f0 >= lowest_hz) for k in range(1, kmax + 1))
        envelope = np.sin(np.pi * (t + 0.5 / rate) / (n / rate)) ** 0.7
        envelope *= 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
        parts += [voice * envelope, np.zeros(gap)]
        total += n + gap
    x = np.concatenate(parts[:-1])       # ends with a syllable, not a gap
    return _at_level(x, dbfs, np.abs(x) > 0)


def music(rate: int, seconds: float, dbfs: float) -> np.ndarray:
    """Hold music: plucked notes of a scale, one every 250 ms, no gaps."""
    note = int(0.25 * rate)
    t = np.arange(note) / rate
    envelope = np.minimum(t / 0.005, 1) * np.exp(-t / 0.12)
    scale = (262, 294, 330, 349, 392, 440, 494, 523)
    notes = [envelope * sum(np.sin(2 * np.pi * k * scale[i % 8] * t) / k for k in range(1, 5))
             for i in range(int(seconds / 0.25))]
    return _at_level(np.concatenate(notes), dbfs)


def hum(rate: int, seconds: float, mains_hz: int, dbfs: float) -> np.ndarray:
    """Mains hum with its harmonics up to 300 Hz (amplitude 1/k)."""
    t = np.arange(int(seconds * rate)) / rate
    x = sum(np.sin(2 * np.pi * k * mains_hz * t + k) / k for k in range(1, 300 // mains_hz + 1))
    return _at_level(x, dbfs)


def hiss(rate: int, seconds: float, dbfs: float, seed: int = 7) -> np.ndarray:
    return _at_level(np.random.default_rng(seed).standard_normal(int(seconds * rate)), dbfs)


def clicks(rate: int, seconds: float, width_ms: float, every_s: float = 2.0) -> np.ndarray:
    """Loud pulses (half full scale) of width_ms every every_s, at every phase against the 10 ms blocks."""
    x = np.zeros(int(seconds * rate))
    width = int(width_ms * rate / 1000)
    for i, at in enumerate(range(rate // 2, len(x) - width, int(every_s * rate))):
        at += i * 37 % (rate // 100)
        x[at:at + width] = 0.5 * (1 if i % 2 else -1)
    return x


def line(rate: int, seconds: float, *parts: tuple[float, np.ndarray, str]) -> np.ndarray:
    """A stereo int16 capture of `seconds`: each (start_s, sound, leg) is added at start_s on
    leg "near", "far" or "both"."""
    out = np.zeros((int(seconds * rate), 2))
    for start_s, sound, leg in parts:
        at = int(start_s * rate)
        for column in {"near": (0,), "far": (1,), "both": (0, 1)}[leg]:
            out[at:at + len(sound), column] += sound[:len(out) - at]
    return np.clip(np.round(out * 32768), -32768, 32767).astype(np.int16)


DEFAULT = VoxSettings()


def run(rate: int, audio: np.ndarray, settings: VoxSettings = DEFAULT, chunk: int = 0,
        detector: VoxDetector | None = None, first_frame: int = 0) -> list[tuple[str, int]]:
    """Feed audio (starting at first_frame) in chunks of 100 ms, or `chunk` frames."""
    vox = detector or VoxDetector(rate, settings)
    chunk = chunk or rate // 10
    events = []
    for at in range(0, len(audio), chunk):
        events += vox.feed(audio[at:at + chunk], first_frame + at)
    return events


def assert_calls(events: list[tuple[str, int]], rate: int, *calls: tuple[float, float],
                 tol_s: float = TOL_S) -> None:
    """events are exactly these calls, each (start_s, end_s), to tol_s."""
    assert [kind for kind, _ in events] == ["offhook", "onhook"] * len(calls), events
    for (start_s, end_s), (_, on), (_, off) in zip(calls, events[::2], events[1::2]):
        assert abs(on / rate - start_s) <= tol_s, (on / rate, start_s)
        assert abs(off / rate - end_s) <= tol_s, (off / rate, end_s)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("leg", ["near", "far"])
def test_speech_starts_a_call_where_it_began_and_ends_where_it_stopped(rate, leg):
    speech = talk(rate, 3, -20)
    events = run(rate, line(rate, 14, (1.0, speech, leg)))
    assert_calls(events, rate, (1.0, 1.0 + len(speech) / rate))


@pytest.mark.parametrize("rate", RATES)
def test_pauses_and_holds_shorter_than_hang_do_not_split_a_call(rate):
    a, b, c = talk(rate, 3, -20, 1), talk(rate, 3, -22, 2), talk(rate, 2, -20, 3)
    b_at = 1 + len(a) / rate + 5
    c_at = b_at + len(b) / rate + 5
    events = run(rate, line(rate, c_at + 12, (1, a, "near"), (b_at, b, "far"), (c_at, c, "near")))
    assert_calls(events, rate, (1, c_at + len(c) / rate))


@pytest.mark.parametrize("rate", RATES)
def test_a_pause_longer_than_hang_ends_the_call_where_the_sound_stopped(rate):
    a, b = talk(rate, 3, -20, 1), talk(rate, 3, -20, 2)
    a_end = 1 + len(a) / rate
    b_at = a_end + 12
    audio = line(rate, b_at + 12, (1, a, "near"), (b_at, b, "far"))
    vox = VoxDetector(rate, VoxSettings(hang_s=8))
    reported = {}
    for at in range(0, len(audio), 80):
        for event in vox.feed(audio[at:at + 80], at):
            reported[event] = (at + 80) / rate
    events = list(reported)
    assert_calls(events, rate, (1, a_end), (b_at, b_at + len(b) / rate))
    assert reported[events[1]] == pytest.approx(a_end + 8, abs=0.03)  # known only after hang_s of quiet


@pytest.mark.parametrize("rate", RATES)
def test_hold_music_keeps_a_call_open(rate):
    a, b = talk(rate, 4, -20, 1), talk(rate, 3, -20, 2)
    hold_at = 1 + len(a) / rate + 0.5
    b_at = hold_at + 40 + 0.5
    events = run(rate, line(rate, b_at + 12, (1, a, "near"), (hold_at, music(rate, 40, -30), "far"),
                            (b_at, b, "near")))
    assert_calls(events, rate, (1, b_at + len(b) / rate))


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("mains_hz", [50, 60])
@pytest.mark.parametrize("from_s", [0, 3])
def test_mains_hum_never_starts_a_call(rate, mains_hz, from_s):
    assert run(rate, line(rate, 60, (from_s, hum(rate, 60, mains_hz, -25), "both"))) == []


@pytest.mark.parametrize("rate", RATES)
def test_speech_over_hum_starts_and_ends_a_call(rate):
    speech = talk(rate, 3, -25)
    events = run(rate, line(rate, 30, (0, hum(rate, 30, 50, -25), "both"), (15, speech, "far")))
    assert_calls(events, rate, (15, 15 + len(speech) / rate), tol_s=NOISY_TOL_S)


@pytest.mark.parametrize("rate", RATES)
def test_line_hiss_never_starts_a_call(rate):
    assert run(rate, line(rate, 60, (0, hiss(rate, 60, -45), "both"))) == []


@pytest.mark.parametrize("rate", RATES)
def test_speech_over_hiss_starts_and_ends_a_call(rate):
    """The hiss is above stop_dbfs: only the noise floor lets the call end."""
    speech = talk(rate, 4, -25)
    events = run(rate, line(rate, 40, (0, hiss(rate, 40, -45), "both"), (12, speech, "near")))
    assert_calls(events, rate, (12, 12 + len(speech) / rate), tol_s=NOISY_TOL_S)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("width_ms", [5, 20])
def test_clicks_never_start_a_call_nor_hold_one_open(rate, width_ms):
    assert run(rate, line(rate, 60, (0, clicks(rate, 60, width_ms), "both"))) == []
    speech = talk(rate, 3, -20)
    events = run(rate, line(rate, 40, (1, speech, "near"), (0, clicks(rate, 40, width_ms), "far")))
    assert_calls(events, rate, (1, 1 + len(speech) / rate))


@pytest.mark.parametrize("rate", RATES)
def test_results_do_not_depend_on_chunking(rate):
    settings = VoxSettings(hang_s=1.5)
    audio = line(rate, 9, (0, hiss(rate, 9, -50), "both"), (0.5, talk(rate, 2, -20, 1), "near"),
                 (4.5, talk(rate, 1, -25, 2), "far"), (4.0, clicks(rate, 5, 5, 0.7), "near"))
    results = {chunk: run(rate, audio, settings, chunk) for chunk in (1, 160, 333, 8000)}
    assert len(results[160]) == 4
    assert all(events == results[160] for events in results.values()), results


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("new_hang_s", [15, 3])
def test_update_changes_hang_mid_call_without_ending_it(rate, new_hang_s):
    a, b = talk(rate, 3, -20, 1), talk(rate, 2, -20, 2)
    a_end = 1 + len(a) / rate
    b_at = a_end + 12                  # a pause longer than the first hang_s (8)
    audio = line(rate, b_at + 25, (1, a, "near"), (b_at, b, "near"))
    vox = VoxDetector(rate, VoxSettings(hang_s=8))
    half = int(2.5 * rate) + 7         # during the first talk, mid-block
    events = run(rate, audio[:half], detector=vox)
    assert vox.active and [kind for kind, _ in events] == ["offhook"]
    vox.update(VoxSettings(hang_s=new_hang_s))
    assert vox.active
    events += run(rate, audio[half:], detector=vox, first_frame=half)
    b_end = b_at + len(b) / rate
    assert_calls(events, rate, *([(1, b_end)] if new_hang_s > 12 else [(1, a_end), (b_at, b_end)]))


@pytest.mark.parametrize("rate", RATES)
def test_hysteresis_quiet_talk_between_thresholds_holds_a_call_but_never_starts_one(rate):
    """Every 10 ms of the quiet talk is below start_dbfs (-40); its syllables are mostly above
    stop_dbfs (-48). It has no energy under 300 Hz, so the detector's filter leaves its level be."""
    quiet = talk(rate, 20, -45.5, 5, lowest_hz=300)
    block = rate // 100
    block_rms = np.sqrt(np.mean(quiet[:len(quiet) // block * block].reshape(-1, block) ** 2, axis=1))
    assert 20 * np.log10(block_rms.max()) < -40.5
    assert run(rate, line(rate, 25, (1, quiet, "near"))) == []

    loud = talk(rate, 2, -20, 6)
    quiet_at = 1 + len(loud) / rate + 0.2
    events = run(rate, line(rate, quiet_at + 32, (1, loud, "near"), (quiet_at, quiet, "far")))
    assert [kind for kind, _ in events] == ["offhook", "onhook"]
    assert events[1][1] / rate == pytest.approx(quiet_at + len(quiet) / rate, abs=0.1)


def test_settings_must_keep_stop_below_start():
    with pytest.raises(ValueError, match="stop_dbfs"):
        VoxSettings(start_dbfs=-40, stop_dbfs=-40)


def _reference_highpass(x: np.ndarray, rate: int) -> np.ndarray:
    """The 300 Hz 4th-order Butterworth high-pass, sample by sample: two RBJ biquads in direct form I."""
    from appliance.hook.vox import BUTTERWORTH_4_Q, HIGHPASS_HZ
    for q in BUTTERWORTH_4_Q:
        w0 = 2 * np.pi * HIGHPASS_HZ / rate
        alpha, cos = np.sin(w0) / (2 * q), np.cos(w0)
        b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]) / (1 + alpha)
        a1, a2 = -2 * cos / (1 + alpha), (1 - alpha) / (1 + alpha)
        y = np.zeros_like(x)
        x1 = x2 = y1 = y2 = 0.0
        for i, xi in enumerate(x):
            y[i] = b[0] * xi + b[1] * x1 + b[2] * x2 - a1 * y1 - a2 * y2
            x1, x2, y1, y2 = xi, x1, y[i], y1
        x = y
    return x


@pytest.mark.parametrize("rate", RATES)
def test_block_filter_matches_the_filter_run_sample_by_sample_in_any_grouping(rate):
    """The detector filters several 10 ms blocks per matrix product; the power of each block must be
    what the plain recursive filter gives, however many blocks come at once."""
    from appliance.hook.vox import _BlockFilter
    n = rate // 100
    audio = np.random.default_rng(3).standard_normal((37 * n, 2)) * 0.1
    audio[:, 1] += np.sin(2 * np.pi * 60 * np.arange(len(audio)) / rate) * 0.5     # hum on one leg
    expected = np.stack([_reference_highpass(audio[:, leg], rate) for leg in (0, 1)], axis=1)
    expected_power = np.mean(expected.reshape(-1, n, 2) ** 2, axis=1)
    block_filter, powers, at = _BlockFilter(rate, n), [], 0
    for count in (1, 3, 10, 23):            # 23 blocks: more than one group in a call
        powers.append(block_filter.power(audio[at:at + count * n].reshape(count, n, 2)))
        at += count * n
    np.testing.assert_allclose(np.concatenate(powers), expected_power, rtol=1e-9)


def test_floor_is_the_10th_percentile_of_the_last_ten_seconds():
    from appliance.hook.vox import _FloorTracker
    levels = np.random.default_rng(4).uniform(-90, -20, 2500).round(1)    # rounding makes ties
    tracker = _FloorTracker(1000)
    for i, level in enumerate(levels):
        seen = levels[max(0, i - 999):i + 1]
        k = (len(seen) - 1) * 10 // 100
        assert tracker.add(float(level)) == np.partition(seen, k)[k]
