"""Tone synthesis: sines at a level in dBFS and DTMF digit pairs (ITU-T Q.23 frequencies)."""
from __future__ import annotations

import numpy as np

DTMF_LOW = {"1": 697, "2": 697, "3": 697, "A": 697, "4": 770, "5": 770, "6": 770, "B": 770,
            "7": 852, "8": 852, "9": 852, "C": 852, "*": 941, "0": 941, "#": 941, "D": 941}
DTMF_HIGH = {"1": 1209, "4": 1209, "7": 1209, "*": 1209, "2": 1336, "5": 1336, "8": 1336, "0": 1336,
             "3": 1477, "6": 1477, "9": 1477, "#": 1477, "A": 1633, "B": 1633, "C": 1633, "D": 1633}


def amplitude(dbfs: float) -> float:
    """Peak amplitude (full scale = 1.0) of a sine at this level: a full-scale sine is 0 dBFS."""
    return 10 ** (dbfs / 20)


def sine(freq: float, dbfs: float, first: int, n: int, rate: int) -> np.ndarray:
    """Samples first..first+n of a sine that started at sample 0 (phase-continuous across chunks)."""
    t = np.arange(first, first + n, dtype=np.float64) / rate
    return amplitude(dbfs) * np.sin(2 * np.pi * freq * t)


def dtmf(digit: str, dbfs: float, first: int, n: int, rate: int) -> np.ndarray:
    """A DTMF digit, each of its two tones at dbfs."""
    return sine(DTMF_LOW[digit], dbfs, first, n, rate) + sine(DTMF_HIGH[digit], dbfs, first, n, rate)


# The recorder warning tone (FS-1037C, FCC 47 CFR 64.501): a half-second burst of 1400 Hz every
# 15 s. Frequency, length, level and interval are settings (store.settings: beep_*); these are
# their defaults. FADE_S ramps each end so the tone does not click.
BEEP_HZ = 1400.0
BEEP_MS = 500
BEEP_DBFS = -12.0
FADE_S = 0.005


def beep(rate: int, hz: float = BEEP_HZ, ms: int = BEEP_MS, dbfs: float = BEEP_DBFS) -> np.ndarray:
    """The notice tone as mono int16 samples, with raised-cosine fades at both ends."""
    n = max(1, int(round(ms * rate / 1000)))
    tone = sine(hz, dbfs, 0, n, rate)
    fade = min(int(FADE_S * rate), n // 2)
    if fade:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
        tone[:fade] *= ramp
        tone[-fade:] *= ramp[::-1]
    return np.round(tone * 32767).astype(np.int16)
