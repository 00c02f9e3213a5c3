"""Many recordings onto the stick, verified, in batches: the fast path of the export job.

A stick's cost is its flushes, not its bytes, so a batch (up to BATCH_BYTES or BATCH_FILES) is
copied under temporary names (.NAME.partial), flushed ONCE (syncfs(2) on the stick, else an
fsync per file), read back from the device and checked against the catalog's SHA-256 in a
worker thread while the next batch copies, and only then made real:
  1. the batch's journal lines, in one write and one fsync;
  2. the renames to the real names, and one fsync per folder touched;
  3. the older copies of re-exported recordings (their hash changed) removed.
So a file under its real name is always verified and durable, and a journal line counts only
once its file is there at its size (stick.read_journal): a kill, a pull or a full stick at any
point leaves partial files (removed by the rerun) and at most one batch to copy again. Names are
never reused on a stick, so a line can only ever describe the file it was written for.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from ..files import fsync_dir
from . import stick
from .copying import CHUNK, hash_file, tmp_name

BATCH_BYTES = 64 << 20
BATCH_FILES = 64
MIN_BATCH_BYTES = 4 << 20


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
    """What the job hears, per file: left out (with why), or copied and verified (journaled)."""
    def mismatched(self, item: Item, reason: str) -> None: ...
    def verified(self, item: Item, size: int) -> None: ...


def copy_all(data_dir: Path, root: Path, items: list[Item], on_bytes: Callable[[int], None], sink: Sink) -> None:
    """Copy the items verified, batch by batch. An OSError (the stick is full, read-only or gone)
    or an exception from on_bytes (cancelled) stops the copy: the files written whole before it
    are still flushed, verified and kept, the one under way removed, and the error raised."""
    error: BaseException | None = None
    with ThreadPoolExecutor(1, thread_name_prefix="export-verify") as pool:
        pending: Future | None = None
        try:
            for batch in _batches(items):
                try:
                    written, error = _write_batch(data_dir, root, batch, on_bytes, sink)
                except BaseException as e:    # interrupted (a second Ctrl-C): the batch before still counts
                    written, error = [], e
                if pending is not None:
                    _commit(root, pending.result(), sink)
                pending = pool.submit(_flush_and_verify, data_dir, root, written)
                if error is not None:
                    break
            if pending is not None:
                _commit(root, pending.result(), sink)
                pending = None
        finally:
            if pending is not None:            # a flush or a commit failed: no half batch stays
                _remove([w.tmp for w, _ in _result_or_none(pending)])
    if error is not None:
        raise error


def _batches(items: list[Item]) -> Iterator[list[Item]]:
    """Up to BATCH_FILES files and BATCH_BYTES, and at most a quarter of what is left (at least
    MIN_BATCH_BYTES): the last batch, whose check nothing overlaps, is small."""
    left = sum(item.call["size_bytes"] or 0 for item in items)
    batch: list[Item] = []
    size = 0
    for item in items:
        limit = min(BATCH_BYTES, max(MIN_BATCH_BYTES, left // 4))
        if batch and (size + (item.call["size_bytes"] or 0) > limit or len(batch) >= BATCH_FILES):
            yield batch
            left -= size
            batch, size = [], 0
        batch.append(item)
        size += item.call["size_bytes"] or 0
    if batch:
        yield batch


def _write_batch(data_dir: Path, root: Path, batch: list[Item], on_bytes: Callable[[int], None],
                 sink: Sink) -> tuple[list[Written], Exception | None]:
    """Each item under its temporary name (not flushed yet); a source that cannot be read is
    reported and skipped. Stops at the first error of the target, or what on_bytes raised (a
    cancel): (the files written whole before it, that error); the file under way is removed."""
    written: list[Written] = []
    buf = bytearray(CHUNK)
    try:
        for item in batch:
            tmp = tmp_name(root / item.name)
            try:
                src = os.open(data_dir / item.call["path"], os.O_RDONLY)
            except OSError as e:
                sink.mismatched(item, f"cannot read it: {e.strerror or e}")
                continue
            try:
                tmp.parent.mkdir(parents=True, exist_ok=True)
                written.append(Written(item, tmp, _copy(src, tmp, buf, on_bytes)))
            except _SourceError as e:
                _remove([tmp])
                sink.mismatched(item, f"cannot read it: {e}")
            except Exception as e:      # the target failed, or on_bytes stopped the copy (cancelled)
                _remove([tmp])
                return written, e
            except BaseException:
                _remove([tmp])
                raise
            finally:
                os.close(src)
    except BaseException:
        _remove([w.tmp for w in written])
        raise
    return written, None


def _remove(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:        # the stick is gone: the rerun removes leftovers
            pass


class _SourceError(Exception):
    """Reading the recording on the box failed (as opposed to writing the stick)."""


def _copy(src: int, tmp: Path, buf: bytearray, on_bytes: Callable[[int], None]) -> int:
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
                n = _read_write(src, fd, buf)
            if not n:
                return size
            size += n
            on_bytes(n)
    finally:
        os.close(fd)


def _read_write(src: int, fd: int, buf: bytearray) -> int:
    try:
        n = os.readv(src, [buf])
    except OSError as e:
        raise _SourceError(e.strerror or str(e)) from None
    view = memoryview(buf)[:n]
    while view:
        view = view[os.write(fd, view):]
    return n


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


def _flush_and_verify(data_dir: Path, root: Path, written: list[Written]) -> list[tuple[Written, str | None]]:
    """(file, None) when what reads back from the stick, once flushed, is the catalog's recording,
    else why not; a mismatch is blamed on the box's file when that no longer matches the catalog
    either. Runs in the worker thread: the stick writes this batch while the next one copies."""
    _flush(root, written)
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


def _result_or_none(pending: Future) -> list[tuple[Written, str | None]]:
    try:
        return pending.result()
    except Exception:       # noqa: BLE001  (only its temporary files are wanted, to remove them)
        return []


def _commit(root: Path, checked: list[tuple[Written, str | None]], sink: Sink) -> None:
    """Journal, rename and report the verified files of a batch; drop the others."""
    good = []
    for w, reason in checked:
        if reason is None:
            good.append(w)
        else:
            _remove([w.tmp])
            sink.mismatched(w.item, reason)
    if not good:
        return
    stick.append_journal(root, [_entry(w) for w in good])
    for w in good:
        os.replace(w.tmp, root / w.item.name)
    for folder in {(root / w.item.name).parent for w in good}:
        fsync_dir(folder)
    for w in good:
        sink.verified(w.item, w.size)
    stick.remove_files(root, [w.item.replaces for w in good if w.item.replaces])


def _entry(w: Written) -> dict[str, Any]:
    call = w.item.call
    return {"call_id": call["id"], "file": w.item.name, "sha256": call["sha256"], "size": w.size,
            "line": call["line"], "started_at": call["started_at"]}
