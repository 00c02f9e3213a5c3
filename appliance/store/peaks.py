"""Where a call's waveform peaks are kept: the catalog's call_peaks table, one row per call with
a file (per_s slots a second, one byte a slot per leg). appliance.recording.peaks measures them;
the web page reads them with load_peaks(), never decoding the MP3."""
from __future__ import annotations

from typing import Any

import sqlite_utils

from . import db as dbmod


def save_peaks(db: sqlite_utils.Database, call_id: str, near: bytes, far: bytes, per_s: int) -> None:
    """Store (or replace) a call's peaks."""
    with dbmod.immediate(db):
        db.execute("INSERT OR REPLACE INTO call_peaks (call_id, per_s, near, far) VALUES (?, ?, ?, ?)",
                   [call_id, per_s, bytes(near), bytes(far)])


def has_peaks(db: sqlite_utils.Database, call_id: str) -> bool:
    return db.execute("SELECT 1 FROM call_peaks WHERE call_id = ?", [call_id]).fetchone() is not None


def load_peaks(db: sqlite_utils.Database, call_id: str) -> dict[str, Any] | None:
    """{"per_s": int, "near": [0..255, ...], "far": [...]} for a call, or None if it has none
    (no file, discarded, deleted, or recorded before peaks existed)."""
    row = db.execute("SELECT per_s, near, far FROM call_peaks WHERE call_id = ?", [call_id]).fetchone()
    if row is None:
        return None
    return {"per_s": int(row[0]), "near": list(bytes(row[1])), "far": list(bytes(row[2]))}


def delete_peaks_of(db: sqlite_utils.Database, call_ids: list[str]) -> None:
    """Forget these calls' peaks, inside the caller's transaction (removal deletes them with the file)."""
    db.conn.executemany("DELETE FROM call_peaks WHERE call_id = ?", [(call_id,) for call_id in call_ids])
