"""Writing small files so that a reader, a power cut or a pulled stick sees the old file or the
new one, never half of either: a temporary name in the same folder, fsync, rename, then the
folder fsynced so the new name lasts."""
from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in this folder last (FAT drivers may ignore it: harmless)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, tmp_suffix: str = ".tmp") -> None:
    """Replace path with data (the temporary file, .NAME<tmp_suffix>, is removed on failure)."""
    tmp = path.with_name(f".{path.name}{tmp_suffix}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
