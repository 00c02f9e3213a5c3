"""DATA/quarantine/: files the recorder could not read as audio but will not delete (a spool
part with no decodable frame). They keep their name; `hookline store check` lists them."""
from __future__ import annotations

import os
from pathlib import Path

from ..files import fsync_dir

QUARANTINE = "quarantine"


def move(data_dir: Path, path: Path) -> str:
    """Move a file into quarantine/ under its own name (a number added if that name is taken);
    returns its path relative to the data folder."""
    folder = Path(data_dir) / QUARANTINE
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{path.name}.{n}"
    os.rename(path, target)
    fsync_dir(folder)
    fsync_dir(path.parent)
    return f"{QUARANTINE}/{target.name}"


def listed(data_dir: Path) -> list[Path]:
    folder = Path(data_dir) / QUARANTINE
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
