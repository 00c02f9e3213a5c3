"""Voice activation (VOX): when a line with no hook signal is in a call, told from its audio.

The line thread feeds every captured chunk; the detector answers ("offhook", frame) and
("onhook", frame) in stream time. It is built against the ways VOX recorders fail:
- mains hum (50/60 Hz and its low harmonics) never counts: a high-pass filter removes it;
- steady line hiss or hum that gets through the filter neither starts nor holds a call: sound
  must stand out from the line's own noise floor;
- a click never starts a call or holds one open: sound must last;
- a pause or a hold does not split a call: only hang_s of quiet ends it, and hold music is sound;
- the first syllable is not clipped: the off-hook frame is where the sound began (the line's
  pre-roll supplies the audio), and the on-hook frame is where the last sound ended.

Algorithm (all in 10 ms blocks of stream time, counted from the first frame fed, so the
results do not depend on how the audio is chunked):
1. Each leg is high-passed (4th-order Butterworth, 300 Hz, the telephone band's lower edge:
   50 Hz -62 dB, 100 Hz -38 dB, 200 Hz -14 dB, 250 Hz -7 dB; a 2nd-order filter lets the
   250-300 Hz harmonics of a -25 dBFS hum through above -40 dBFS); its level is the block's
   RMS in dBFS (full scale = 32768, as the line's level meters).
2. Each leg's noise floor is the 10th percentile of its level over the last 10 s, that level
   measured over a sliding 100 ms (five periods of 50 Hz, six of 60 Hz: steady for hum, whose
   10 ms levels swing by 10 dB as the block meets its waveform in different places). The floor
   falls within 1 s when the line gets quieter and rises only after 9 s of steady louder
   sound. The first 100 ms of stream only prime this measurement.
3. A block is *loud* if either leg is >= start_dbfs and >= its floor + 10 dB; it is *sounding*
   if either leg is >= stop_dbfs and >= its floor + 6 dB (loud implies sounding: hysteresis).
4. Sound is a run of >= 5 sounding blocks (50 ms: a click of <= 20 ms, with the filter's few
   ms of ringing, spans at most 4).
5. Idle -> call: loud blocks add up to min_burst_ms (never under 50 ms) within the last
   max(300 ms, 2 x min_burst_ms), and the line is in sound (so a train of clicks never
   qualifies). Off-hook frame: where the sounding run that leads into the first of those loud
   blocks began (not before that window).
6. Call -> idle: after hang_s with no sound, on-hook at the end of the last sound.
A sound that stays within 6 dB of its own 10th percentile for 9 s (hum, hiss, dial tone, a held
organ chord) thereby becomes the floor: it ends a call about 9 s + hang_s after it began.
"""
from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

HIGHPASS_HZ = 300.0
BUTTERWORTH_4_Q = (1 / (2 * math.cos(math.pi / 8)), 1 / (2 * math.cos(3 * math.pi / 8)))
BLOCK_S = 0.010
SMOOTH_BLOCKS = 10          # 100 ms: the floor's level measurement
FLOOR_S = 10.0
FLOOR_PERCENTILE = 10
START_ABOVE_FLOOR_DB = 10.0
HOLD_ABOVE_FLOOR_DB = 6.0
MIN_RUN_BLOCKS = 5          # 50 ms: the shortest sound that starts or holds a call
START_WINDOW_MS = 300
SILENCE_DBFS = -120.0       # level reported for digital silence


@dataclass(frozen=True)
class VoxSettings:
    start_dbfs: float = -40.0      # level that starts a call (either leg)
    stop_dbfs: float = -48.0       # level below which the line counts as quiet (hysteresis: < start_dbfs)
    hang_s: float = 8.0            # quiet this long ends the call; shorter pauses and holds do not
    # Sound must stay above start_dbfs this long (in total within a short window) to start a call.
    min_burst_ms: int = 150

    def __post_init__(self) -> None:
        if not self.stop_dbfs < self.start_dbfs:
            raise ValueError(f"VOX stop_dbfs ({self.stop_dbfs}) must be below start_dbfs ({self.start_dbfs})")
        if self.hang_s <= 0 or self.min_burst_ms <= 0:
            raise ValueError("VOX hang_s and min_burst_ms must be positive")


