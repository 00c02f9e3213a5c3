"""The access package by number (GDPR Art. 15, or for a lawyer or an insurer): what goes in it,
whoever writes it (the CLI into a folder, evidence.py; the web page as a ZIP, web/evidence_page.py).

Every call whose caller ID or dialed digits are the number (store.by_number: the same selection
erasure uses), each as calls/YYYY-MM-DD/<name>.json (evidence_calls.record) with its recording
beside it as <name>.mp3 when it has one that still matches its SHA-256; audit.json (the audit
entries that name those calls, as stored, with the rule that checks their hashes);
audit-head.json (the audit log's head now and as last sealed, as a normal export carries);
package.json (what was asked and what is in it); README.txt; and SHA256SUMS over every file.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, tzinfo
from pathlib import Path
from typing import Any

import sqlite_utils

from ..present import zone as zonemod
from ..store import audit, by_number, erasure, times
from ..store.box import BoxFacts
from ..store.kinds import WITH_FILE
from . import evidence_calls, evidence_readme, names

PREFIX = "Hookline-access"
CALLS = "calls"
SUMS = "SHA256SUMS"
HASH_RULE = ("hash = SHA-256 (hex) of prev_hash followed by the JSON of {at, user, action, target, detail, "
             "remote_addr}: keys sorted, no spaces (separators ',' and ':'), non-ASCII characters as they are "
             "(UTF-8). Each entry's prev_hash is the hash of the entry before it in the whole log.")


@dataclass(frozen=True)
class Recording:
    call: dict[str, Any]
    name: str                 # its path in the package
    source: Path              # the file on the box

    @property
    def sha256(self) -> str:
        return self.call["sha256"]


@dataclass
class Plan:
    number: str               # as the person wrote it
    key: str                  # its one form (international digits)
    since: date | None
    until: date | None
    calls: list[dict[str, Any]]
    files: dict[str, str] = field(default_factory=dict)           # call id -> its name stem in the package
    recordings: list[Recording] = field(default_factory=list)

    @property
    def number_hash(self) -> str:
        """What the audit entry keeps instead of the number (erasure's fingerprint)."""
        return erasure.number_hash(self.key)

    @property
    def call_ids(self) -> list[str]:
        return [c["id"] for c in self.calls]

    def folder(self, today: date) -> str:
        return f"{PREFIX}-{self.key}-{today.isoformat()}"


def _in_days(call: dict[str, Any], since: date | None, until: date | None, zone: tzinfo) -> bool:
    day = times.parse(call["started_at"]).astimezone(zone).date()
    return (since is None or day >= since) and (until is None or day <= until)


def plan(db: sqlite_utils.Database, data_dir: Path, number: str, region: str, zone: tzinfo,
         since: date | None = None, until: date | None = None) -> Plan:
    """Which calls and recordings go in (NumberError: not a number), oldest first."""
    key = by_number.key_of(number, region)
    found = [c for c in by_number.calls_with_number(db, number, region) if _in_days(c, since, until, zone)]
    out = Plan(number, key, since, until, found)
    taken: set[str] = set()
    for call in found:
        started = times.parse(call["started_at"]).astimezone(zone)
        name = names.unique(f"{CALLS}/{started:%Y-%m-%d}", names.stem(call, started), "json", taken)
        out.files[call["id"]] = name.removesuffix(".json")
        if call.get("status") in WITH_FILE and call.get("path") and call.get("sha256"):
            out.recordings.append(Recording(call, out.files[call["id"]] + ".mp3", data_dir / call["path"]))
    return out


def _names(entry: dict[str, Any], call_id: str) -> bool:
    return entry.get("target") == call_id or f'"{call_id}"' in json.dumps(entry.get("detail"))


def _json(doc: Any) -> bytes:
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def documents(db: sqlite_utils.Database, p: Plan, box: BoxFacts, zone: tzinfo, left_out: dict[str, str],
              audit_head: dict[str, Any]) -> dict[str, bytes]:
    """Every file of the package but the recordings and SHA256SUMS, by name (left_out: call id ->
    why its recording is not in the package)."""
    entries = audit.entries_naming(db, p.call_ids)
    copied = {r.call["id"]: r.name for r in p.recordings if r.call["id"] not in left_out}
    out: dict[str, bytes] = {}
    for call in p.calls:
        mine = [e for e in entries if _names(e, call["id"])]
        doc = evidence_calls.record(db, call, box, zone, p.key, copied.get(call["id"]), left_out.get(call["id"]), mine)
        out[p.files[call["id"]] + ".json"] = _json(doc)
    out["audit.json"] = _json({"hash_rule": HASH_RULE, "entries": entries})
    out["audit-head.json"] = _json(audit_head)
    made = times.now()
    summary = {"number": p.number, "number_digits": p.key, "since": p.since and p.since.isoformat(),
               "until": p.until and p.until.isoformat(), "made": {"utc": made, "local": zonemod.iso_local(made, zone)},
               "time_zone": zonemod.zone_label(zone), "calls": len(p.calls), "recordings": len(copied),
               "left_out": [{"call_id": cid, "reason": why} for cid, why in left_out.items()],
               "files": {cid: p.files[cid] + ".json" for cid in p.call_ids}}
    out["package.json"] = _json(summary)
    out["README.txt"] = evidence_readme.text(p, len(copied), left_out, zone).encode("utf-8")
    return out


def sums(docs: dict[str, bytes], recordings: list[Recording]) -> bytes:
    """SHA256SUMS: the recordings (by their catalog hash, which each copy was verified against)
    and every document, in `sha256sum -c` form."""
    lines = [f"{r.sha256}  {r.name}" for r in recordings]
    lines += [f"{hashlib.sha256(data).hexdigest()}  {name}" for name, data in docs.items()]
    return ("\n".join(sorted(lines, key=lambda line: line[66:])) + "\n").encode("utf-8")
