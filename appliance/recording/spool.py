"""Calls in progress as spool/*.part files, and their finalization into recordings/.

A part file only ever grows by whole MP3 frames' worth of encoder output and is fsynced at
least every FSYNC_INTERVAL_S, so a crash or power cut loses at most that much audio.
Finalizing tags the file (ID3v2.3: id3tags.py), hashes it, and renames it atomically into
recordings/YYYY/MM/DD/ under a name that is safe on FAT and exFAT sticks.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from ..present import zone as zonemod
from ..store import times
from ..store.box import BoxFacts
from . import id3tags, mp3frames

FSYNC_INTERVAL_S = 1.0
SPOOL = "spool"
RECORDINGS = "recordings"


class PartWriter:
    """Append-only writer of one call's .part file with a bounded fsync interval.

    With fsync_interval_s=None the writer never fsyncs by itself: the daemon's disk worker
    calls sync() from its own thread instead. With a room (room.DiskRoom), each write first makes
    sure it leaves the catalog its room, or raises room.DiskFull and writes nothing.
    """

    def __init__(self, path: Path, fsync_interval_s: float | None = FSYNC_INTERVAL_S, room=None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
        self._interval = fsync_interval_s
        self._room = room
        self._last_sync = time.monotonic()
        self.size = 0
        _fsync_dir(path.parent)  # the new name itself must survive a power cut

    def write(self, data: bytes) -> None:
        if self._room is not None and data:
            self._room.check(len(data), self._fd)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self.size += written
        if self._interval is not None and time.monotonic() - self._last_sync >= self._interval:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._fd)
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_UNSAFE = re.compile(r"[^0-9A-Za-z+]")


def recording_name(started_at: float, line: int, direction: str | None, number: str | None,
                   call_id: str, part: int = 1, *, zone: tzinfo) -> Path:
    """recordings/YYYY/MM/DD/<local time>_L<line>_<in|out>_<number>_<id>.mp3 (FAT-safe), in the
    box's zone (the config's `timezone`, as titles and export names), not the process's."""
    local = datetime.fromtimestamp(started_at, zone)
    way = {"inbound": "in", "outbound": "out"}.get(direction or "", "call")
    digits = _UNSAFE.sub("", number or "")[:32] or "unknown"
    suffix = f"-p{part}" if part > 1 else ""
    name = f"{local:%Y-%m-%d_%H-%M-%S}_L{line}_{way}_{digits}_{call_id}{suffix}.mp3"
    return Path(RECORDINGS, f"{local:%Y}", f"{local:%m}", f"{local:%d}", name)


@dataclass(frozen=True)
class Finished:
    path: str           # relative to the data folder
    size_bytes: int
    sha256: str
    audio_s: float      # length of the audio in the file, from its frames


def finalize(data_dir: Path, part_path: Path, call: dict, box: BoxFacts) -> Finished:
    """Tag (id3tags, in the words of the box), hash and atomically move a finished .part file
    into recordings/."""
    audio = mp3frames.scan(part_path.read_bytes())
    id3tags.write(part_path, call, box, audio.seconds)
    with open(part_path, "rb+") as f:
        os.fsync(f.fileno())
    size, sha256 = hash_file(part_path)
    started = times.seconds(call["started_at"])
    rel = recording_name(started, call["line"], call.get("direction"),
                         call.get("remote_number") or call.get("dialed"), call["id"], call.get("part") or 1,
                         zone=zonemod.box_zone(box.timezone))
    final = data_dir / rel
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(part_path, final)
    _fsync_dir(final.parent)
    _fsync_dir(part_path.parent)
    return Finished(path=str(rel), size_bytes=size, sha256=sha256, audio_s=round(audio.seconds, 3))


def hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 16):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
