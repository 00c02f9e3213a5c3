"""Remake the demo's voices: `.venv/bin/python appliance/sim/voices/make_voices.py [DIR]` (needs
espeak-ng; writes next to itself, or into DIR).

Each conversation of the built-in demo (appliance/sim/demo.toml) becomes two small MP3 files, 8 kHz
mono: NAME-near.mp3, what the office says (the near leg), and NAME-far.mp3, what the other end says
(the far leg), each silent while the other one talks, so the two legs take turns as people do. An
outbound call's far leg starts with a burst of ringing tone before the answer. The files start
where the call's talk starts (after any dialing); the demo's `talk` times fit their lengths.
"""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import lameenc
import numpy as np
import soundfile

HERE = Path(__file__).resolve().parent
RATE = 22050            # espeak-ng's own rate; LAME resamples to OUT_RATE as it encodes
OUT_RATE = 8000
KBPS = 16
GAP_S = 0.45            # between one person's turn and the other's
TAIL_S = 1.0
LEVEL_DBFS = {"near": -16.0, "far": -20.0}    # RMS while speaking: the office handset is the louder leg

VOICES = {"sam": "en-us+f3", "alex": "en-us+m3", "joe": "en-us+m7", "maria": "en-us+f4", "clerk": "en+m2",
          "jane": "en-us+f2", "driver": "en-gb+m4", "stranger": "en-us+m1"}
NEAR = {"sam", "alex"}  # the office's people; everyone else is on the far end

CONVERSATIONS = {
    "plumber": [
        ("sam", "Good morning, Harbor Dental, this is Sam."),
        ("joe", "Hi Sam, it's Joe from Acme Plumbing, returning your call about the leak."),
        ("sam", "Thanks for calling back. Could you come by this afternoon?"),
        ("joe", "Sure. I can be there at three o'clock."),
        ("sam", "Perfect, see you at three. Bye now."),
    ],
    "lab": [
        ("ring", ""),
        ("maria", "Bayview Dental Lab, Maria speaking."),
        ("sam", "Hi Maria, it's Sam at Harbor Dental. Is the crown for Missus Lee ready?"),
        ("maria", "Yes, it is. We will send it over tomorrow morning."),
        ("sam", "Wonderful, thank you so much."),
    ],
    "patient": [
        ("sam", "Harbor Dental, Sam speaking."),
        ("jane", "Hello, this is Jane Miller. I would like to move my appointment to next Tuesday."),
        ("sam", "Of course. Would ten thirty on Tuesday work for you?"),
        ("jane", "Ten thirty is fine. Thank you."),
    ],
    "supplies": [
        ("ring", ""),
        ("clerk", "Good afternoon, City Office Supplies."),
        ("alex", "Hello, this is Alex at Harbor Dental. Two boxes of printer paper, please."),
        ("clerk", "No problem. They will be delivered on Friday."),
        ("alex", "Great, thanks. Goodbye."),
    ],
    "delivery": [
        ("alex", "Workshop, Alex speaking."),
        ("driver", "Hi Alex, the delivery truck is at the back gate."),
        ("alex", "Okay, I am coming right out."),
    ],
    "wrong": [
        ("stranger", "Oh, sorry, wrong number."),
    ],
}


def speak(who: str, text: str) -> np.ndarray:
    """One phrase from espeak-ng, as float samples at RATE."""
    wav = subprocess.run(["espeak-ng", "-v", VOICES[who], "-s", "155", "--stdout", text],
                         check=True, capture_output=True).stdout
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float64")
    assert rate == RATE, rate
    return samples


def ringing(seconds: float = 2.0) -> np.ndarray:
    """North American ringing tone (440 + 480 Hz), then the silence before the answer."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.05 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 480 * t))
    return np.concatenate([tone, np.zeros(RATE)])


def at_level(samples: np.ndarray, dbfs: float) -> np.ndarray:
    rms = np.sqrt(np.mean(samples ** 2))
    return samples * (10 ** (dbfs / 20) / rms) if rms else samples


def legs(turns: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """The near and far legs of a conversation: each turn on its speaker's leg, in order."""
    pieces: dict[str, list[np.ndarray]] = {"near": [], "far": []}
    for who, text in turns:
        sound = ringing() if who == "ring" else at_level(speak(who, text), LEVEL_DBFS["near" if who in NEAR else "far"])
        sound = np.concatenate([sound, np.zeros(int(GAP_S * RATE))])
        mine = "near" if who in NEAR else "far"
        for leg in pieces:
            pieces[leg].append(sound if leg == mine else np.zeros(len(sound)))
    return {leg: np.concatenate([*parts, np.zeros(int(TAIL_S * RATE))]) for leg, parts in pieces.items()}


def mp3(samples: np.ndarray) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_in_sample_rate(RATE)
    encoder.set_out_sample_rate(OUT_RATE)
    encoder.set_channels(1)
    encoder.set_bit_rate(KBPS)          # constant: without a Xing header, decoders misjudge a VBR file's length
    encoder.set_quality(2)
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
    return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, turns in CONVERSATIONS.items():
        for leg, samples in legs(turns).items():
            if not samples.any():
                continue                # nobody speaks on that leg: the demo says "silence" there
            path = out / f"{name}-{leg}.mp3"
            path.write_bytes(mp3(samples))
            print(f"{path.name}: {len(samples) / RATE:.1f} s, {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
