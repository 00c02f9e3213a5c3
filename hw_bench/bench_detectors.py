"""Detector CPU benchmark: what the touch-tone decoder and VOX add to a line, beside the MP3
encoder on the same audio.

Feeds generated 8 kHz stereo audio to appliance.audio.dtmf.DtmfDecoder (the office leg, as the
line's Detectors do), appliance.hook.vox.VoxDetector (both legs) and, for scale, the recorder's
own StreamEncoder, in the chunks a live line hands them (appliance.line.batch: 100 ms), and
prints CPU seconds (time.process_time) per hour of audio for three signals: line hiss, digital
silence, and the benchmark call of hw_bench/live_loopback.py (dialing and speech). Every run
checks the decoder heard what was dialed in the call and nothing in the others.

    .venv/bin/python hw_bench/bench_detectors.py [--seconds N]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from appliance.audio import tones
from appliance.audio.dtmf import DtmfDecoder
from appliance.hook.vox import VoxDetector, VoxSettings
from appliance.line.batch import BATCH_S
from appliance.recording.mp3 import StreamEncoder
from live_loopback import CYCLE_S, DIALED, HISS_DBFS, call_cycle

RATE, BITRATE_KBPS = 8000, 32
CHUNK = round(BATCH_S * RATE)    # what a line's Python work is fed at a time


def signal(kind: str, seconds: float) -> np.ndarray:
    """`seconds` of int16 stereo (n, 2)."""
    n = int(seconds * RATE)
    if kind == "silence":
        return np.zeros((n, 2), dtype=np.int16)
    if kind == "hiss":
        out = np.random.default_rng(2).standard_normal((n, 2)) * tones.amplitude(HISS_DBFS)
    else:
        out = np.tile(call_cycle(RATE), (int(np.ceil(seconds / CYCLE_S)), 1))[:n]
    return np.clip(np.round(out * 32767), -32768, 32767).astype(np.int16)


def cost(feed, audio: np.ndarray) -> tuple[float, list]:
    """CPU s per hour of audio for feeding `audio` chunk by chunk; and what feed returned."""
    heard = []
    start = time.process_time()
    for first in range(0, len(audio), CHUNK):
        heard += feed(audio[first:first + CHUNK], first) or []
    return (time.process_time() - start) * 3600 * RATE / len(audio), heard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="audio per signal (default 120)")
    args = parser.parse_args()
    if args.seconds < CYCLE_S:
        parser.error(f"--seconds must be >= {CYCLE_S:g}")
    print(f"command: {' '.join(sys.orig_argv)}")
    print(f"input:   {args.seconds:g} s of 8 kHz stereo per signal, fed in {CHUNK}-frame "
          f"({BATCH_S * 1000:g} ms) chunks as a line's batch; CPU s per hour of audio (time.process_time)")
    print()
    print(f"{'signal':10}{'DTMF decoder':>14}{'VOX':>8}{'MP3 encoder':>13}")
    for kind in ("hiss", "silence", "call"):
        audio = signal(kind, args.seconds)
        dtmf = DtmfDecoder(RATE)
        dtmf_s, digits = cost(lambda frames, first, dtmf=dtmf: dtmf.feed(frames[:, 0], first), audio)
        vox = VoxDetector(RATE, VoxSettings())
        vox_s, _ = cost(vox.feed, audio)
        encoder = StreamEncoder(RATE, BITRATE_KBPS)
        mp3_s, _ = cost(lambda frames, first, encoder=encoder: encoder.encode(frames) and None, audio)
        heard = "".join(d for d, _ in digits)
        expected = DIALED * int(args.seconds // CYCLE_S) if kind == "call" else ""
        # Nothing but the dialing: a cycle cut off at the end may leave part of DIALED.
        if not (heard.startswith(expected) and DIALED.startswith(heard[len(expected):])):
            sys.exit(f"bench_detectors: the decoder heard {heard!r} in the {kind}, expected {expected!r}")
        print(f"{kind:10}{dtmf_s:>14.2f}{vox_s:>8.2f}{mp3_s:>13.2f}")
    print()
    print(f"checked: the decoder heard {DIALED} in every cycle of the call, and no digit in hiss or silence")


if __name__ == "__main__":
    main()
