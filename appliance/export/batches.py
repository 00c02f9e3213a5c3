"""Many recordings onto the stick, verified: the export's copy, a group commit.

The main thread copies file after file under temporary names (.NAME.partial; sendfile, so the
bytes never pass through Python). Two worker threads make them real, a group at a time (what was
written since the last group: at least GROUP_BYTES, or what came within GROUP_WAIT_S):
  1. the first flushes the stick once for the group (syncfs(2), else an fsync per file);
  2. the second reads each file of the group back from the device (its page cache dropped) and
     hashes it against the catalog's SHA-256, while the first flushes the next group and the
     main thread copies on; then it writes the verified files' journal lines in one write and
     one fsync, renames them to their real names with one fsync per folder touched, and removes
     the older copies of re-exported recordings (their hash changed).
On a slow stick the flushes take long, so groups grow and flushes are few; on a fast one a group
may be small. The copy never runs more than BATCH_BYTES or BATCH_FILES ahead of what is
verified. So a file under its real name is always verified and durable, a journal line counts
only once its file is there at its size (stick.read_journal), and a kill, a pull or a full stick
at any point leaves partial files (removed by the rerun) and at most that much to copy again.
Names are never reused on a stick, so a line can only describe the file it was written for.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from ..files import fsync_dir
from . import stick
from .copying import CHUNK, hash_file, tmp_name

BATCH_BYTES = 64 << 20          # the copy runs at most this far ahead of what is verified
BATCH_FILES = 64
GROUP_BYTES = 16 << 20          # a group is flushed once this much waits (fewer flushes on a fast target)
GROUP_WAIT_S = 0.2              # or once its first file has waited this long


@dataclass(frozen=True)
class Item:
    call: dict[str, Any]
    name: str                   # its real name under Hookline/
    replaces: str | None = None  # the copy an earlier export left, whose hash is no longer the catalog's


@dataclass(frozen=True)
class Written:
    item: Item
    tmp: Path
    size: int


class Sink(Protocol):
    """What the job hears, per file. mismatched and verified come in the calling thread (the
    catalog may be written there); checked comes from the worker as soon as a file is verified
    and has its real name, for the progress, even while the copy waits on a slow source."""
    def mismatched(self, item: Item, reason: str) -> None: ...
    def verified(self, item: Item, nbytes: int) -> None: ...
    def checked(self, item: Item) -> None: ...


def copy_all(data_dir: Path, root: Path, items: list[Item], on_bytes: Callable[[int], None], sink: Sink) -> None:
    """Copy the items verified. An OSError (the stick is full, read-only or gone) or an exception
    from on_bytes (cancelled) stops the copy: the files written whole before it are still
    flushed, verified and kept, the one under way removed, and the error raised."""
    pipe = _Pipeline(data_dir, root, sink)
    error: BaseException | None = None
    try:
        for item in items:
            if not pipe.room_for_one():
                break                               # the worker failed: its error is raised below
            try:
                written = _write_one(data_dir, root, item, on_bytes, sink)
            except BaseException as e:              # noqa: BLE001  (the target, a cancel, Ctrl-C: kept, raised below)
                error = e
                break
            if written is not None:
                pipe.put(written)
    finally:
        pipe.finish()
    if error is not None:
        raise error
    pipe.raise_failure()


class _Pipeline:
    """The worker thread and what goes between it and the copying thread."""

    def __init__(self, data_dir: Path, root: Path, sink: Sink) -> None:
        self.data_dir, self.root, self.sink = data_dir, root, sink
        self.todo: queue.SimpleQueue[Written | None] = queue.SimpleQueue()
        self.told: queue.SimpleQueue[tuple[Item, str | None, int]] = queue.SimpleQueue()
        self.ahead = threading.Condition()
        self.files = self.nbytes = 0               # written, not yet verified (under ahead)
        self.failure: BaseException | None = None
        self.flushed: queue.SimpleQueue[tuple[list[Written], bool]] = queue.SimpleQueue()
        self.workers = [threading.Thread(target=self._flushing, name="export-flush", daemon=True),
                        threading.Thread(target=self._checking, name="export-verify", daemon=True)]
        for worker in self.workers:
            worker.start()

    def room_for_one(self) -> bool:
        """Wait until the copy is not too far ahead of the checks; False once the worker failed."""
        with self.ahead:
            self.ahead.wait_for(lambda: self.failure is not None or (
                self.files < BATCH_FILES and self.nbytes < BATCH_BYTES))
        self.absorb()
        return self.failure is None

    def put(self, written: Written) -> None:
        with self.ahead:
            self.files += 1
            self.nbytes += written.size
        self.todo.put(written)

    def finish(self) -> None:
        """Let the worker make real what was written, and tell the job about it."""
        self.todo.put(None)
        for worker in self.workers:
            worker.join()
        self.absorb()

    def absorb(self) -> None:
        while True:
            try:
                item, reason, nbytes = self.told.get_nowait()
            except queue.Empty:
                return
            if reason is None:
                self.sink.verified(item, nbytes)
            else:
                self.sink.mismatched(item, reason)

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _next_group(self) -> list[Written | None]:
        """What was written since the last group, once it is GROUP_BYTES, or the copy waits for the
        checks or has ended, or GROUP_WAIT_S have passed (a slow source: the progress still moves)."""
        group = [self.todo.get()]
        deadline = time.monotonic() + GROUP_WAIT_S
        while group[-1] is not None:
            with self.ahead:
                waited_for = self.files >= BATCH_FILES or self.nbytes >= BATCH_BYTES
            if waited_for or sum(w.size for w in group if w is not None) >= GROUP_BYTES:
                break
            try:
                group.append(self.todo.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return group

    def _flushing(self) -> None:
        """The first worker: flush each group, then hand it to the second (the stick writes one
        group while the one before is read back)."""
        done = False
        while not done:
            group = self._next_group()
            done = group[-1] is None
            group = [w for w in group if w is not None]
            try:
                if self.failure is None:
                    _flush(self.root, group)
            except BaseException as e:      # noqa: BLE001  (the copying thread raises it)
                self.failure = e
            self.flushed.put((group, done))

    def _checking(self) -> None:
        """The second worker: read back, verify, journal and rename each flushed group."""
        done = False
        while not done:
            group, done = self.flushed.get()
            try:
                if self.failure is None:
                    self._commit(_verify(self.data_dir, group))
            except BaseException as e:      # noqa: BLE001  (the copying thread raises it)
                self.failure = e
            finally:
                _remove([w.tmp for w in group])     # what was not renamed (a rename removed the rest)
                with self.ahead:
                    self.files -= len(group)
                    self.nbytes -= sum(w.size for w in group)
                    self.ahead.notify_all()

    def _commit(self, checked: list[tuple[Written, str | None]]) -> None:
        """Journal, rename and report the verified files of a group; report the others."""
        good = [w for w, reason in checked if reason is None]
        for w, reason in checked:
            if reason is not None:
                self.told.put((w.item, reason, 0))
        if not good:
            return
        stick.append_journal(self.root, [_entry(w) for w in good])
        for w in good:
            os.replace(w.tmp, self.root / w.item.name)
        for folder in {(self.root / w.item.name).parent for w in good}:
            fsync_dir(folder)
        for w in good:
            self.told.put((w.item, None, w.size))
            self.sink.checked(w.item)
        stick.remove_files(self.root, [w.item.replaces for w in good if w.item.replaces not in (None, w.item.name)])


def _write_one(data_dir: Path, root: Path, item: Item, on_bytes: Callable[[int], None],
               sink: Sink) -> Written | None:
    """The item under its temporary name (not flushed yet); None when its source cannot be read
    (reported). Anything else raised (the target failed, on_bytes stopped it) removes the file."""
    tmp = tmp_name(root / item.name)
    try:
        src = os.open(data_dir / item.call["path"], os.O_RDONLY)
    except OSError as e:
        sink.mismatched(item, f"cannot read it: {e.strerror or e}")
        return None
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        return Written(item, tmp, _copy(src, tmp, on_bytes))
    except _SourceError as e:
        _remove([tmp])
        sink.mismatched(item, f"cannot read it: {e}")
        return None
    except BaseException:
        _remove([tmp])
        raise
    finally:
        os.close(src)


def _remove(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:        # the stick is gone: the rerun removes leftovers
            pass


class _SourceError(Exception):
    """Reading the recording on the box failed (as opposed to writing the stick)."""


def _copy(src: int, tmp: Path, on_bytes: Callable[[int], None]) -> int:
    """Copy in the kernel (sendfile: the bytes never pass through Python), a chunk at a time for
    on_bytes; a chunk sendfile fails on is read and written instead, which either goes on or
    raises the same error from the side it belongs to (_SourceError: the box's file)."""
    size = 0
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            try:
                n = os.sendfile(fd, src, None, CHUNK)
            except OSError:
                n = _read_write(src, fd)
            if not n:
                return size
            size += n
            on_bytes(n)
    finally:
        os.close(fd)


def _read_write(src: int, fd: int) -> int:
    try:
        data = os.read(src, CHUNK)
    except OSError as e:
        raise _SourceError(e.strerror or str(e)) from None
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return len(data)


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)


