"""One call (or one part of a long call) being recorded: catalog row, encoder, part file.

The catalog row exists from the first frame (status 'recording') so that a crash always
leaves something recovery can find; finish() and discard() are the only ways out. The line's
thread passes each chunk of frames down the recording's chain of frame stages: the waveform
peaks (peaks.py), then the encoder, whose MP3 is appended to the part file. A stage may hand
the next one other frames (masking keyed digits will), or observe them (statistics will).
fsync and finalizing (which stores the peaks) run on the daemon's disk worker when there is one
(inline otherwise).
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import sqlite_utils

from ..store import box as boxmod, catalog
from ..store.kinds import Event, Status
from ..store.peaks import save_peaks
from . import recover, salvage, spool
from .disk import DiskWorker
from .mp3 import StreamEncoder
from .peaks import PER_S, PeakMeter
from .room import disk_full

log = logging.getLogger("hookline.call")

START_ROOM_S = 10       # a part starts only with room for this much audio beyond the catalog's
DISK_FULL = "disk-full"     # calls.cut_short: the part ends where the disk filled


@dataclass
class CallInfo:
    """What is known about a call when it starts (caller ID may arrive later)."""
    line: int
    started_at: float               # wall time (UTC seconds) of the off-hook
    direction: str | None = None
    remote_number: str | None = None
    remote_name: str | None = None
    remote_withheld: bool = False
    dialed: str | None = None
    clock_synced: bool = False
    part: int = 1
    previous_id: str | None = None


class FrameStage(Protocol):
    def feed(self, frames: np.ndarray) -> np.ndarray | None:
        """Take a chunk of stereo frames; return what the next stage gets (None: the same)."""


class EncoderStage:
    """The chain's end: the MP3 encoder, appending what it makes to the part file."""

    def __init__(self, encoder: StreamEncoder, writer: spool.PartWriter) -> None:
        self.encoder, self.writer = encoder, writer

    def feed(self, frames: np.ndarray) -> None:
        data = self.encoder.encode(frames)
        if data:
            self.writer.write(data)

    def finish(self) -> None:
        self.writer.write(self.encoder.flush())


def record_dropped(db: sqlite_utils.Database, call_id: str, info: CallInfo, ended_at: float,
                   duration_s: float) -> None:
    """The catalog row of a call that was never recorded (the record policy dropped it at
    off-hook): the call happened, and its history says why nothing was kept."""
    catalog.create_call(db, {
        "id": call_id, "line": info.line, "direction": info.direction, "started_at": catalog.iso(info.started_at),
        "ended_at": catalog.iso(ended_at), "duration_s": round(duration_s, 3), "remote_number": info.remote_number,
        "remote_name": info.remote_name, "remote_withheld": int(info.remote_withheld), "dialed": info.dialed,
        "status": Status.DISCARDED, "clock_synced": int(info.clock_synced)})


