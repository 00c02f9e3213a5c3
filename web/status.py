"""What the box is doing now, for the dashboard and /api/v1/status: the daemon's live status
file (lines, levels, devices) as line cards, disk usage with the time left at the current rate,
and warnings."""
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
from appliance.present.time_left import time_left
from appliance.store import box as boxmod, catalog, times

log = logging.getLogger("hookline.web")

STATUS_STALE_S = 10.0     # the daemon rewrites its status file every second; older means it stopped
RATE_WINDOW_DAYS = 7      # days left is estimated from what was recorded over this many days
DISK_WARN_FRACTION = 0.10
DAYS_LEFT_WARN = 14
STOPPED = "stopped"       # a card's state while the recorder is not running
# A line's state as the card says it (the daemon's names are in the status file and the API).
STATE_WORDS = {"idle": "idle", "ringing": "ringing", "offhook": "on a call, not recording",
               "recording": "recording", "device-missing": "audio interface missing",
               STOPPED: "recorder not running"}
PAUSED_WORDS = "recording paused"     # a recording call paused for a card payment (web/pause.py)


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
            "stopped": doc.get("running") is False,
            # Why new calls are not recorded (when_full = stop-recording), or None.
            "disk_full": doc.get("disk_full") if isinstance(doc.get("disk_full"), str) else None,
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
            "bytes_per_day": round(per_day), "days_left": round(usage.free / per_day, 1) if per_day else None,
            "time_left": time_left(usage.free / per_day) if per_day else None}


def line_cards(live: dict[str, Any] | None, box: boxmod.BoxFacts) -> list[dict[str, Any]]:
    """Each line as its card on the dashboard shows it (and the status API returns it), named as
    the box names it. While the recorder runs: what it reports. When it is not running (its
    status is stale or gone): the lines it last reported, or else those the catalog knows, each
    "recorder not running" with no call and no levels: a stopped recorder's last levels and
    "idle" are not what the line is doing now."""
    reported = [ln for ln in (live["lines"] if live else []) if isinstance(ln.get("line"), int)]
    if live is not None and not live["stale"]:
        return [{**ln, "name": _name(box, ln),
                 "state_text": PAUSED_WORDS if ln.get("paused") and ln.get("state") == "recording"
                 else STATE_WORDS.get(ln.get("state"), str(ln.get("state")))} for ln in reported]
    return [{"line": ln["line"], "name": _name(box, ln), "state": STOPPED, "state_text": STATE_WORDS[STOPPED],
             "call_s": None, "level_near_dbfs": None, "level_far_dbfs": None}
            for ln in reported or [{"line": line_id} for line_id in sorted(box.lines)]]


def _name(box: boxmod.BoxFacts, line: dict[str, Any]) -> str:
    """The box's name for a reported line (a name set at runtime included), else the name the
    recorder reported, else "Line N"."""
    if line.get("line") in box.lines or not isinstance(line.get("name"), str) or not line["name"]:
        return box.line_name(line.get("line"))
    return line["name"]


def today_calls(db: sqlite_utils.Database, zone, limit: int = 10) -> tuple[int, list[dict[str, Any]]]:
    """Calls since midnight in the box's zone: how many, and the newest few."""
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    return catalog.calls_since(db, times.iso(midnight.timestamp()), limit)


def warnings(status: dict[str, Any] | None, disk: dict[str, Any],
             box: boxmod.BoxFacts | None = None, technical: bool = False) -> list[dict[str, str]]:
    """What needs a person's attention, most serious first: [{"kind", "message"}]. Device names
    and error texts are for technicians (technical=True) only; the owner reads what to check."""
    box = box or boxmod.BoxFacts()
    out = []
    if status is None:
        out.append({"kind": "recorder", "message": "The recorder is not running: no calls are being recorded."})
    elif status["stopped"]:
        out.append({"kind": "recorder", "message": "The recorder is stopped: no calls are being recorded."})
    elif status["stale"]:
        out.append({"kind": "recorder", "message": "The recorder has stopped reporting: is it running?"})
    live_lines = [] if status is None or status["stale"] else status["lines"]
    if live_lines and status.get("disk_full"):
        out.append({"kind": "disk-full", "message": "New calls are not being recorded: the disk is below its "
                                                    "free-space floor and the box is set to stop recording when "
                                                    "full. Export and delete calls, or change the retention "
                                                    "settings."})
    for line in live_lines:
        name = _name(box, line)
        if line.get("device_error"):
            detail = f" ({line['device_error']})" if technical else ""
            out.append({"kind": "device", "message": f"{name}: the audio interface is missing or not working"
                                                     f"{detail}. Check that it is plugged in."})
        for source, info in (line.get("sources") or {}).items():
            if isinstance(info, dict) and info.get("healthy") is False:
                what = "caller-ID modem" if source == "callerid" else "hook monitor"
                where = f" on {info.get('device') or 'its port'}" if technical else ""
                out.append({"kind": "modem" if source == "callerid" else "hook",
                            "message": f"{name}: the {what}{where} is not answering."})
    if disk["free_fraction"] < DISK_WARN_FRACTION:
        out.append({"kind": "disk", "message": f"The disk is nearly full ({disk['free_fraction']:.0%} free): "
                                               "old calls that are not kept will be deleted to make room."})
    elif disk["days_left"] is not None and disk["days_left"] < DAYS_LEFT_WARN:
        out.append({"kind": "disk",
                    "message": f"At the current rate the disk is full in {disk['time_left']}."})
    # The recorder's own view of its clock while it runs (a simulation keeps stream time);
    # otherwise this machine's.
    synced = status["clock_synced"] if live_lines and status["clock_synced"] is not None else clock_synced()
    if not synced:
        out.append({"kind": "clock", "message": "The clock is not synchronised (no network time): call times "
                                                "may be wrong."})
    return out

