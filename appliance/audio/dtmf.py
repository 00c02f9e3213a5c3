"""DTMF (touch-tone) detection on the office (near) leg of a call: which keys the office pressed and
the frame where each key's tone began, so a call can be tagged with the digits dialled in it.

How it listens: every HOP_S (5 ms) it takes a Hann window of WINDOW_S (25 ms: 200 samples at
8 kHz, 400 at 16 kHz) and evaluates its spectrum at the eight DTMF frequencies, 697 770 852 941 |
1209 1336 1477 1633 Hz (single DFT bins, as Goertzel would, but as one matrix product per chunk).
The strongest bin of each group is the candidate pair. Each candidate's true frequency is measured
from how far the bin's phase turns between consecutive windows (good to about a hertz), so the
frequency tolerance does not depend on the bin width; the tone's level is then corrected for how far
off the bin centre it sits. A window votes for a key when all of these hold (ITU-T Q.24 receiver):

- frequency: each tone within FREQ_TOL (2.5 %) of nominal: accepts ±1.5 %, rejects ±3.5 %.
- level: each tone at least MIN_TONE_DBFS (−45 dBFS). Levels are per tone, as in tones.py: 0 dBFS is
  a full-scale sine, so a pair at −6 dBFS per tone already reaches full scale (hotter pairs clip;
  at −3 dBFS per tone they still decode).
- twist = low-group level minus high-group level, in dB. Positive ("normal" twist: the high tone is
  weaker, as a long loop makes it) is accepted up to +8 dB; negative ("reverse" twist: the high tone
  is stronger) down to −4 dB.
- dominance: each group's runner-up bin is at least IN_GROUP_DB (8 dB) below its chosen bin, and the
  two tones carry at least MIN_PURITY (90 %) of the window's power. This is what rejects speech,
  music and noise: they spread their power over many components even when two of them sit on DTMF
  frequencies. (A pair in white noise at 15 dB SNR keeps about 95 %.)

A key is reported once MIN_VOTES consecutive windows vote for it: tones of 34 ms or more always
count, tones of 23 ms or less never do. It is reported once however long it is held; dropouts of
up to 10 ms are bridged, and after a pause of 30 ms or more (PAUSE_WINDOWS) the same key counts
again. The frame reported is where the tone began, within ±5 ms. Where a key's tone ended is
reported too once it is over (take_releases), for cutting keyed tones out of a recording.

Results do not depend on how the stream is cut into chunks. Chunks must follow one another: a chunk
whose first_frame does not continue the previous one (lost audio) starts a new stream, and a key in
progress is forgotten. Any rate of 8 kHz or more works; the appliance uses 8 or 16 kHz.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

FREQS_HZ = np.array([697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0])  # low | high group
KEYS = ("123A", "456B", "789C", "*0#D")  # KEYS[low-group index][high-group index]

WINDOW_S = 0.025
HOP_S = 0.005
FREQ_TOL = 0.025
MIN_TONE_DBFS = -45.0
MAX_NORMAL_TWIST_DB = 8.0
MAX_REVERSE_TWIST_DB = 4.0
IN_GROUP_DB = 8.0
MIN_PURITY = 0.90
# A tone of L ms gives about (L - 15 ms) / 5 ms consecutive votes (a window only partly on the tone
# is too impure to vote). Measured at 8 and 16 kHz, in silence and at 15 dB SNR: tones of 34 ms or
# more always give 3, tones of 23 ms or less at most 2.
MIN_VOTES = 3
# A pause of P ms gives about (P + 10 ms) / 5 ms windows without the key's vote. Measured likewise:
# a 10 ms dropout gives at most 6 (the key is still held), a 30 ms pause at least 8, 40 ms at least 10.
PAUSE_WINDOWS = 8
BATCH_WINDOWS = 1000  # windows analysed at once: bounds the memory a long chunk needs
# The gate lets through every window that could vote with this much to spare (1 dB), so float32
# rounding in its sums can never turn a vote away.
GATE_SLACK = 10 ** (1 / 10)

NO_KEY = -1
MIN_TONE_AMP = 10 ** (MIN_TONE_DBFS / 20)
NORMAL_TWIST = 10 ** (MAX_NORMAL_TWIST_DB / 20)
REVERSE_TWIST = 10 ** (MAX_REVERSE_TWIST_DB / 20)
IN_GROUP_MARGIN = 10 ** (IN_GROUP_DB / 20)


class DtmfDecoder:
    """Streaming DTMF decoder for one mono leg; feed it every chunk of the stream in order."""

    def __init__(self, sample_rate: int) -> None:
        if sample_rate < 8000:
            raise ValueError(f"DTMF needs a sample rate of at least 8000 Hz, not {sample_rate}")
        self.rate = sample_rate
        self.window = round(WINDOW_S * sample_rate)
        self.hop = round(HOP_S * sample_rate)
        taper = np.hanning(self.window + 2)[1:-1]
        phase = 2 * np.pi * np.outer(np.arange(self.window), FREQS_HZ) / sample_rate
        # Samples stay in int16 units: 1/32768 (full scale) is folded into the tapered basis.
        basis = np.hstack([np.cos(phase), -np.sin(phase)]) * taper[:, None] / 32768.0
        self._basis = basis.astype(np.float32)
        self._taper_sq = (taper ** 2 / 32768.0 ** 2 / np.sum(taper ** 2)).astype(np.float32)  # -> mean power
        self._undo_turn = np.exp(-2j * np.pi * FREQS_HZ * self.hop / sample_rate)
        self._response_hz, self._response = self._bin_response(taper)
        self._amp_scale = 2.0 / float(np.sum(taper))
        self._gate_weights, self._gate_floor, self._quiet = self._gate()
        # The stream from one hop before the next window (so the window before it can be measured
        # again), and every window of that buffer as a strided view of it.
        self._buf = np.zeros(self.window + BATCH_WINDOWS * self.hop, dtype=np.float32)
        self._windows = as_strided(self._buf, (BATCH_WINDOWS + 1, self.window), (self.hop * 4, 4), writeable=False)
        self._next_frame: int | None = None
        self._releases: list[tuple[str, int]] = []
        self._restart(0)

    def feed(self, samples: np.ndarray, first_frame: int) -> list[tuple[str, int]]:
        """Mono int16 samples starting at absolute frame `first_frame` (any chunk size, from one sample
        to a whole recording; results do not depend on chunking). Returns the digits whose detection
        completed in this chunk, as (digit, frame where the tone began), digit in '0123456789*#ABCD'.
        A held key is one digit; the same key pressed twice with a pause is two."""
        if first_frame != self._next_frame:
            if self._held != NO_KEY and self._next_frame is not None:   # lost audio: it ended where we know
                self._releases.append((KEYS[self._held // 4][self._held % 4], self._next_frame))
            self._restart(first_frame)
        self._next_frame = first_frame + len(samples)
        found: list[tuple[str, int]] = []
        done, total = 0, len(samples)
        while done < total:
            if self._end + total - done > len(self._buf) and self._start > self.hop:
                self._compact()
            take = min(total - done, len(self._buf) - self._end)
            self._buf[self._end:self._end + take] = samples if take == total else samples[done:done + take]
            self._end += take
            done += take
            count = (self._end - self._start - self.window) // self.hop + 1
            if count > 0:
                found += self._analyse(self._start // self.hop, count)
        return found

    def take_releases(self) -> list[tuple[str, int]]:
        """The keys whose tone has ended since the last call, as (digit, frame just after its last
        voting window: the tone's end, within a hop), in order."""
        releases, self._releases = self._releases, []
        return releases

    def _compact(self) -> None:
        """Move the samples still needed (from one hop before the next window) to the front."""
        keep = self._start - self.hop
        self._buf[:self._end - keep] = self._buf[keep:self._end]
        self._start, self._end = self._start - keep, self._end - keep

    def _restart(self, frame: int) -> None:
        self._start = self._end = 0          # buffer indices: next window's first sample, end of data
        self._start_frame = frame            # stream frame of the next window's first sample
        # The 8 bins of the window before the next (its phase gives the frequencies): unknown at the
        # start of a stream (such a window cannot vote, as ever), None when it must be measured.
        self._prev_parts: np.ndarray | None = np.full(16, np.nan, dtype=np.float32)
        self._held, self._held_gap, self._held_last = NO_KEY, 0, 0
        self._cand, self._cand_run, self._cand_start = NO_KEY, 0, 0

    def _bin_response(self, taper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(offsets in Hz, |response| of a bin to a tone that far from its centre, 1.0 at the centre)
        over the offsets the frequency check lets through."""
        offsets = np.linspace(0.0, FREQ_TOL * FREQS_HZ[-1] + 1.0, 256)
        n = np.arange(self.window)
        response = np.abs(np.exp(2j * np.pi * np.outer(offsets, n) / self.rate) @ taper)
        return offsets, response / response[0]

    def _gate(self) -> tuple[np.ndarray, float, float]:
        """The gate's constants (see the module docstring): weights w per real and imaginary part of
        each bin and a floor f, such that a window can only vote if sum(w * part**2) >= max(its mean
        power, f); and the peak |sample| (int16 units) below which no window can vote at all."""
        # The lowest response the frequency check lets through, per bin: the interpolated curve is
        # piecewise linear, so its minimum up to the tolerance is at a grid point or at the tolerance.
        limit = FREQ_TOL * FREQS_HZ
        lowest = np.array([min(np.interp(top, self._response_hz, self._response),
                               self._response[self._response_hz <= top].min()) for top in limit])
        per_bin = GATE_SLACK * self._amp_scale ** 2 / (lowest ** 2 * 2 * MIN_PURITY)
        floor = MIN_TONE_AMP ** 2 / MIN_PURITY
        quiet = 32768 * MIN_TONE_AMP * lowest[:4].min() / 2 / np.sqrt(GATE_SLACK)
        return np.tile(per_bin, 2).astype(np.float32), floor, float(quiet)

    def _analyse(self, first: int, count: int) -> list[tuple[str, int]]:
        """Votes of `count` consecutive windows from window `first` of the buffer, and the key
        presses they complete."""
        starts = range(self._start_frame, self._start_frame + count * self.hop, self.hop)
        span = self._buf[self._start:self._end]
        quiet = max(span.max(), -span.min()) < self._quiet
        self._start += count * self.hop
        self._start_frame += count * self.hop
        if quiet:
            self._prev_parts = None
            keys = None
        else:
            keys = self._votes(first, count)
        if keys is not None:
            return self._track(keys, starts)
        if self._held != NO_KEY or self._cand != NO_KEY:
            return self._track([NO_KEY] * count, starts)
        return []

    def _votes(self, first: int, count: int) -> list[int] | None:
        """Each window's vote (the full test), or None when the gate shows none of them can vote."""
        windows = self._windows[first:first + count]
        prev = self._prev_parts
        if prev is None:                     # after quiet: measure the window before as well
            parts = self._windows[first - 1:first + count] @ self._basis
            prev, parts = parts[0], parts[1:]
        else:
            parts = windows @ self._basis
        self._prev_parts = parts[-1]
        gauge = (parts * parts) @ self._gate_weights
        power = (windows * windows) @ self._taper_sq
        if not (gauge >= np.maximum(power, self._gate_floor)).any():
            return None
        return self._classify(parts, prev, power).tolist()

    def _classify(self, parts: np.ndarray, prev: np.ndarray, power: np.ndarray) -> np.ndarray:
        """Key index (row * 4 + column) that each window votes for, or NO_KEY. parts: the 8 bins'
        real and imaginary parts per window; prev: those of the window before the first."""
        parts = np.vstack([prev, parts]).astype(np.float64)
        spectra = parts[:, :8] + 1j * parts[:, 8:]
        spectrum, previous = spectra[1:], spectra[:-1]
        power = power.astype(np.float64)
        groups = np.abs(spectrum).reshape(-1, 2, 4)
        best = np.argmax(groups, axis=2)                       # (window, group): row, column
        bins = best + [0, 4]
        rows = np.arange(len(spectrum))[:, None]
        amp, on_freq = self._tones(spectrum[rows, bins], previous[rows, bins], bins)
        low, high = amp[:, 0], amp[:, 1]
        runner_up = np.partition(groups, 2, axis=2)[:, :, 2]
        ok = (np.all(on_freq & (amp >= MIN_TONE_AMP), axis=1)
              & (high * NORMAL_TWIST >= low) & (low * REVERSE_TWIST >= high)
              & np.all(runner_up * IN_GROUP_MARGIN <= np.max(groups, axis=2), axis=1)
              & ((low ** 2 + high ** 2) / 2 >= MIN_PURITY * power))
        return np.where(ok, best[:, 0] * 4 + best[:, 1], NO_KEY)

    def _tones(self, now: np.ndarray, before: np.ndarray, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Peak amplitude (1.0 = full scale) of the tone in each chosen bin, and whether it is on
        frequency. The frequency comes from how far the bin's phase turned since the last window."""
        turn = np.angle(now * np.conj(before) * self._undo_turn[bins])
        offset_hz = np.abs(turn) * (self.rate / (2 * np.pi * self.hop))
        response = np.interp(offset_hz, self._response_hz, self._response)
        amp = np.abs(now) * self._amp_scale / response
        return amp, offset_hz <= FREQ_TOL * FREQS_HZ[bins]

    def _track(self, keys: list[int], starts: range) -> list[tuple[str, int]]:
        """Turn per-window votes into key presses (held keys once, pauses separating presses)."""
        found: list[tuple[str, int]] = []
        for key, start in zip(keys, starts):
            if self._held != NO_KEY:
                if key == self._held:
                    self._held_gap, self._cand, self._held_last = 0, NO_KEY, start
                    continue
                self._held_gap += 1
                if self._held_gap >= PAUSE_WINDOWS:
                    self._releases.append((KEYS[self._held // 4][self._held % 4], self._held_last + self.window))
                    self._held = NO_KEY
            if key == NO_KEY:
                self._cand = NO_KEY
                continue
            if key != self._cand:
                self._cand, self._cand_run, self._cand_start = key, 0, start
            self._cand_run += 1
            if self._cand_run >= MIN_VOTES:
                if self._held != NO_KEY:        # another key straight after: the held one has ended
                    self._releases.append((KEYS[self._held // 4][self._held % 4], self._held_last + self.window))
                found.append((KEYS[key // 4][key % 4], self._cand_start))
                self._held, self._held_gap, self._cand, self._held_last = key, 0, NO_KEY, start
        return found

