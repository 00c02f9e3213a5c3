"""The announcement as kept in the data folder: DATA/notice/announcement.wav (mono int16 at
convert.STORE_RATE) and announcement.json (what was uploaded, by whom, its figures). One for the
whole box. Both are replaced atomically, the figures last, so a line that sees new figures finds
the new sound; the recorder notices the change within a second (AnnouncementFile), with no restart.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from ..files import write_atomic
from ..store import db as dbmod, times
from .convert import STORE_RATE, Facts, resample

FOLDER = "notice"
AUDIO = "announcement.wav"
META = "announcement.json"
FILE_MODE = 0o640
NAME_MAX = 80


def folder(data_dir: Path) -> Path:
    return Path(data_dir) / FOLDER


def audio_path(data_dir: Path) -> Path:
    return folder(data_dir) / AUDIO


def current(data_dir: Path) -> dict[str, Any] | None:
    """The announcement's record (name, figures, when and by whom), or None when there is none."""
    try:
        meta = json.loads((folder(data_dir) / META).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return meta if isinstance(meta, dict) and audio_path(data_dir).is_file() else None


def clean_name(name: str | None) -> str:
    """An uploaded file's name as shown and audited: its last part, printable, not too long."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()
    return base[:NAME_MAX] or "announcement"


def save(data_dir: Path, samples: np.ndarray, facts: Facts, name: str | None, by: str | None) -> dict[str, Any]:
    """Keep this announcement (replacing the one before); returns its record."""
    dbmod.private_folder(Path(data_dir))
    where = folder(data_dir)
    where.mkdir(mode=0o750, exist_ok=True)
    wav = io.BytesIO()
    soundfile.write(wav, samples, STORE_RATE, subtype="PCM_16", format="WAV")
    write_atomic(where / AUDIO, wav.getvalue(), mode=FILE_MODE)
    meta = {"name": clean_name(name), **facts.as_dict(), "rate": STORE_RATE,
            "sha256": hashlib.sha256(samples.tobytes()).hexdigest(), "uploaded_at": times.now(), "uploaded_by": by}
    write_atomic(where / META, json.dumps(meta, indent=1).encode("utf-8"), mode=FILE_MODE)
    return meta


def remove(data_dir: Path) -> dict[str, Any] | None:
    """Remove the announcement; returns the record of the one removed (None: there was none)."""
    before = current(data_dir)
    for name in (META, AUDIO):          # the record first: a line never sees a record without its sound
        try:
            (folder(data_dir) / name).unlink()
        except FileNotFoundError:
            pass
    return before


def summary(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the audit log keeps of an announcement: enough to say which one it was."""
    if not meta:
        return None
    return {k: meta.get(k) for k in ("name", "duration_s", "peak_dbfs", "sha256")}


class AnnouncementFile:
    """The announcement at the lines' rate, one for the box. refresh() (the daemon's maintenance
    thread, every half second) loads it again when its record changed, judged by the record's
    stat; samples() (a line's thread, when the notice is due) only hands over what was loaded,
    so loading and converting never hold up the capture."""

    def __init__(self, data_dir: Path, rate: int) -> None:
        self.data_dir = Path(data_dir)
        self.rate = rate
        self._seen: tuple | None = None
        self._samples: np.ndarray | None = None

    def samples(self) -> np.ndarray | None:
        return self._samples

    def refresh(self) -> None:
        try:
            st = (folder(self.data_dir) / META).stat()
            seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:                 # none, or unreadable: the tone stands in, with its warning
            self._seen = self._samples = None
            return
        if seen != self._seen:
            self._seen, self._samples = seen, self._load()

    def _load(self) -> np.ndarray | None:
        try:
            data, rate = soundfile.read(str(audio_path(self.data_dir)), dtype="float64")
        except (OSError, RuntimeError, ValueError):
            return None
        if data.ndim > 1:
            data = data.mean(axis=1)
        return np.clip(np.round(resample(data, rate, self.rate) * 32767), -32768, 32767).astype(np.int16)
