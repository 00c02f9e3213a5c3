"""Do the catalog and the files in the data folder agree? (`hookline store check`)

What it finds, each a Finding with what `--repair` would do about it (store/check_repair.py):
- no-row: a file under recordings/ that no catalog row names. Its ID3 tag carries the call's
  own values (recording/id3tags.machine_keys): a row whose file is missing gets it back
  ("relink"), a call the catalog does not know is added back as recovered ("adopt"); a file
  with no such tag is left for a person.
- no-file: a kept call (complete or recovered) whose file is not there. Repair marks the row
  deleted, with a reason saying the file was missing, unless a no-row file is its own.
- wrong-size, wrong-hash: the file is there but is not what was recorded. Left as it is:
  rewriting the catalog's hash would hide tampering (`hookline audit verify` names it too).
- quarantined: what recovery could not read as audio (DATA/quarantine/), and spool parts that
  had no row (spool/orphaned/). Listed for a person; never touched.
Nothing here changes anything: it reads the catalog and hashes the files.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from ..recording import id3tags, quarantine, spool
from . import times
from .kinds import WITH_FILE, Status, placeholders

NO_ROW, NO_FILE, WRONG_SIZE, WRONG_HASH, QUARANTINED = "no-row", "no-file", "wrong-size", "wrong-hash", "quarantined"
ADOPT, RELINK, MARK_MISSING = "adopt", "relink", "mark-missing"
_CALL_ID = re.compile(r"[0-9a-z]{1,32}")     # catalog.new_call_id: hex


@dataclass
class Finding:
    kind: str
    path: str                       # relative to the data folder
    call_id: str | None = None
    repair: str | None = None       # ADOPT, RELINK, MARK_MISSING; None: left for a person
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    kept_calls: int                 # rows with a recording: what "half the catalog" is half of
    findings: list[Finding]

    @property
    def changes(self) -> list[Finding]:
        """The findings a repair would act on: each changes or adds one catalog row."""
        return [f for f in self.findings if f.repair]

    @property
    def too_many(self) -> bool:
        """More than half the catalog would change: more likely a disk not mounted or the wrong
        folder than that many lost files, so repair waits for --force."""
        return len(self.changes) * 2 > self.kept_calls


def _kept_rows(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query(f"SELECT id, path, size_bytes, sha256, status FROM calls WHERE path IS NOT NULL "
                         f"AND status IN ({placeholders(WITH_FILE)}) ORDER BY started_at, rowid", list(WITH_FILE)))


def _files_under(data_dir: Path, folder: str) -> list[str]:
    root = data_dir / folder
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(data_dir)) for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def still_kept(db: sqlite_utils.Database, call_id: str, path: str | None) -> bool:
    """Is the call still kept with this file? Retention or a person may delete it while the check
    hashes (minutes on a Pi) or before the repair acts."""
    kept = f"SELECT 1 FROM calls WHERE id = ? AND path IS ? AND status IN ({placeholders(WITH_FILE)})"
    return bool(list(db.query(kept, [call_id, path, *WITH_FILE])))


def _compare(db: sqlite_utils.Database, data_dir: Path, row: dict[str, Any]) -> Finding | None:
    path = data_dir / row["path"]
    try:
        size, sha = spool.hash_file(path)
    except FileNotFoundError:
        if not still_kept(db, row["id"], row["path"]):
            return None         # deleted since the rows were read: its file went with it
        return Finding(NO_FILE, row["path"], row["id"], MARK_MISSING)
    except OSError as e:
        return Finding(NO_FILE, row["path"], row["id"], None, {"error": str(e.strerror or e)})
    if row["size_bytes"] is not None and size != row["size_bytes"]:
        return Finding(WRONG_SIZE, row["path"], row["id"], None, {"catalog": row["size_bytes"], "file": size})
    if row["sha256"] and sha != row["sha256"]:
        return Finding(WRONG_HASH, row["path"], row["id"], None, {"catalog": row["sha256"], "file": sha})
    return None


def _stray(db: sqlite_utils.Database, data_dir: Path, rel: str, missing: dict[str, Finding]) -> Finding | None:
    """A recordings/ file no row names: whose is it, by its tag? None: a call being finalized
    right now (renamed into recordings/, its row not yet updated)."""
    keys = id3tags.machine_keys(data_dir / rel)
    call_id = keys.get("id")
    if not call_id or not keys.get("line", "").isdigit() or not keys.get("started_at"):
        return Finding(NO_ROW, rel, None, None, {"why": "no Hookline tag: not a recording the catalog can take back"})
    if not _tag_fits_a_row(keys):
        return Finding(NO_ROW, rel, None, None, {"why": "its Hookline tag holds values no catalog row can take"})
    if call_id in missing:
        [recorded] = db.query("SELECT sha256 FROM calls WHERE id = ?", [call_id])
        if recorded["sha256"] and spool.hash_file(data_dir / rel)[1] != recorded["sha256"]:
            # Its tag, not its bytes: linking it would rewrite the catalog's hash to an altered
            # file's. Both are left for a person (nor is the call marked deleted: this may be it).
            missing[call_id].repair = None
            missing[call_id].detail["why"] = f"a file with its tag but not what was recorded is at {rel}"
            return Finding(NO_ROW, rel, call_id, None,
                           {"why": "it carries the tag of a call whose file is missing, but it is not the file "
                                   "that was recorded (SHA-256)"})
        missing.pop(call_id).repair = None      # the relink below settles it
        return Finding(NO_ROW, rel, call_id, RELINK, {"tags": keys})
    known = list(db.query("SELECT status, path FROM calls WHERE id = ?", [call_id]))
    if not known:
        return Finding(NO_ROW, rel, call_id, ADOPT, {"tags": keys})
    if known[0]["status"] == Status.RECORDING or known[0]["path"] == rel:
        return None         # being finalized, or finished since the check listed the named files
    return Finding(NO_ROW, rel, call_id, None, {"why": f"the catalog has this call as {known[0]['status']}"
                                                       + (f" with its file at {known[0]['path']}" if known[0]["path"]
                                                          else "")})


def _tag_fits_a_row(keys: dict[str, str]) -> bool:
    """Could a row be made of this tag? Anyone may put a file with any tag on the disk: an id
    like ours, a line and part a row can hold, a time that is a time."""
    if not _CALL_ID.fullmatch(keys["id"]) or len(keys["line"]) > 6 or len(keys.get("part", "")) > 6:
        return False
    try:
        times.seconds(keys["started_at"])
    except (ValueError, OverflowError, OSError):
        return False
    return True


def check(db: sqlite_utils.Database, data_dir: Path) -> Report:
    data_dir = Path(data_dir)
    rows = _kept_rows(db)
    findings: list[Finding] = []
    missing: dict[str, Finding] = {}
    for row in rows:
        found = _compare(db, data_dir, row)
        if found is not None:
            findings.append(found)
            if found.kind == NO_FILE:
                missing[row["id"]] = found
    named = {row["path"] for row in rows}
    named |= {r["path"] for r in db.query("SELECT path FROM calls WHERE path IS NOT NULL")}
    for rel in _files_under(data_dir, spool.RECORDINGS):
        stray = None if rel in named or Path(rel).name.startswith(".") else _stray(db, data_dir, rel, missing)
        if stray is not None:
            findings.append(stray)
    for held in [*quarantine.listed(data_dir), *sorted((data_dir / spool.SPOOL / "orphaned").glob("*"))]:
        if held.is_file():
            call_id = held.name.split(".")[0]
            findings.append(Finding(QUARANTINED, str(held.relative_to(data_dir)), call_id, None,
                                    {"bytes": held.stat().st_size}))
    # A missing file that a stray one turned out to be is not a change of its own.
    findings = [f for f in findings if not (f.kind == NO_FILE and f.repair is None and "error" not in f.detail
                                            and any(g.repair == RELINK and g.call_id == f.call_id for g in findings))]
    return Report(kept_calls=len(rows), findings=findings)
