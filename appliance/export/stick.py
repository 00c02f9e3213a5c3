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
from pathlib import Path
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


def journal_lines(root: Path) -> list[dict[str, Any]]:
    """The journal's well-formed lines, oldest first."""
    try:
        lines = (root / JOURNAL).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
            if isinstance(entry, dict) and "call_id" in entry and _ours(entry.get("file")):
                entries.append(entry)
        except ValueError:           # a line torn by a pulled stick
            continue
    return entries


def _ours(name: Any) -> bool:
    """A name the export gives (DAY/FILE.mp3): a stick's journal is not trusted to name files
    elsewhere, since the export deletes superseded ones."""
    if not isinstance(name, str) or "\\" in name or "\0" in name:
        return False
    parts = name.split("/")
    return len(parts) == 2 and all(p and not p.startswith(".") for p in parts) and name.endswith(".mp3")


def read_journal(root: Path) -> dict[str, dict[str, Any]]:
    """call id -> its journal entry, the last one whose file is on the stick at the size verified
    (a line torn by a pulled stick, or whose file was never renamed or was deleted since, is not
    counted)."""
    entries: dict[str, dict[str, Any]] = {}
    for entry in journal_lines(root):
        try:
            if (root / entry["file"]).stat().st_size == entry["size"]:
                entries[entry["call_id"]] = entry
        except (KeyError, TypeError, OSError):
            continue
    return entries


def append_journal(root: Path, entries: list[dict[str, Any]]) -> None:
    """Verified files, in one write made durable (before they get their real names)."""
    with open(root / JOURNAL, "a+b") as f:
        torn = False                      # the last line cut short (a full or pulled stick): end it first
        if f.seek(0, os.SEEK_END) > 0:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        text = "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in entries)
        f.write((("\n" if torn else "") + text).encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def remove_superseded(root: Path, journal: dict[str, dict[str, Any]]) -> int:
    """Delete the older copies of recordings copied again since (their hash had changed) that an
    interrupted export left behind: each only once its successor is there and durable."""
    old = [(e["call_id"], e["file"]) for e in journal_lines(root)
           if e["call_id"] in journal and e["file"] != journal[e["call_id"]]["file"] and (root / e["file"]).is_file()]
    for folder in {(root / journal[call_id]["file"]).parent for call_id, _ in old}:
        fsync_dir(folder)
    return remove_files(root, [name for _, name in old])


def remove_files(root: Path, files: list[str]) -> int:
    """Delete these files under root (names from the journal), each folder fsynced once; how many."""
    folders, gone, inside = set(), 0, root.resolve()
    for name in files:
        path = root / name
        if path.parent.is_symlink() or path.is_symlink() or not path.resolve().is_relative_to(inside):
            continue                 # a stick's folder pointing elsewhere: never delete through it
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        folders.add(path.parent)
        gone += 1
    for folder in folders:
        fsync_dir(folder)
    return gone


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
