"""What a simulated line's interface hears: idle noise on both legs plus each call's near and
far sources, dialed digits and keys keyed later in the call, rendered chunk by chunk (any
chunking gives the same samples).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile

from ..audio import tones
from .office import DIAL_START_S, DTMF_OFF_S, DTMF_ON_S, Scenario, SimCall, SimLine, Source

NOISE_BLOCK = 4096
DTMF_DBFS = -10.0   # each tone of a pair; a handset sends about -6 to -10 dBm0


@lru_cache(maxsize=16)
def _load_wav(path: Path, rate: int) -> np.ndarray:
    """An audio file (WAV, MP3: what libsndfile reads) as mono float at `rate` (linear resampling
    is plenty for test speech)."""
    data, file_rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    mono = data.mean(axis=1)
    if file_rate != rate and len(mono) > 1:
        n = int(round(len(mono) * rate / file_rate))
        mono = np.interp(np.arange(n) * file_rate / rate, np.arange(len(mono)), mono)
    return mono if len(mono) else np.zeros(1)


def _noise(key: tuple[int, ...], dbfs: float, first: int, n: int) -> np.ndarray:
    """White noise with RMS at dbfs; sample i depends only on key and i."""
    out = np.empty(n)
    block = first // NOISE_BLOCK
    i = 0
    while i < n:
        rng = np.random.default_rng([*key, block])
        samples = rng.standard_normal(NOISE_BLOCK)
        lo = first + i - block * NOISE_BLOCK
        take = min(n - i, NOISE_BLOCK - lo)
        out[i:i + take] = samples[lo:lo + take]
        i += take
        block += 1
    return out * tones.amplitude(dbfs)


def render_source(src: Source, key: tuple[int, ...], first: int, n: int, rate: int) -> np.ndarray:
    """Samples first..first+n of a source that starts at its sample 0."""
    if src.kind == "tone":
        return tones.sine(src.freq, src.dbfs, first, n, rate)
    if src.kind == "noise":
        return _noise(key, src.dbfs, first, n)
    if src.kind == "file":
        wav = _load_wav(src.path, rate)
        return wav[np.arange(first, first + n) % len(wav)]
    return np.zeros(n)


class LineAudio:
    """Renders one simulated line's stereo capture: column 0 near leg, column 1 far leg."""

    def __init__(self, scenario: Scenario, line: SimLine) -> None:
        self.rate = scenario.sample_rate
        self.seed = scenario.seed
        self.line = line
        self.calls = [c for c in scenario.calls if c.line == line.id]
        self.loop = int(scenario.loop_s * self.rate) if scenario.loop_s else None

    def _frame(self, seconds: float) -> int:
        return int(round(seconds * self.rate))

    def render(self, first: int, n: int) -> np.ndarray:
        out = np.zeros((n, 2))
        for leg in (0, 1):
            out[:, leg] = _noise((self.seed, self.line.id, leg), self.line.noise_dbfs, first, n)
        cycles = [0]
        if self.loop:
            cycles = range(first // self.loop - 1, (first + n) // self.loop + 1)
        for cycle in cycles:
            shift = cycle * self.loop if self.loop else 0
            for call in self.calls:
                self._mix_call(out, call, first - shift, n)
        return np.clip(np.round(out * 32767), -32768, 32767).astype(np.int16)

    def _mix_call(self, out: np.ndarray, call: SimCall, first: int, n: int) -> None:
        end = first + n
        talk_from, talk_to = self._frame(call.speech_start_s), self._frame(call.onhook_s)
        lo, hi = max(first, talk_from), min(end, talk_to)
        if lo < hi:
            for leg, src in ((0, call.near), (1, call.far)):
                out[lo - first:hi - first, leg] += render_source(
                    src, (self.seed, 1000 + call.index, leg), lo - talk_from, hi - lo, self.rate)
        keyed = [(call.offhook_s + DIAL_START_S, call.dial)] if call.dial else []
        for t, digits in keyed + [(call.offhook_s + at, digits) for at, digits in call.keys]:
            for digit in digits:
                d_from, d_to = self._frame(t), self._frame(t + DTMF_ON_S)
                lo, hi = max(first, d_from), min(end, d_to)
                if lo < hi:
                    out[lo - first:hi - first, 0] += tones.dtmf(digit, DTMF_DBFS, lo - d_from, hi - lo, self.rate)
                t += DTMF_ON_S + DTMF_OFF_S
