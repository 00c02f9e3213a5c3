"""Finalize calls that a crash or power cut left unfinished.

Every catalog row still marked 'recording' and every spool/*.part file becomes a playable,
hashed recording with status 'recovered': every good MP3 frame is kept (salvage.py: a
damaged stretch in the middle becomes silence of the same length, what follows the last good
frame is cut) and the call's length is taken from the frames. Its waveform peaks, which the crash took
with the recorder's memory, are measured by decoding the recovered file once. Nothing is
deleted that holds audio: a part in which no frame can be read is moved to quarantine/.
"""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import sqlite_utils

from ..files import write_atomic
from ..present import zone as zonemod
from ..store import box as boxmod, catalog, times
from ..store.kinds import Event, Status
from . import mp3frames, peaks, quarantine, salvage, spool

log = logging.getLogger("hookline.recover")


def recover(db: sqlite_utils.Database, data_dir: Path) -> list[str]:
    """Recover everything unfinished; returns the ids of the calls recovered."""
    data_dir = Path(data_dir)
    done: list[str] = []
    for row in catalog.unfinished_calls(db):
        part = data_dir / row["spool_path"] if row.get("spool_path") else None
        try:
            if part is not None and (part.exists() or part.is_symlink()):
                _recover_part(db, data_dir, row, part)
            else:
                _recover_missing_part(db, data_dir, row)
        except Exception:   # one call must not stop the start (a restart would meet it again, for ever)
            log.exception("call %s: cannot recover it now; it is left as it is for the next start", row["id"])
            continue
        done.append(row["id"])
    # A part file with no row: the crash came between creating the file and the insert.
    spool_dir = data_dir / spool.SPOOL
    if spool_dir.is_dir():
        for part in sorted(spool_dir.glob("*.part")):
            call_id = part.name.split(".")[0]
            if catalog.get_call(db, call_id) is None:
                orphans = spool_dir / "orphaned"
                try:
                    orphans.mkdir(exist_ok=True)
                    os.rename(part, orphans / part.name.removesuffix(".part"))
                except OSError as e:    # left where it is: the start goes on
                    log.error("spool file %s has no catalog row and cannot be set aside: %s", part.name, e)
                    continue
                log.warning("spool file %s has no catalog row; kept as %s", part.name, orphans / part.name)
    return done


def _store_peaks(db: sqlite_utils.Database, call_id: str, path: Path) -> None:
    """Measure and store a recovered file's peaks; a failure costs the waveform, never the call."""
    try:
        per_s, near, far = peaks.peaks_of_file(path)
        peaks.save_peaks(db, call_id, near, far, per_s)
    except Exception as e:
        log.error("call %s: cannot measure the waveform peaks of %s: %s", call_id, path, e)


def repair_part(part: Path, data: bytes, found: salvage.Salvage) -> None:
    """Make the part hold only its good frames: cut what follows the last one, and where the
    middle is damaged, rewrite it with the gaps filled by silence (atomically, fsynced)."""
    if found.gaps:
        write_atomic(part, found.rebuild(data), mode=0o640)
    elif found.tail_bytes:
        with open(part, "rb+") as f:
            f.truncate(len(data) - found.tail_bytes)
            os.fsync(f.fileno())


def _drop_part(db: sqlite_utils.Database, data_dir: Path, row: dict, part: Path, size: int) -> None:
    """No frame could be read: an empty part is removed (no audio reached the disk); bytes that
    are not audio are moved to quarantine/ under the same name, never deleted."""
    detail: dict = {"reason": "recovered after a crash, but no audio had reached the disk", "rule": "crash-no-audio"}
    if size:
        moved = quarantine.move(data_dir, part)
        detail = {"reason": f"recovered after a crash, but no audio could be read; the file is kept as {moved}",
                  "rule": "crash-unreadable", "quarantined": moved, "bytes": size}
        log.warning("call %s: no audio could be read from %s (%d bytes); kept as %s", row["id"], part.name, size, moved)
    else:
        part.unlink()
    catalog.update_call(db, row["id"], status=Status.DISCARDED, spool_path=None, duration_s=0.0,
                        ended_at=row["started_at"])
    catalog.log_event(db, row["line"], Event.DISCARD, times.seconds(row["started_at"]), row["id"], **detail)


