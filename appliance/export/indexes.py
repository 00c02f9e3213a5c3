"""What goes beside the recordings on the stick, written last and atomically: index.csv (one row
per call, times in the box's zone, numbers as the owner writes them), the audit log's head at the
time of the export (sealed and current) as audit-head.json, a summary (export.json) and
SHA256SUMS, so `cd Hookline && sha256sum -c SHA256SUMS` checks every file."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import tzinfo
from pathlib import Path
from typing import Any

from ..files import write_atomic
from ..present import numbers, tag_words, zone as zonemod
from ..present.words import direction
from ..store.box import BoxFacts
from . import page
from .stick import PARTIAL

CSV_FIELDS = ("file", "call_id", "started", "started_utc", "line", "line_name", "direction", "number",
              "name", "duration_s", "size_bytes", "sha256", "title")


def row(entry: dict[str, Any], call: dict[str, Any] | None, box: BoxFacts, zone: tzinfo) -> dict[str, Any]:
    """One exported file as the index lists it (call: its catalog row, None if it is gone)."""
    call = call or {"id": entry["call_id"], "line": entry.get("line", 0), "started_at": entry.get("started_at")}
    return {"file": entry["file"], "call_id": entry["call_id"],
            "started": zonemod.local(call.get("started_at"), zone),
            "started_utc": call.get("started_at") or "", "line": call.get("line"),
            "line_name": tag_words.clean(box.line_name(call["line"])) if call.get("line") else "",
            "direction": direction(call.get("direction")),
            "number": tag_words.clean(numbers.party(call, box.phone_region)),
            "name": tag_words.clean(call.get("remote_name")), "duration_s": call.get("duration_s"),
            "size_bytes": entry["size"], "sha256": entry["sha256"],
            "title": tag_words.title(call, box) if call.get("started_at") else entry["file"]}


def csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k) for k in CSV_FIELDS})
    return out.getvalue()


def write_all(root: Path, rows: list[dict[str, Any]], summary: dict[str, Any], audit_head: dict[str, Any],
              zone: tzinfo) -> None:
    """index.csv, index.html, audit-head.json, export.json, then SHA256SUMS over all of them and
    every recording listed (the hashes the copies were verified against)."""
    files = {
        "index.csv": ("\ufeff" + csv_text(rows)).encode("utf-8"),   # the BOM: Excel then reads UTF-8
        "index.html": page.html(rows, summary, zonemod.zone_label(zone)).encode("utf-8"),
        "audit-head.json": (json.dumps(audit_head, indent=1) + "\n").encode("utf-8"),
        "export.json": (json.dumps(summary, indent=1) + "\n").encode("utf-8"),
    }
    sums = [f"{r['sha256']}  {r['file']}" for r in rows]
    for name, data in files.items():
        write_atomic(root / name, data, tmp_suffix=PARTIAL)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}")
    write_atomic(root / "SHA256SUMS", ("\n".join(sums) + "\n").encode("utf-8"), tmp_suffix=PARTIAL)