class CallRecording:
    def __init__(self, db: sqlite_utils.Database, data_dir: Path, info: CallInfo, *,
                 sample_rate: int, bitrate_kbps: int, preroll_s: float, disk: DiskWorker | None = None) -> None:
        self.db = db
        self.data_dir = data_dir
        self.info = info
        self.id = catalog.new_call_id()
        self.sample_rate = sample_rate
        self.preroll_s = preroll_s
        self.part_path = data_dir / spool.SPOOL / f"{self.id}.mp3.part"
        self._disk = disk
        if disk:    # room for some seconds of audio first: no row nor file for a part cut at once
            disk.room.check(bitrate_kbps * 125 * START_ROOM_S)
        self._writer = spool.PartWriter(self.part_path, None if disk else spool.FSYNC_INTERVAL_S,
                                        room=disk.room if disk else None)
        self._peaks = PeakMeter(sample_rate)   # fed the very frames the encoder gets
        self._encoder = EncoderStage(StreamEncoder(sample_rate, bitrate_kbps), self._writer)
        self.stages: list[FrameStage] = [self._peaks, self._encoder]
        self.frames = 0
        self.done = False       # finish() or discard() handed it over: nothing more to cut or abandon
        try:
            self._create_row(db, info, preroll_s, bitrate_kbps)
        except BaseException:
            # No row, no file: nothing for recovery to puzzle over.
            try:
                self._writer.close()
            finally:
                self.part_path.unlink(missing_ok=True)
            raise
        if disk:
            disk.register(self._writer)

    def _create_row(self, db: sqlite_utils.Database, info: CallInfo, preroll_s: float, bitrate_kbps: int) -> None:
        catalog.create_call(db, {
            "id": self.id, "line": info.line, "direction": info.direction,
            "started_at": catalog.iso(info.started_at), "remote_number": info.remote_number,
            "remote_name": info.remote_name, "remote_withheld": int(info.remote_withheld),
            "dialed": info.dialed, "status": Status.RECORDING,
            "spool_path": str(self.part_path.relative_to(self.data_dir)), "preroll_s": round(preroll_s, 3),
            "part": info.part, "previous_id": info.previous_id, "clock_synced": int(info.clock_synced),
            "sample_rate": self.sample_rate, "bitrate_kbps": bitrate_kbps,
        })

    def write(self, frames: np.ndarray) -> None:
        self.frames += len(frames)
        with self._cut_short_if_full():
            for stage in self.stages:
                passed = stage.feed(frames)
                if passed is not None:
                    frames = passed

    def finish(self, ended_at: float, duration_s: float) -> None:
        """Flush the encoder; then (on the disk worker) finalize into recordings/ and mark the
        row complete."""
        with self._cut_short_if_full():
            self._encoder.finish()
        self.done = True
        self._hand_off(lambda db: self._finalize(db, ended_at, duration_s))

    def discard(self, ended_at: float, duration_s: float) -> None:
        """Drop the audio (too short, or not to be kept) but keep the row saying so."""
        self.done = True
        self._hand_off(lambda db: self._discard(db, ended_at, duration_s))

    def abandon(self) -> None:
        """Writing failed: close the part file as it is and leave it, and the row still marked
        'recording', for recovery, which cuts it at the last whole frame."""
        if self.done:
            return
        try:
            self._close()
        except OSError as e:
            log.error("call %s: closing the part file failed: %s", self.id, e)

    @contextmanager
    def _cut_short_if_full(self):
        """A write that finds the disk full finishes the part there, whoever wrote (a chunk, the
        last one at the on-hook, the flush), before the error goes on to the line."""
        try:
            yield
        except OSError as e:
            if disk_full(e):
                self.cut_short()
            raise

    def stop_after(self, error: Exception) -> None:
        """Writing failed: a full disk has the part finished now, cut short; anything else leaves
        it for recovery."""
        if disk_full(error):
            self.cut_short()
        else:
            self.abandon()

    def cut_short(self, cause: str = DISK_FULL) -> None:
        """The disk filled: finish the part now (on the disk worker) with the audio that reached
        its file, up to the last whole frame, marked cut short. The encoder's last frames are not
        flushed: there is no room for them."""
        if self.done:
            return
        self.done = True
        self._hand_off(lambda db: self._finalize_cut(db, cause))

    def _hand_off(self, job) -> None:
        if self._disk:
            self._disk.submit(job)
        else:
            job(self.db)

    def _close(self) -> None:
        if self._disk:
            self._disk.unregister(self._writer)
        self._writer.close()

    def _finalize_cut(self, db: sqlite_utils.Database, cause: str) -> None:
        self._close()
        data = self.part_path.read_bytes()
        found = salvage.salvage(data)
        duration = max(0.0, found.seconds - self.preroll_s)
        ended_at = self.info.started_at + duration
        if not found.frames:
            self._discard(db, ended_at, duration)
            return
        recover.repair_part(self.part_path, data, found)     # a write cut mid-frame ends at the frame before
        done = self._finalize(db, ended_at, duration, cut_short=cause)
        catalog.log_event(db, self.info.line, Event.CUT_SHORT, ended_at, self.id, cause=cause, audio_s=done.audio_s)

    def _finalize(self, db: sqlite_utils.Database, ended_at: float, duration_s: float,
                  cut_short: str | None = None) -> spool.Finished:
        self._close()
        row = catalog.get_call(db, self.id)
        row.update(ended_at=catalog.iso(ended_at), duration_s=round(duration_s, 3))
        done = spool.finalize(self.data_dir, self.part_path, row, boxmod.facts(db))
        # Peaks before the row says complete: nothing can delete the call in between, and a
        # crash in between leaves the row 'recording' for recovery (which replaces them).
        near, far = self._peaks.finish(round(done.audio_s * self.sample_rate))
        try:
            save_peaks(db, self.id, near, far, PER_S)
        except Exception as e:   # the waveform is a convenience: never let it cost the call
            log.error("call %s: cannot store its waveform peaks: %s", self.id, e)
        catalog.update_call(db, self.id, ended_at=row["ended_at"], duration_s=row["duration_s"],
                            status=Status.COMPLETE, path=done.path, spool_path=None, size_bytes=done.size_bytes,
                            sha256=done.sha256, audio_s=done.audio_s, **({"cut_short": cut_short} if cut_short else {}))
        log.info("line %s: call %s finished%s, %.1f s, %s", self.info.line, self.id,
                 f" (cut short: {cut_short})" if cut_short else "", duration_s, done.path)
        return done

    def _discard(self, db: sqlite_utils.Database, ended_at: float, duration_s: float) -> None:
        self._close()
        self.part_path.unlink(missing_ok=True)
        catalog.update_call(db, self.id, ended_at=catalog.iso(ended_at), duration_s=round(duration_s, 3),
                            status=Status.DISCARDED, spool_path=None)

    def update(self, **fields) -> None:
        """Caller ID or digits that arrive mid-call."""
        for key, value in fields.items():
            setattr(self.info, key, value)
        catalog.update_call(self.db, self.id, **{k: (int(v) if isinstance(v, bool) else v) for k, v in fields.items()})
