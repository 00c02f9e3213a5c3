"""How values read on the pages: times in the box's own time zone, durations, sizes, levels."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Flask

from appliance.store import times


def local_time(iso_text: str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """'2026-03-15T14:12:00.500Z' -> '2026-03-15 15:12:00' in the box's zone (TZ / /etc/localtime)."""
    if not iso_text:
        return "—"
    try:
        return times.parse(iso_text).astimezone().strftime(fmt)
    except ValueError:
        return iso_text


def zone_name() -> str:
    return datetime.now(timezone.utc).astimezone().strftime("%Z") or "local time"


def duration(seconds: float | None) -> str:
    """65.4 -> '1:05', 3725 -> '1:02:05'."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def size(n: int | None) -> str:
    if n is None:
        return ""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if unit != "KB" else f"{n / scale:.0f} KB"
    return f"{n} B"


def dbfs(level: float | None) -> str:
    return "—" if level is None else f"{level:.0f} dBFS"


def party(call: dict) -> str:
    """Who was on the other end, as a person would say it."""
    number = call.get("remote_number") or call.get("dialed")
    if number:
        return number
    return "withheld" if call.get("remote_withheld") else "unknown"


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time, "local")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(size, "size")
    app.add_template_filter(dbfs, "dbfs")
    app.add_template_filter(party, "party")
    app.add_template_global(zone_name, "zone_name")
    app.add_template_filter(lambda args: {k: v for k, v in args.items() if k != "after"}, "reject_after")