def _flush(root: Path, written: list[Written]) -> None:
    """Make the batch durable with one flush of the stick's filesystem (syncfs, which reports
    write-back errors since Linux 5.8), or, where there is no syncfs, an fsync per file."""
    if not written:
        return
    if _syncfs is not None:
        fd = os.open(root, os.O_RDONLY)
        try:
            if _syncfs(fd) == 0:
                return
            err = ctypes.get_errno()
            if err not in (0, errno.ENOSYS):      # no syncfs here: an fsync per file
                raise OSError(err, os.strerror(err))
        finally:
            os.close(fd)
    for w in written:
        fd = os.open(w.tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _verify(data_dir: Path, written: list[Written]) -> list[tuple[Written, str | None]]:
    """(file, None) when what reads back from the stick (flushed) is the catalog's recording, else
    why not; a mismatch is blamed on the box's file when that no longer matches the catalog
    either."""
    checked = []
    for w in written:
        sha256 = w.item.call["sha256"]
        try:
            ok = hash_file(w.tmp, drop_cache=True) == sha256
        except OSError as e:
            checked.append((w, f"the copy could not be read back from the target: {e.strerror or e}"))
            continue
        reason = None
        if not ok:
            try:
                changed = hash_file(data_dir / w.item.call["path"]) != sha256
            except OSError:
                changed = True
            reason = ("its SHA-256 is no longer the catalog's (changed or damaged on the box)" if changed
                      else "the copy read back from the target differs from the recording")
        checked.append((w, reason))
    return checked


def _entry(w: Written) -> dict[str, Any]:
    call = w.item.call
    return {"call_id": call["id"], "file": w.item.name, "sha256": call["sha256"], "size": w.size,
            "line": call["line"], "started_at": call["started_at"]}
