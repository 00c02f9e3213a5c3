"""`hookline export --number N --evidence --to DIR`: the access package (evidence_package.py)
written as a folder DIR/Hookline-access-<digits>-<YYYY-MM-DD>/. It is written under a temporary
name (.NAME.partial) and renamed only once whole, so a folder under its real name is complete.
Each recording is copied verified as a normal export copies it (copying.copy_verified); one that
no longer matches its catalog hash is left out and reported (exit 1). The export's lock and exit
codes are the normal export's (job.py). The audit entry ("evidence-export") names who, the calls
and the number's fingerprint, never the number, nor the folder (its name holds the digits)."""
from __future__ import annotations

import errno
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from ..files import fsync_dir, write_atomic
from ..present import zone as zonemod
from ..store import audit, box as boxmod
from . import evidence_package as package, job, stick
from .copying import CopyMismatch, SourceChanged, copy_verified
from .job import audit_head  # the audit log's head, as a normal export carries it


@dataclass
class Result:
    target: str
    folder: str | None = None            # the package's path, once it is there under its real name
    calls: int = 0
    recordings: int = 0
    bytes_copied: int = 0
    mismatched: list[dict[str, str]] = field(default_factory=list)    # {call_id, path, reason}
    stopped_because: str | None = None
    exit_code: int = job.OK
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"complete": self.exit_code == job.OK, "written": self.folder is not None,
                "exit_code": self.exit_code, "target": self.target, "package": self.folder, "calls": self.calls,
                "recordings": self.recordings, "bytes_copied": self.bytes_copied, "mismatched": self.mismatched,
                "stopped_because": self.stopped_because, "seconds": round(self.seconds, 3)}


def _free_name(target: Path, stem: str) -> str:
    """stem, or stem_2 and on: never over an earlier package."""
    n = 1
    while True:
        name = stem if n == 1 else f"{stem}_{n}"
        if not (target / name).exists() and not (target / f".{name}{stick.PARTIAL}").exists():
            return name
        n += 1


def _remove_leftovers(target: Path) -> None:
    """Packages an earlier run left half-written (killed, or the target filled up)."""
    for path in target.glob(f".{package.PREFIX}-*{stick.PARTIAL}"):
        shutil.rmtree(path, ignore_errors=True)


def _copy_recordings(p: package.Plan, work: Path, result: Result, progress: job.Progress) -> dict[str, str]:
    """Copy each recording verified; call id -> why the ones left out are not there."""
    left_out: dict[str, str] = {}
    progress.start(len(p.recordings), sum(r.call.get("size_bytes") or 0 for r in p.recordings))
    for rec in p.recordings:
        try:
            copied = copy_verified(rec.source, work / rec.name, rec.sha256, progress.advance)
        except (SourceChanged, CopyMismatch) as e:
            left_out[rec.call["id"]] = str(e)
            result.mismatched.append({"call_id": rec.call["id"], "path": rec.call["path"], "reason": str(e)})
            continue
        result.recordings += 1
        result.bytes_copied += copied.size
        progress.file_done(rec.name)
    return left_out


def _write(db, p: package.Plan, work: Path, result: Result, seal_path: Path | None, progress: job.Progress) -> None:
    facts = boxmod.facts(db)
    zone = zonemod.box_zone(facts.timezone)
    left_out = _copy_recordings(p, work, result, progress)
    docs = package.documents(db, p, facts, zone, left_out, audit_head(db, seal_path))
    for name, data in docs.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(work / name, data, tmp_suffix=stick.PARTIAL)
    kept = [r for r in p.recordings if r.call["id"] not in left_out]
    write_atomic(work / package.SUMS, package.sums(docs, kept), tmp_suffix=stick.PARTIAL)
    if result.mismatched:
        result.exit_code = job.MISMATCH
        result.stopped_because = (f"{len(result.mismatched)} recording(s) no longer match the SHA-256 the "
                                  "catalog holds and were left out of the package.")


def _failed(target: Path, e: OSError) -> tuple[int, str]:
    """The exit code and the sentence for a target that failed while the package was written."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return job.FULL, "The target is full."
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return job.TARGET, f"{target} is read-only: cannot write the package there."
    return job.TARGET, f"The target failed: {e.strerror or e}."


def _check_target(target: Path) -> None:
    if not target.is_dir():
        raise job.TargetError(f"{target} is not there (is the stick mounted?)")


def run(db: sqlite_utils.Database, data_dir: Path, target: Path, p: package.Plan, *, by: str | None,
        seal_path: Path | None = None, progress: job.Progress | None = None,
        audit_detail: dict[str, Any] | None = None, remote_addr: str | None = None) -> Result:
    """Write the package for plan `p` into target; the audit entry names `by`."""
    began, result = time.monotonic(), Result(str(target), calls=len(p.calls))
    work: Path | None = None
    try:
        with stick.locked(data_dir):
            _check_target(target)
            _remove_leftovers(target)
            zone = zonemod.box_zone(boxmod.facts(db).timezone)
            name = _free_name(target, p.folder(datetime.now(zone).date()))
            work = target / f".{name}{stick.PARTIAL}"
            work.mkdir()
            _write(db, p, work, result, seal_path, progress or job.Quiet())
            work.rename(target / name)
            fsync_dir(target)
            result.folder, work = str(target / name), None
    except stick.Busy as e:
        result.exit_code, result.stopped_because = job.BUSY, str(e)
    except job.TargetError as e:
        result.exit_code, result.stopped_because = job.TARGET, str(e)
    except OSError as e:
        result.exit_code, result.stopped_because = _failed(target, e)
    finally:
        if work is not None:            # never leave a half-written package behind
            shutil.rmtree(work, ignore_errors=True)
    result.seconds = time.monotonic() - began
    audit.append(db, "evidence-export", user=by, remote_addr=remote_addr,
                 detail={**audit_facts(p, result.recordings, [m["call_id"] for m in result.mismatched]),
                         "to": result.target, "written": result.folder is not None,
                         "exit_code": result.exit_code, "stopped_because": result.stopped_because,
                         **(audit_detail or {})})
    return result


def audit_facts(p: package.Plan, recordings: int, left_out: list[str]) -> dict[str, Any]:
    """What the audit entry says of a package, the CLI's and the web page's alike: never the number."""
    return {"number_hash": p.number_hash, "calls": p.call_ids[:1000], "count": len(p.calls),
            "recordings": recordings, "left_out": left_out,
            "since": p.since and p.since.isoformat(), "until": p.until and p.until.isoformat()}
