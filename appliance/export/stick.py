"""What an export keeps on the stick itself, so the stick tells its own story whatever happens to
the box: its id (Hookline/.stick-id, for --new), a journal of the files copied and verified so
far (Hookline/.journal.jsonl: a rerun resumes from it, never copying a verified file again),
INCOMPLETE.txt while a job has not finished, and no leftovers: a file is copied under a
temporary name (.NAME.partial) and renamed only once verified, and leftovers are removed.
Also the box-wide lock that keeps a second export from starting while one runs."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from ..files import fsync_dir, write_atomic

ROOT = "Hookline"
STICK_ID = ".stick-id"
JOURNAL = ".journal.jsonl"
INCOMPLETE = "INCOMPLETE.txt"
PARTIAL = ".partial"
LOCK_NAME = "export.lock"


class Busy(RuntimeError):
    """Another export runs on this box (or the lock cannot be taken at all)."""


def stick_id(root: Path) -> str:
    """The id written on this stick (made on its first export)."""
    path = root / STICK_ID
    try:
        text = path.read_text().strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    text = secrets.token_hex(8)
    write_atomic(path, (text + "\n").encode(), tmp_suffix=PARTIAL)
    return text


def _entries(root: Path) -> Iterator[os.DirEntry]:
    """Everything under root, links not followed; a stack, not recursion (pathlib's rglob
    recurses): a stick may nest folders deeper than Python's recursion limit."""
    folders = [root]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                yield entry
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))


def first_odd(root: Path) -> Path | None:
    """The first symbolic link or special file (FIFO, socket, device) at or under root (None:
    none). FAT and exFAT have none; an ext4 stick can. The export writes as the user who owns the
    box's data, so a Hookline folder, journal or day folder leading off the stick (into the data
    dir) must not be written through, and reading a FIFO (the stick's id) would block for good."""
    if root.is_symlink():
        return root
    return next((Path(e.path) for e in _entries(root)
                 if e.is_symlink() or not (e.is_file(follow_symlinks=False) or e.is_dir(follow_symlinks=False))), None)


def read_journal(root: Path) -> dict[str, dict[str, Any]]:
    """call id -> its journal entry, for the files still on the stick at the size verified (a
    line torn by a pulled stick, a file deleted since, or one named outside root, is not counted)."""
    entries: dict[str, dict[str, Any]] = {}
    try:
        lines = (root / JOURNAL).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return entries
    for line in lines:
        try:
            entry = json.loads(line)
            name = PurePosixPath(entry["file"])
            if name.is_absolute() or ".." in name.parts:      # not a file on this stick
                continue
            path = root / name
            if path.stat().st_size == entry["size"]:
                entries[entry["call_id"]] = entry
        except (ValueError, KeyError, TypeError, OSError):
            continue
    return entries


def append_journal(root: Path, entry: dict[str, Any]) -> None:
    """One verified file, made durable before the next one starts."""
    with open(root / JOURNAL, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def remove_leftovers(root: Path) -> int:
    """Delete the temporary files an interrupted copy left; how many."""
    gone = 0
    for entry in [e for e in _entries(root) if e.name.endswith(PARTIAL) and not e.is_dir(follow_symlinks=False)]:
        Path(entry.path).unlink(missing_ok=True)
        gone += 1
    return gone


def mark_incomplete(root: Path, text: str) -> None:
    write_atomic(root / INCOMPLETE, text.encode(), tmp_suffix=PARTIAL)


def mark_complete(root: Path) -> None:
    (root / INCOMPLETE).unlink(missing_ok=True)
    fsync_dir(root)


@contextlib.contextmanager
def locked(data_dir: Path) -> Iterator[None]:
    """Hold the box's export lock (Busy if another export holds it); the kernel drops it when
    the process dies, so a killed export never blocks the next."""
    try:
        fd = os.open(Path(data_dir) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o660)
    except OSError as e:
        raise Busy(f"cannot take the export lock in {data_dir}: {e.strerror or e} (on the box, run it as the "
                   f"recorder's user: sudo -u hookline hookline export ...)") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy("another export is running on this box: wait for it to finish") from None
        yield
    finally:
        os.close(fd)
