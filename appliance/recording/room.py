"""Room for the catalog on the data disk, however full the audio makes it.

Audio is the only thing that fills the disk quickly, and the catalog must still take the events
and the rows that say what happened when it does (the error, the on-hook, the finished part).
Two guards keep that room:

- a margin: before each write of audio, the free space is measured (fstatvfs, a cheap call), and
  audio stops (DiskFull) rather than leave less than margin + reserve free;
- a reserve file, DATA/.catalog-reserve, allocated on the same filesystem as the catalog: it
  holds part of that room, so that something other than audio filling the disk (logs, another
  program) still leaves it. When audio stops for want of room, or the catalog finds the disk full,
  the reserve is given back (deleted); it is made again once there is room for it and more.

On a box's data disk (gigabytes) the sizes are the constants below; on a very small disk (the
tests' tmpfs) they shrink with it, so that it can still record something.
"""
from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
from contextlib import suppress
from functools import cached_property
from pathlib import Path

log = logging.getLogger("hookline.disk")

RESERVE_NAME = ".catalog-reserve"
RESERVE_BYTES = 4 << 20     # given back to the catalog when the disk fills
MARGIN_BYTES = 1 << 20      # never held: audio stops before taking it
SMALL_DISK_SHARE = 8        # on a small disk, each is at most this fraction of it


class DiskFull(OSError):
    """Audio stops here: what is left on the disk belongs to the catalog."""

    def __init__(self, free: int, keep: int) -> None:
        # The same words every time: a line logs one error per cause, not one per retry.
        super().__init__(errno.ENOSPC, "the data disk is full: audio stops where the catalog's room begins")
        self.free, self.keep = free, keep


def disk_full(error: BaseException) -> bool:
    """Did this fail for want of room on the disk (an audio write, or the catalog)?"""
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return isinstance(error, sqlite3.OperationalError) and "full" in str(error)


class DiskRoom:
    """The data disk's room for audio, shared by every line and the disk worker."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.reserve_path = self.data_dir / RESERVE_NAME
        self._lock = threading.Lock()
        self.given_back = False     # the reserve was given back and is not made again yet
        self._cannot: str | None = None     # why it could not be made last time (the disk worker retries)

    @cached_property
    def _total(self) -> int:        # measured at first use: the data folder may not exist before
        st = os.statvfs(self.data_dir)
        return st.f_blocks * st.f_frsize

    @property
    def reserve_bytes(self) -> int:
        return min(RESERVE_BYTES, self._total // SMALL_DISK_SHARE)

    @property
    def margin_bytes(self) -> int:
        return min(MARGIN_BYTES, self._total // SMALL_DISK_SHARE)

    def free(self) -> int:
        st = os.statvfs(self.data_dir)
        return st.f_bavail * st.f_frsize

    def held(self) -> bool:
        return self.reserve_path.exists()

    def check(self, more: int, fd: int | None = None) -> None:
        """Before `more` bytes of audio are written: raise DiskFull (and give the reserve back)
        if they would leave the catalog less than margin + reserve. fd: a file on the disk (its
        fstatvfs saves a path lookup)."""
        st = os.fstatvfs(fd) if fd is not None else os.statvfs(self.data_dir)
        free = st.f_bavail * st.f_frsize
        with self._lock:
            if not self.held() and self._cannot is None:
                free = self._refill(free)
            keep = self.margin_bytes + (0 if self.held() else self.reserve_bytes)
            if free - more >= keep:
                return
        self.give_back()
        raise DiskFull(free, keep)

    def refill(self) -> None:
        """Make the reserve if it is missing and there is room for it and as much again."""
        with self._lock:
            if not self.held():
                self._refill(self.free())

    def _refill(self, free: int) -> int:
        if free < self.margin_bytes + 2 * self.reserve_bytes:
            return free
        try:
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.reserve_bytes)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            with suppress(OSError):
                self.reserve_path.unlink(missing_ok=True)     # half made: nothing held
            if str(e) != self._cannot:      # once per cause, not once a second
                log.error("cannot make the catalog's reserve %s: %s", self.reserve_path, e)
            self._cannot = str(e)
            return free
        self._cannot = None
        if self.given_back:
            log.warning("there is room on the data disk again: the catalog's reserve (%d bytes) is made again",
                        self.reserve_bytes)
        self.given_back = False
        return free - self.reserve_bytes

    def before_start(self) -> None:
        """The recorder starting on a disk left full (it crashed, then something else took the
        rest): give the reserve back before anything is written (the catalog, the marker, the
        recovery of the call the crash cut), or the start fails and systemd restarts it into the
        same full disk for ever, never recording and never sweeping."""
        if self.held() and self.free() < self.margin_bytes:
            self.give_back()

    def give_back(self) -> bool:
        """The disk is full: delete the reserve so that the catalog has its room. True if it
        was there."""
        with self._lock:
            try:
                self.reserve_path.unlink()
            except FileNotFoundError:
                return False
            self.given_back = True
        log.error("the data disk is full: the catalog's reserve (%d bytes) is given back to it", self.reserve_bytes)
        return True
