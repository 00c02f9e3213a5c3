"""Keep every good MP3 frame of a damaged spool part.

A crash or power cut can leave more than a cut-off tail: flash, or a filesystem that reorders
writes, can zero a block in the middle of a part, or leave garbage after it. salvage() walks
the frames, and where the chain breaks it resynchronises on the next frame header whose own
next frame also checks out (one header alone turns up in random bytes every few KB). Each
unreadable stretch between good frames is a Gap; rebuild() writes the good frames with the
gaps filled by as many silent frames as the lost bytes held, so what follows a hole stays at
its own time in the call (its events, pauses and waveform line up). Unreadable bytes after
the last good frame are cut, as they always were.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .mp3frames import header, id3v2_size


@dataclass(frozen=True)
class Gap:
    offset: int         # where the unreadable bytes start, in the part as found
    length: int         # how many bytes could not be read
    at_s: float         # where the gap falls in the rebuilt recording, in seconds
    silent_frames: int  # silent frames put in its place

    def as_detail(self, seconds_per_frame: float) -> dict:
        return {"offset": self.offset, "bytes": self.length, "at_s": round(self.at_s, 3),
                "lost_s": round(self.silent_frames * seconds_per_frame, 3)}


@dataclass
class Salvage:
    frames: list[tuple[int, int]] = field(default_factory=list)     # (offset, length) of each good frame
    gaps: list[Gap] = field(default_factory=list)
    tail_bytes: int = 0         # unreadable bytes after the last good frame (cut)
    samples_per_frame: int = 0
    sample_rate: int = 0
    silence: bytes = b""        # one silent frame in the stream's format

    @property
    def seconds_per_frame(self) -> float:
        return self.samples_per_frame / self.sample_rate if self.sample_rate else 0.0

    @property
    def seconds(self) -> float:
        """Length of the rebuilt recording: the good frames and the silence in the gaps."""
        return (len(self.frames) + sum(g.silent_frames for g in self.gaps)) * self.seconds_per_frame

    def rebuild(self, data: bytes) -> bytes:
        """The good frames in order, each gap filled with silent frames."""
        gaps = {g.offset + g.length: g for g in self.gaps}
        out = bytearray()
        for offset, length in self.frames:
            gap = gaps.get(offset)
            if gap is not None:
                out += self.silence * gap.silent_frames
            out += data[offset:offset + length]
        return bytes(out)


def _format(data: bytes, i: int) -> tuple[int, int, int]:
    """What must stay the same from frame to frame: version and layer, sample rate, channel mode."""
    return data[i + 1] & 0xFE, data[i + 2] & 0x0C, data[i + 3] & 0xC0


def _checks_out(data: bytes, i: int, fmt: tuple | None) -> bool:
    """A frame at i that fits in the data, in the stream's format, followed by another one."""
    head = header(data, i)
    if head is None or i + head[0] > len(data) or (fmt is not None and _format(data, i) != fmt):
        return False
    following = i + head[0]
    return header(data, following) is not None and _format(data, following) == _format(data, i) \
        and following + header(data, following)[0] <= len(data)


def _silent_frame(data: bytes, i: int) -> bytes:
    """A frame in the format of the one at i that decodes to silence: no CRC, no padding, and
    all-zero side information (no main data, gain zero)."""
    head = bytes((0xFF, data[i + 1] | 0x01, data[i + 2] & 0xFD, data[i + 3]))
    length = header(head, 0)[0]
    return head + bytes(length - 4)


def salvage(data: bytes) -> Salvage:
    start = i = id3v2_size(data)
    found = Salvage()
    fmt: tuple | None = None
    broken_at: int | None = None if header(data, i) is not None else i
    frame_bytes = silent = 0
    while i < len(data):
        head = header(data, i)
        whole = head is not None and i + head[0] <= len(data) and (fmt is None or _format(data, i) == fmt)
        if broken_at is None and whole:
            found.frames.append((i, head[0]))
            if fmt is None:
                fmt, found.samples_per_frame, found.sample_rate = _format(data, i), head[1], head[2]
                found.silence = _silent_frame(data, i)
                frame_bytes = len(found.silence)
            i += head[0]
            continue
        if broken_at is None:
            broken_at = i
        if not _checks_out(data, i, fmt):
            i += 1
            continue
        # Resynchronised: the bytes from broken_at to i are a gap.
        if fmt is None:
            fmt, head = _format(data, i), header(data, i)
            found.samples_per_frame, found.sample_rate = head[1], head[2]
            found.silence = _silent_frame(data, i)
            frame_bytes = len(found.silence)
        lost = i - broken_at
        gap = Gap(offset=broken_at, length=lost, at_s=(len(found.frames) + silent) * found.seconds_per_frame,
                  silent_frames=max(1, round(lost / frame_bytes)))
        found.gaps.append(gap)
        silent += gap.silent_frames     # counted as it goes: a part with 100,000 gaps must not take n² steps
        broken_at = None
    end = found.frames[-1][0] + found.frames[-1][1] if found.frames else start
    found.tail_bytes = len(data) - end
    if not found.frames:
        found.gaps.clear()
    return found
