"""Do the recordings still match the SHA-256 the catalog holds for them? (`hookline audit verify`)"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from ..recording.spool import hash_file


@dataclass(frozen=True)
class Mismatch:
    """The first recording that does not match the catalog."""
    call_id: str
    path: str                   # relative to the data folder, as the catalog holds it
    unreadable: str | None      # why it could not be read (missing, ...); None: read, other SHA-256


@dataclass(frozen=True)
class RecordingsCheck:
    checked: int                # recordings found intact (before the mismatch, if there is one)
    mismatch: Mismatch | None


def check_recordings(db: sqlite_utils.Database, data_dir: Path) -> RecordingsCheck:
    """Hash every kept recording (complete or recovered, with a file and a SHA-256), oldest
    first, and stop at the first one that is missing, unreadable or different."""
    checked = 0
    for call_id, path, sha256 in db.execute("SELECT id, path, sha256 FROM calls WHERE path IS NOT NULL AND "
                                             "sha256 IS NOT NULL AND status IN ('complete', 'recovered') "
                                             "ORDER BY started_at, rowid"):
        try:
            _, digest = hash_file(data_dir / path)
        except OSError as e:
            return RecordingsCheck(checked, Mismatch(call_id, path, str(e.strerror or e)))
        if digest != sha256:
            return RecordingsCheck(checked, Mismatch(call_id, path, None))
        checked += 1
    return RecordingsCheck(checked, None)
