"""What the box is doing now, for the dashboard and /api/v1/status: the daemon's live status
file (lines, levels, devices), disk usage with days left at the current rate, and warnings."""
from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from appliance.clock import clock_synced
from appliance.store import catalog, times

log = logging.getLogger("hookline.web")

STATUS_STALE_S = 10.0     # the daemon rewrites its status file every second; older means it stopped
RATE_WINDOW_DAYS = 7      # days left is estimated from what was recorded over this many days
DISK_WARN_FRACTION = 0.10
DAYS_LEFT_WARN = 14


def read_status(path: Path) -> dict[str, Any] | None:
    """The daemon's live status file, or None when there is none (or it cannot be read)."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("cannot read the status file %s: %s", path, e)
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("lines"), list):
        return None
    updated = doc.get("updated_at")
    age = time.time() - updated if isinstance(updated, (int, float)) else None
    return {"lines": [ln for ln in doc["lines"] if isinstance(ln, dict)],
            "clock_synced": doc.get("clock_synced") if isinstance(doc.get("clock_synced"), bool) else None,
            "updated_at": times.iso(updated) if age is not None else None,
            # A recorder that stopped cleanly says so in its last status.
            "stale": age is None or age > STATUS_STALE_S or doc.get("running") is False}


def disk_report(db: sqlite_utils.Database, data_dir: Path, now: float | None = None) -> dict[str, Any]:
    """Space on the recordings' filesystem and how long it lasts at the recent recording rate."""
    now = time.time() if now is None else now
    usage = shutil.disk_usage(data_dir)
    recorded, first = catalog.recorded_since(db, times.iso(now - RATE_WINDOW_DAYS * 86400))
    days = RATE_WINDOW_DAYS
    if first:   # a box younger than the window: its rate over the days it has run
        age_days = (now - times.seconds(first)) / 86400
        days = min(RATE_WINDOW_DAYS, max(1.0, age_days))
    per_day = recorded / days if recorded else 0
    return {"total_bytes": usage.total, "free_bytes": usage.free, "used_bytes": usage.total - usage.free,
            "free_fraction": round(usage.free / usage.total, 4) if usage.total else 0.0,
            "bytes_per_day": round(per_day), "days_left": round(usage.free / per_day, 1) if per_day else None}


def today_calls(db: sqlite_utils.Database, zone, limit: int = 10) -> tuple[int, list[dict[str, Any]]]:
    """Calls since midnight in the box's zone: how many, and the newest few."""
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    return catalog.calls_since(db, times.iso(midnight.timestamp()), limit)


def warnings(status: dict[str, Any] | None, disk: dict[str, Any]) -> list[dict[str, str]]:
    """What needs a person's attention, most serious first: [{"kind", "message"}]."""
    out = []
    if status is None:
        out.append({"kind": "recorder", "message": "The recorder is not running: no calls are being recorded."})
    elif status["stale"]:
        out.append({"kind": "recorder", "message": "The recorder has stopped reporting: is it running?"})
    live_lines = [] if status is None or status["stale"] else status["lines"]
    for line in live_lines:
        name = line.get("name") or f"Line {line.get('line')}"
        if line.get("device_error"):
            out.append({"kind": "device", "message": f"{name}: the audio interface is missing or failing "
                                                     f"({line['device_error']})."})
        for source, info in (line.get("sources") or {}).items():
            if isinstance(info, dict) and info.get("healthy") is False:
                what = "caller-ID modem" if source == "callerid" else "hook monitor"
                out.append({"kind": "modem" if source == "callerid" else "hook",
                            "message": f"{name}: the {what} on {info.get('device') or 'its port'} is not answering."})
    if disk["free_fraction"] < DISK_WARN_FRACTION:
        out.append({"kind": "disk", "message": f"The disk is nearly full ({disk['free_fraction']:.0%} free): "
                                               "old calls that are not kept will be deleted to make room."})
    elif disk["days_left"] is not None and disk["days_left"] < DAYS_LEFT_WARN:
        out.append({"kind": "disk",
                    "message": f"At the current rate the disk is full in {disk['days_left']:.0f} days."})
    # The recorder's own view of its clock while it runs (a simulation keeps stream time);
    # otherwise this machine's.
    synced = status["clock_synced"] if live_lines and status["clock_synced"] is not None else clock_synced()
    if not synced:
        out.append({"kind": "clock", "message": "The clock is not synchronised (no network time): call times "
                                                "may be wrong."})
    return out

