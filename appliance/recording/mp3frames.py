"""Walk MPEG audio (Layer III) frame headers: find where the last whole frame ends and how
much audio the frames hold. Recovery cuts a crashed .part file there."""
from __future__ import annotations

from dataclasses import dataclass

_BITRATES_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_BITRATES_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True)
class Scan:
    start: int          # offset of the first frame (after any ID3v2 tag)
    end: int            # offset just past the last whole frame
    frames: int
    samples: int        # per channel
    sample_rate: int

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate if self.sample_rate else 0.0


def header(data: bytes, i: int) -> tuple[int, int, int] | None:
    """(frame length, samples per frame, sample rate) of a Layer III header at i, else None."""
    if i + 4 > len(data) or data[i] != 0xFF or data[i + 1] & 0xE0 != 0xE0:
        return None
    version = (data[i + 1] >> 3) & 3          # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    layer = (data[i + 1] >> 1) & 3            # 1: Layer III
    bitrate_index = data[i + 2] >> 4
    rate_index = (data[i + 2] >> 2) & 3
    padding = (data[i + 2] >> 1) & 1
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    rate = _RATES[version][rate_index]
    if version == 3:
        return 144000 * _BITRATES_V1[bitrate_index] // rate + padding, 1152, rate
    return 72000 * _BITRATES_V2[bitrate_index] // rate + padding, 576, rate


def id3v2_size(data: bytes) -> int:
    if len(data) >= 10 and data[:3] == b"ID3":
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        return 10 + size + (10 if data[5] & 0x10 else 0)
    return 0


def scan(data: bytes) -> Scan:
    """Follow the chain of frames from the start; stop at the first broken or cut-off frame."""
    start = i = id3v2_size(data)
    frames = samples = rate = 0
    while True:
        head = header(data, i)
        if head is None or i + head[0] > len(data):
            break
        length, per_frame, rate = head
        frames += 1
        samples += per_frame
        i += length
    return Scan(start=start, end=i, frames=frames, samples=samples, sample_rate=rate)
