"""`hookline store check --repair`: make the catalog say what the files are, never the other way.

No file is deleted, moved or rewritten. A row whose file is missing is marked deleted with a
'deleted' event (rule missing-file); a file found under recordings/ with no row gets its row
back from its own tag (relink: the row that lost it; adopt: a new row, status recovered), with
a 'reconciled' event. When more than half the catalog would change, nothing is done unless
forced (store/check.Report.too_many). Each change is its own transaction, so a repair that
stops half-way leaves a catalog that a second run completes.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import sqlite_utils

from ..recording import mp3frames, spool
from . import db as dbmod, times
from .check import ADOPT, MARK_MISSING, RELINK, Finding, Report, still_kept
from .kinds import Event, Status
from .peaks import delete_peaks_of

log = logging.getLogger("hookline.store")


class TooMany(Exception):
    """More than half the catalog would change: refused without --force."""


def _event(db: sqlite_utils.Database, line: int | None, call_id: str, kind: str, detail: dict[str, Any]) -> None:
    db.execute("INSERT INTO call_events (line, call_id, at, kind, detail) VALUES (?, ?, ?, ?, ?)",
               [line, call_id, times.now(), kind, json.dumps(detail, sort_keys=True)])


def _mark_missing(db: sqlite_utils.Database, data_dir: Path, finding: Finding) -> bool:
    with dbmod.immediate(db):
        if not still_kept(db, finding.call_id, finding.path) or (data_dir / finding.path).exists():
            return False        # deleted since the check (its own deletion stands), or the file is back
        [row] = db.query("SELECT line FROM calls WHERE id = ?", [finding.call_id])
        db.execute("UPDATE calls SET status = ?, deleted_at = ?, path = NULL WHERE id = ?",
                   [Status.DELETED, times.now(), finding.call_id])
        delete_peaks_of(db, [finding.call_id])
        _event(db, row["line"], finding.call_id, Event.DELETED,
               {"reason": f"the file {finding.path} was missing when the store was checked",
                "rule": "missing-file", "path": finding.path, "by": "store check"})
    return True


def _file_facts(data_dir: Path, rel: str) -> dict[str, Any]:
    size, sha = spool.hash_file(data_dir / rel)
    audio = mp3frames.scan((data_dir / rel).read_bytes())
    return {"path": rel, "size_bytes": size, "sha256": sha, "audio_s": round(audio.seconds, 3)}


def _relink(db: sqlite_utils.Database, data_dir: Path, finding: Finding) -> bool:
    facts = _file_facts(data_dir, finding.path)
    with dbmod.immediate(db):
        [row] = db.query("SELECT line, path FROM calls WHERE id = ?", [finding.call_id])
        if not still_kept(db, finding.call_id, row["path"]) or (row["path"] and (data_dir / row["path"]).exists()):
            return False        # deleted since the check: a deleted call gets no file back
        db.execute("UPDATE calls SET path = ?, size_bytes = ?, sha256 = ?, audio_s = ? WHERE id = ?",
                   [facts["path"], facts["size_bytes"], facts["sha256"], facts["audio_s"], finding.call_id])
        _event(db, row["line"], finding.call_id, Event.RECONCILED,
               {"action": RELINK, "path": finding.path, "was": row["path"]})
    return True


def _adopt(db: sqlite_utils.Database, data_dir: Path, finding: Finding) -> bool:
    tags, facts = finding.detail["tags"], _file_facts(data_dir, finding.path)
    started = times.seconds(tags["started_at"])
    row = {"id": tags["id"], "line": int(tags["line"]), "direction": tags.get("direction"),
           "started_at": tags["started_at"], "ended_at": times.iso(started + facts["audio_s"]),
           "duration_s": facts["audio_s"], "remote_number": tags.get("remote_number"),
           "remote_name": tags.get("remote_name"), "dialed": tags.get("dialed"),
           "part": int(tags["part"]) if tags.get("part", "").isdigit() else 1,
           "previous_id": tags.get("previous_id"), "status": Status.RECOVERED, "created_at": times.now(), **facts}
    with dbmod.immediate(db):
        if row["previous_id"] and not list(db.query("SELECT 1 FROM calls WHERE id = ?", [row["previous_id"]])):
            row["previous_id"] = None       # its first part is not in this catalog
        columns = ", ".join(f'"{name}"' for name in row)
        db.execute(f"INSERT INTO calls ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
        _event(db, row["line"], row["id"], Event.RECONCILED, {"action": ADOPT, "path": finding.path})
    return True


def repair(db: sqlite_utils.Database, data_dir: Path, report: Report, *, force: bool = False) -> list[Finding]:
    """Act on what the check found; returns the findings acted on."""
    if report.too_many and not force:
        raise TooMany(f"{len(report.changes)} of the {report.kept_calls} kept calls would change")
    done = []
    act = {MARK_MISSING: _mark_missing, RELINK: _relink, ADOPT: _adopt}
    for finding in report.changes:
        try:
            acted = act[finding.repair](db, Path(data_dir), finding)
        except OSError as e:    # its file went since the check: this change waits, the others are made
            log.warning("store repair: %s %s not done: %s", finding.repair, finding.path, e)
            continue
        if acted:
            done.append(finding)
    return done