def _biquad(sample_rate: int, q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A high-pass biquad (RBJ cookbook) as a state space (A, B, C, D): transposed direct form II."""
    w0 = 2 * math.pi * HIGHPASS_HZ / sample_rate
    alpha, cos = math.sin(w0) / (2 * q), math.cos(w0)
    a0 = 1 + alpha
    b0, b1, b2 = (1 + cos) / 2 / a0, -(1 + cos) / a0, (1 + cos) / 2 / a0
    a1, a2 = -2 * cos / a0, (1 - alpha) / a0
    return np.array([[-a1, 1.0], [-a2, 0.0]]), np.array([b1 - a1 * b0, b2 - a2 * b0]), np.array([1.0, 0.0]), b0


def _highpass_block_matrix(sample_rate: int, n: int) -> np.ndarray:
    """The 4th-order Butterworth high-pass applied to a block of n samples, as one matrix.

    Two biquads in cascade make a linear system with a 4-number state s per leg, so a block's
    output and the next state are linear in (block, s): [y; s'] = M @ [x; s]. Matrix products
    replace a per-sample Python loop and give the same numbers however audio arrives.
    """
    (A1, B1, C1, D1), (A2, B2, C2, D2) = (_biquad(sample_rate, q) for q in BUTTERWORTH_4_Q)
    A = np.block([[A1, np.zeros((2, 2))], [np.outer(B2, C1), A2]])
    B, C, D = np.concatenate([B1, B2 * D1]), np.concatenate([D2 * C1, C2]), D2 * D1
    m = len(B)
    powers = [np.eye(m)]
    for _ in range(n):
        powers.append(A @ powers[-1])
    h = [D] + [C @ powers[j - 1] @ B for j in range(1, n)]     # impulse response
    M = np.zeros((n + m, n + m))
    for i in range(n):
        M[i, :i + 1] = h[i::-1]                    # y[i] = sum h[i-k] x[k] ...
        M[i, n:] = C @ powers[i]                   # ... + C A^i s
    for k in range(n):
        M[n:, k] = powers[n - 1 - k] @ B           # s' = A^n s + sum A^(n-1-k) B x[k]
    M[n:, n:] = powers[n]
    return M


class _BlockFilter:
    """The high-pass over whole 10 ms blocks, several at a time, for both legs: each block's power.

    The state at the start of each of k blocks is linear in (the first state, what each block
    drives into the state), so a group of blocks takes a few small matrix products instead of a
    loop over its blocks. They are built once per group size (a line feeds one batch at a time,
    so one or two sizes) and kept small: every line runs them, each time with a cold cache."""

    GROUP = 10          # blocks per product: bounds the matrices whatever the chunk size

    def __init__(self, sample_rate: int, n: int) -> None:
        self.n = n
        m = _highpass_block_matrix(sample_rate, n)
        # [y; s'] = M @ [x; s], split: y = Mxx x + Mxs s, s' = Msx x + Mss s.
        self._xx, self._xs, self._sx, self._ss = m[:n, :n], m[:n, n:], m[n:, :n], m[n:, n:]
        self._by_count: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.state = np.zeros((len(self._ss), 2))          # a column per leg

    def _state_matrices(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(F, H): the states at the start of blocks 0..count (the last: after them all), stacked,
        are F @ s0 + H @ d, with d the count blocks' drives (Msx @ block) stacked (count * 4, legs)."""
        if count not in self._by_count:
            dims = len(self._ss)
            powers = [np.eye(dims)]
            for _ in range(count):
                powers.append(self._ss @ powers[-1])
            H = np.zeros(((count + 1) * dims, count * dims))
            for k in range(1, count + 1):
                for j in range(k):     # block j's drive reaches the state k-1-j blocks on
                    H[k * dims:(k + 1) * dims, j * dims:(j + 1) * dims] = powers[k - 1 - j]
            self._by_count[count] = (np.vstack(powers), H)
        return self._by_count[count]

    def power(self, blocks: np.ndarray) -> np.ndarray:
        """blocks: (count, n, 2) samples in [-1, 1). Each block's mean square after the filter,
        (count, 2); the filter's state carries on to the next call."""
        if len(blocks) <= self.GROUP:
            return self._group_power(blocks)
        return np.concatenate([self._group_power(blocks[at:at + self.GROUP])
                               for at in range(0, len(blocks), self.GROUP)])

    def _group_power(self, blocks: np.ndarray) -> np.ndarray:
        count, n, legs = blocks.shape
        F, H = self._state_matrices(count)
        x = blocks.transpose(1, 0, 2).reshape(n, count * legs)            # a column per block and leg
        drives = (self._sx @ x).reshape(-1, count, legs).transpose(1, 0, 2).reshape(-1, legs)
        states = (F @ self.state + H @ drives).reshape(count + 1, -1, legs)
        self.state = states[-1]
        starts = states[:-1].transpose(1, 0, 2).reshape(-1, count * legs)
        out = self._xx @ x + self._xs @ starts
        return np.einsum("nc,nc->c", out, out).reshape(count, legs) / n


def _db(power: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(power, 10 ** (SILENCE_DBFS / 10)))


class _FloorTracker:
    """One leg's noise floor: the 10th percentile of its last FLOOR_S of levels, kept as a sorted
    list beside the ring of levels, so a new level costs a bisect instead of a partition."""

    def __init__(self, size: int) -> None:
        self._ring = [0.0] * size
        self._sorted: list[float] = []
        self._seen = 0

    def add(self, level: float) -> float:
        """Record a level; return the floor including it."""
        size = len(self._ring)
        slot = self._seen % size
        if self._seen >= size:
            del self._sorted[bisect.bisect_left(self._sorted, self._ring[slot])]
        self._ring[slot] = level
        bisect.insort(self._sorted, level)
        self._seen += 1
        return self._sorted[(len(self._sorted) - 1) * FLOOR_PERCENTILE // 100]


class VoxDetector:
    """Call start and end from a line's stereo audio (near, far); see the module docstring.

    A chunk's whole blocks are filtered and measured together in numpy; only the state machine
    runs per block, on plain floats (per block in numpy it cost more than the MP3 encoder)."""

    def __init__(self, sample_rate: int, settings: VoxSettings) -> None:
        self.rate = sample_rate
        self.block = max(1, round(sample_rate * BLOCK_S))
        self._filter = _BlockFilter(sample_rate, self.block)
        self._pending = np.zeros((0, 2), np.int16)        # samples of the next, incomplete block
        self._pending_at: int | None = None               # stream frame of _pending[0]
        self._recent = np.zeros((SMOOTH_BLOCKS - 1, 2))   # the previous blocks' power per leg
        self._floors = [_FloorTracker(round(FLOOR_S / BLOCK_S)) for _ in range(2)]
        self._blocks = 0
        self._loud: deque[tuple[int, int]] = deque()      # (block frame, its run's first frame), idle only
        self._run = 0                                     # consecutive sounding blocks so far
        self._run_from = 0                                # frame where that run began
        self._active = False
        self._sound_end = 0                               # while active: frame where the last sound ended
        self.update(settings)

    def update(self, settings: VoxSettings) -> None:
        """Take new settings at once; a call in progress, the floor and the filter carry on."""
        self.settings = settings
        self._burst = max(MIN_RUN_BLOCKS, math.ceil(settings.min_burst_ms / 1000 / BLOCK_S))
        self._window = round(max(START_WINDOW_MS, 2 * settings.min_burst_ms) / 1000 * self.rate)
        self._hang = round(settings.hang_s * self.rate)

    @property
    def active(self) -> bool:
        return self._active

    def assume_call(self, frame: int) -> None:
        """A call is known to be in progress (from another source) at frame: from now on hang_s
        without sound ends it, and sound keeps it going."""
        if not self._active:
            self._active, self._sound_end, self._loud = True, frame, deque()

    def feed(self, frames: np.ndarray, first_frame: int) -> list[tuple[str, int]]:
        """frames: int16 (n, 2) [near, far], starting at absolute frame first_frame; any chunk size,
        results must not depend on chunking. Returns ("offhook", frame) when a call starts — frame =
        where the qualifying sound began — and ("onhook", frame) when it ends — frame = where the
        last sound above stop_dbfs ended (not hang_s later)."""
        if self._pending_at is None or first_frame != self._pending_at + len(self._pending):
            self._pending, self._pending_at = self._pending[:0], first_frame   # first chunk, or a jump
        data = np.concatenate((self._pending, frames)) if len(self._pending) else frames
        n = self.block
        count = len(data) // n
        self._pending = data[count * n:].copy()
        if not count:
            return []
        levels, smoothed = self._measure(data[:count * n].reshape(count, n, 2) * (1 / 32768))
        events: list[tuple[str, int]] = []
        for i, (level, smooth) in enumerate(zip(levels, smoothed)):
            start = self._pending_at + i * n
            event = self._decide(level, smooth, start, start + n)
            if event:
                events.append(event)
        self._pending_at += count * n
        return events

    def _measure(self, blocks: np.ndarray) -> tuple[list[list[float]], list[list[float]]]:
        """Filter (count, n, 2) blocks of samples in [-1, 1): each block's level per leg in dB, and
        its 100 ms level (the mean power of it and the blocks before it), both as plain floats."""
        power = self._filter.power(blocks)
        recent = np.concatenate((self._recent, power))
        self._recent = recent[-(SMOOTH_BLOCKS - 1):]
        smoothed = sum(recent[i:i + len(power)] for i in range(SMOOTH_BLOCKS)) / SMOOTH_BLOCKS
        return _db(power).tolist(), _db(smoothed).tolist()

    def _decide(self, levels: list[float], smoothed: list[float], start: int, end: int) -> tuple[str, int] | None:
        """One block's part in the state machine: its level and 100 ms level per leg, the block is
        [start, end)."""
        self._blocks += 1
        if self._blocks < SMOOTH_BLOCKS:
            return None           # priming the 100 ms level
        s = self.settings
        loud = sounding = False
        for level, smooth, floor in zip(levels, smoothed, self._floors):
            above = level - floor.add(smooth)
            loud = loud or (level >= s.start_dbfs and above >= START_ABOVE_FLOOR_DB)
            sounding = sounding or (level >= s.stop_dbfs and above >= HOLD_ABOVE_FLOOR_DB)
        if sounding:
            if self._run == 0:
                self._run_from = start
            self._run += 1
        else:
            self._run = 0
        if self._active:
            if self._run >= MIN_RUN_BLOCKS:
                self._sound_end = end
            elif end - self._sound_end >= self._hang:
                self._active = False
                return ("onhook", self._sound_end)
            return None
        if loud:
            self._loud.append((start, self._run_from))
        while self._loud and self._loud[0][0] < end - self._window:
            self._loud.popleft()
        if len(self._loud) < self._burst or self._run < MIN_RUN_BLOCKS:
            return None
        began = max(self._loud[0][1], end - self._window)
        self._loud.clear()
        self._active, self._sound_end = True, end
        return ("offhook", began)