def _read_part(part: Path) -> bytes | None:
    """The part's bytes, or None when it is not a plain file: a link is never followed (it could
    point at any file the recorder may write) and a FIFO never waited on (the start would hang)."""
    try:
        fd = os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with open(fd, "rb") as f:
        return f.read() if stat.S_ISREG(os.fstat(fd).st_mode) else None


def _recover_part(db: sqlite_utils.Database, data_dir: Path, row: dict, part: Path) -> None:
    data = _read_part(part)
    if data is None:
        log.warning("call %s: its part %s is not a plain file", row["id"], part.name)
        _drop_part(db, data_dir, row, part, part.lstat().st_size)
        return
    found = salvage.salvage(data)
    if not found.frames:
        _drop_part(db, data_dir, row, part, len(data))
        return
    repair_part(part, data, found)
    duration = max(0.0, found.seconds - (row.get("preroll_s") or 0.0))
    started = times.seconds(row["started_at"])
    ended = started + duration
    row.update(ended_at=catalog.iso(ended), duration_s=round(duration, 3))
    fin = spool.finalize(data_dir, part, row, boxmod.facts(db))
    _store_peaks(db, row["id"], data_dir / fin.path)
    catalog.update_call(db, row["id"], status=Status.RECOVERED, path=fin.path, spool_path=None,
                        size_bytes=fin.size_bytes, sha256=fin.sha256, audio_s=fin.audio_s,
                        ended_at=row["ended_at"], duration_s=row["duration_s"])
    for gap in found.gaps:
        detail = gap.as_detail(found.seconds_per_frame)
        catalog.log_event(db, row["line"], Event.GAP, started + max(0.0, gap.at_s - (row.get("preroll_s") or 0.0)),
                          row["id"], **detail)
        log.warning("call %s: %d unreadable bytes at offset %d of its part, %.1f s into the recording, "
                    "replaced by %.2f s of silence", row["id"], gap.length, gap.offset, gap.at_s, detail["lost_s"])
    catalog.log_event(db, row["line"], Event.RECOVERED, ended, row["id"], audio_s=fin.audio_s,
                      cut_bytes=found.tail_bytes, gaps=len(found.gaps),
                      lost_bytes=sum(g.length for g in found.gaps))
    log.info("recovered call %s: %.1f s of audio, %s", row["id"], fin.audio_s, fin.path)


def _recover_missing_part(db: sqlite_utils.Database, data_dir: Path, row: dict) -> None:
    """No part file: the crash came after the rename into recordings/, or before any audio."""
    # Named in the box's zone; a file renamed before names followed it is in the process's zone.
    names = [spool.recording_name(times.seconds(row["started_at"]), row["line"], row.get("direction"),
                                  row.get("remote_number") or row.get("dialed"), row["id"], row.get("part") or 1,
                                  zone=zone)
             for zone in (zonemod.box_zone(boxmod.facts(db).timezone), zonemod.box_zone(None))]
    rel = next((name for name in names if (data_dir / name).exists()), names[0])
    final = data_dir / rel
    if final.exists():
        audio = mp3frames.scan(final.read_bytes())
        size, sha = spool.hash_file(final)
        if not peaks.has_peaks(db, row["id"]):    # the crash may have come just after storing them
            _store_peaks(db, row["id"], final)
        duration = row.get("duration_s")
        if duration is None:
            duration = max(0.0, audio.seconds - (row.get("preroll_s") or 0.0))
        catalog.update_call(db, row["id"], status=Status.RECOVERED, path=str(rel), spool_path=None,
                            size_bytes=size, sha256=sha, audio_s=round(audio.seconds, 3),
                            duration_s=round(duration, 3),
                            ended_at=row.get("ended_at") or catalog.iso(times.seconds(row["started_at"]) + duration))
        catalog.log_event(db, row["line"], Event.RECOVERED, times.seconds(row["started_at"]) + duration, row["id"],
                          audio_s=round(audio.seconds, 3), note="file was already in recordings/")
        return
    catalog.update_call(db, row["id"], status=Status.DISCARDED, spool_path=None, duration_s=0.0,
                        ended_at=row["started_at"])
    catalog.log_event(db, row["line"], Event.DISCARD, times.seconds(row["started_at"]), row["id"],
                      reason="recovered after a crash, but the recording file was never written", rule="crash-no-file")
