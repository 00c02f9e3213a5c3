"""An uploaded announcement, decoded with libsndfile (WAV or MP3, any rate, any channels), checked
and converted to mono int16 at the rate it is kept in. Every refusal is a NoticeError whose text
says what was wrong and what to upload instead, with the measured figure where there is one.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import soundfile

STORE_RATE = 16000          # kept at the highest line rate; a line at 8 kHz converts on loading
MAX_S = 30.0                # longer keeps the caller waiting before the call can begin
MIN_PEAK_DBFS = -30.0       # quieter than this, a caller would hardly hear it on a phone line
MIN_RMS_DBFS = -45.0
SILENT_DBFS = -90.0         # below this everywhere: nothing at all
# The sample rates a recording can have. A header may claim any 32-bit rate: 2 GHz would make the
# resampler allocate gigabytes for a few frames, and a rate below a phone line's is no speech.
MIN_RATE, MAX_RATE = 8000, 384000
FORMATS = {"WAV": "WAV", "WAVEX": "WAV", "RF64": "WAV", "MP3": "MP3"}


class NoticeError(ValueError):
    """A file that cannot be the announcement; str() is the message for the person who sent it."""


@dataclass(frozen=True)
class Facts:
    """What was uploaded and what callers will hear, in figures."""
    duration_s: float
    peak_dbfs: float
    rms_dbfs: float
    source: str                 # "WAV, 44100 Hz, 2 channels"

    def as_dict(self) -> dict:
        return asdict(self)


def dbfs(value: float) -> float:
    return round(20 * np.log10(max(value, 1e-9)), 1)


def resample(x: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """Band-limited resampling of a mono float signal (by its spectrum: nothing above the lower
    rate's Nyquist frequency is kept, so nothing folds back). Zero-padded so the ends do not wrap."""
    if rate_from == rate_to or len(x) == 0:
        return x
    pad = rate_from // 10
    padded = np.concatenate([x, np.zeros(pad)])
    n_out = int(round(len(padded) * rate_to / rate_from))
    spectrum = np.fft.rfft(padded)
    keep = min(len(spectrum), n_out // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], n_out) * (n_out / len(padded))
    return out[:int(round(len(x) * rate_to / rate_from))]


def decode(data: bytes, rate: int = STORE_RATE) -> tuple[np.ndarray, Facts]:
    """An uploaded file as mono int16 at `rate`, and its figures; NoticeError if it cannot serve."""
    if not data:
        raise NoticeError("The file is empty: choose a WAV or MP3 recording of the announcement.")
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            kind = FORMATS.get(f.format)
            if kind is None:
                raise NoticeError(f"This is a {f.format_info or f.format} file: upload a WAV or MP3.")
            if not MIN_RATE <= f.samplerate <= MAX_RATE:
                raise NoticeError(f"The file says its sample rate is {f.samplerate} Hz: a recording has "
                                  f"{MIN_RATE} to {MAX_RATE} Hz. Export it again as a WAV or MP3.")
            if f.frames > MAX_S * f.samplerate * 1.01:
                raise NoticeError(f"The recording is too long: {f.frames / f.samplerate:.1f} s "
                                  f"(at most {MAX_S:g} s).")
            samples = f.read(int((MAX_S + 1) * f.samplerate), dtype="float32", always_2d=True)
            file_rate, channels = f.samplerate, f.channels
    except NoticeError:
        raise
    except (soundfile.SoundFileError, RuntimeError, ValueError) as e:
        raise NoticeError("This is not a sound file Hookline can read: upload a WAV or MP3 "
                          f"({str(e).split(': ')[-1].rstrip('.')}).") from None
    duration = len(samples) / file_rate
    if duration > MAX_S * 1.01:
        raise NoticeError(f"The recording is too long: over {MAX_S:g} s (at most {MAX_S:g} s).")
    mono = samples.astype(np.float64).mean(axis=1)
    peak = float(np.max(np.abs(mono))) if len(mono) else 0.0
    if len(mono) == 0 or dbfs(peak) <= SILENT_DBFS:
        raise NoticeError("The recording is empty: it holds no sound at all.")
    rms = float(np.sqrt(np.mean(np.square(mono))))
    if dbfs(peak) < MIN_PEAK_DBFS or dbfs(rms) < MIN_RMS_DBFS:
        raise NoticeError(f"The recording is too quiet for a phone line: its loudest moment is {dbfs(peak):g} dBFS "
                          f"and its average level {dbfs(rms):g} dBFS (it needs at least {MIN_PEAK_DBFS:g} dBFS "
                          f"at its loudest and {MIN_RMS_DBFS:g} dBFS on average). Make it louder and upload it again.")
    out = np.clip(np.round(resample(mono, file_rate, rate) * 32767), -32768, 32767).astype(np.int16)
    source = f"{kind}, {file_rate} Hz, {'mono' if channels == 1 else f'{channels} channels'}"
    return out, Facts(round(duration, 2), dbfs(peak), dbfs(rms), source)
