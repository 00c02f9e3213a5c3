"""Waveform-peaks CPU benchmark: what PeakMeter adds to a line's capture thread.

Feeds generated 8 kHz stereo int16 audio (white noise on both legs) to
appliance.recording.peaks.PeakMeter in chunks of one ALSA period (20 ms: 160 frames), as
CallRecording.write() does on a live line, and prints the CPU time (time.process_time) per
hour of audio and as a share of one core per line. Also prints the same figure for 16 kHz and
for the 4096-frame chunks a faster-than-real-time simulation may deliver.

    .venv/bin/python hw_bench/bench_peaks.py [--seconds N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from appliance.recording.peaks import DECODER_DELAY, PER_S, PeakMeter


def cost(rate: int, seconds: float, chunks: list[np.ndarray]) -> float:
    """CPU seconds per hour of audio for feeding `seconds` of audio, chunk by chunk."""
    meter = PeakMeter(rate)
    total = int(seconds * rate)
    fed = k = 0
    start = time.process_time()
    while fed < total:
        frames = chunks[k % len(chunks)]
        meter.feed(frames)
        fed += len(frames)
        k += 1
    near, _ = meter.finish()
    used = time.process_time() - start
    slot = rate // PER_S
    assert len(near) == -(-(fed + DECODER_DELAY) // slot), "every frame fed is in a slot"
    return used * 3600.0 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3600.0, help="audio per measurement (default: an hour)")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    print(f"PeakMeter.feed, {args.seconds:.0f} s of audio per row (white noise, both legs)")
    print(f"{'rate':>6} {'chunk':>6}  {'CPU s per line-hour':>20}  {'% of one core per line':>23}")
    for rate, chunk in ((8000, 160), (16000, 320), (8000, 4096)):
        chunks = [(rng.standard_normal((chunk, 2)) * 4000).astype(np.int16) for _ in range(64)]
        per_hour = cost(rate, args.seconds, chunks)
        print(f"{rate:>6} {chunk:>6}  {per_hour:>20.2f}  {100 * per_hour / 3600:>22.3f}%")


if __name__ == "__main__":
    main()
