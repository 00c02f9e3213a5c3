"""One recording onto the stick, verified: copied under a temporary name while hashing what is
read, fsynced, read back and hashed again, and renamed to its real name only when both hashes
are the catalog's. A source that no longer matches the catalog is not copied as good."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..files import fsync_dir
from .stick import PARTIAL

CHUNK = 1 << 20


class SourceChanged(Exception):
    """The recording on the box is missing or no longer matches the catalog's SHA-256."""


class CopyMismatch(Exception):
    """What was read back from the stick is not what was written."""


@dataclass(frozen=True)
class Copied:
    size: int
    sha256: str


def tmp_name(target: Path) -> Path:
    """Where target is written until it is verified: .NAME.partial beside it."""
    return target.with_name(f".{target.name}{PARTIAL}")


def hash_file(path: Path, *, drop_cache: bool = False) -> str:
    """The file's SHA-256; with drop_cache, its (flushed) pages are dropped first so what is
    hashed comes from the device where the kernel can."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        if drop_cache:
            _drop_cache(f.fileno())
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _drop_cache(fd: int) -> None:
    """Ask the kernel to forget the pages, so the read back comes from the device where it can."""
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except (AttributeError, OSError):
        pass


def copy_verified(source: Path, target: Path, sha256: str, on_bytes: Callable[[int], None]) -> Copied:
    """Copy source to target (a new name), checking both ends against sha256. On any failure the
    temporary file is removed and the exception raised (OSError, SourceChanged, CopyMismatch)."""
    tmp = tmp_name(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    try:
        try:
            src = open(source, "rb")
        except OSError as e:
            raise SourceChanged(f"cannot read it: {e.strerror or e}") from None
        with src, open(tmp, "wb") as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
                on_bytes(len(chunk))
            out.flush()
            os.fsync(out.fileno())
            _drop_cache(out.fileno())
        if digest.hexdigest() != sha256:
            raise SourceChanged("its SHA-256 is no longer the catalog's (changed or damaged on the box)")
        if hash_file(tmp) != sha256:
            raise CopyMismatch("the copy read back from the target differs from the recording")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return Copied(size, sha256)
