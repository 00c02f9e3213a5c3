"""Times in the box's own time zone: the config's `timezone`, else the system's."""
from __future__ import annotations

import zoneinfo
from datetime import datetime, timezone, tzinfo

from ..store import times


def box_zone(name: str | None) -> tzinfo:
    """The zone called `name` (IANA), or the system's local zone when None or unknown here."""
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return datetime.now(timezone.utc).astimezone().tzinfo


def local(iso_text: str | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """'2026-03-15T14:12:00.500Z' -> '2026-03-15 10:12:00' in `zone`; '—' for none."""
    if not iso_text:
        return "—"
    try:
        return times.parse(iso_text).astimezone(zone).strftime(fmt)
    except ValueError:
        return iso_text


def iso_local(iso_text: str | None, zone: tzinfo) -> str | None:
    """ISO 8601 with the zone's offset, for JSON and CSV: '2026-03-15T10:12:00.500-04:00'."""
    if not iso_text:
        return iso_text
    return times.parse(iso_text).astimezone(zone).isoformat(timespec="milliseconds")


def day_and_time(moment: datetime, year: bool = True) -> str:
    """'4 Mar 2026 14:12' ('4 Mar 14:12' without the year): a moment as people write it."""
    return f"{moment.day} {moment:%b}{f' {moment.year}' if year else ''} {moment:%H:%M}"


def zone_label(zone: tzinfo, when: datetime | None = None) -> str:
    """How the zone is named once on a page: 'America/New_York (EST)', or the abbreviation alone."""
    when = (when or datetime.now(timezone.utc)).astimezone(zone)
    short = when.strftime("%Z")
    key = getattr(zone, "key", None)
    return f"{key} ({short})" if key and short and key != short else (key or short or "local time")
