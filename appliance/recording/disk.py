"""The daemon's disk worker: the slow, blocking disk work of every line, off the capture threads.

A line thread only appends encoder output to its part file (a page-cache write). fsync every
second, and finalizing a finished call (tags, hash, rename, catalog row), happen here, so a
slow SSD or a long hash never makes a line miss its next ALSA period.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Callable

from ..store import db as dbmod
from .room import DiskRoom, disk_full
from .spool import FSYNC_INTERVAL_S, PartWriter

log = logging.getLogger("hookline.disk")

Job = Callable[["object"], None]   # called with the worker's own catalog connection


class DiskWorker(threading.Thread):
    def __init__(self, data_dir: Path, fsync_interval_s: float = FSYNC_INTERVAL_S) -> None:
        super().__init__(name="disk", daemon=True)
        self.data_dir = Path(data_dir)
        self.interval = fsync_interval_s
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._writers: set[PartWriter] = set()
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition()
        self.room = DiskRoom(self.data_dir)     # the catalog's room on the data disk (room.py)

    def register(self, writer: PartWriter) -> None:
        """Keep fsyncing this part file until unregister()."""
        with self._lock:
            self._writers.add(writer)

    def unregister(self, writer: PartWriter) -> None:
        with self._lock:
            self._writers.discard(writer)

    def submit(self, job: Job) -> None:
        with self._idle:
            self._pending += 1
        self._jobs.put(job)

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until every submitted job has run."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """Run what is queued, then end."""
        self._jobs.put(None)
        self.join(timeout)

    def run(self) -> None:
        db = dbmod.connect(self.data_dir)
        self._sync_all()            # makes the catalog's reserve at once
        next_sync = time.monotonic() + self.interval
        try:
            while True:
                try:
                    job = self._jobs.get(timeout=max(0.0, next_sync - time.monotonic()))
                except queue.Empty:
                    job = ...
                if job is None:
                    break
                if job is not ...:
                    self._run(job, db)
                if time.monotonic() >= next_sync:
                    self._sync_all()
                    next_sync = time.monotonic() + self.interval
        finally:
            db.close()

    def _run(self, job: Job, db) -> None:
        try:
            job(db)
        except Exception as e:
            # The part file stays in the spool and the row stays 'recording': the next start's
            # recovery finalizes it. Nothing is deleted on the way.
            log.exception("finalizing a call failed; recovery will pick it up at the next start")
            if disk_full(e):
                self.room.give_back()   # what comes next (events, the next finalize) has room
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _sync_all(self) -> None:
        try:
            self.room.refill()      # once a second: the reserve comes back as soon as there is room
        except OSError as e:
            log.error("cannot measure the free space of %s: %s", self.data_dir, e)
        with self._lock:
            writers = list(self._writers)
        for writer in writers:
            try:
                writer.sync()
            except OSError as e:
                log.error("fsync of %s failed: %s", writer.path, e)
