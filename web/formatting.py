"""How values read on the pages: times in the box's own time zone (the config's `timezone`),
numbers as written in its region, line names, durations, sizes, levels."""
from __future__ import annotations

from flask import Flask

from appliance.present import numbers, words, zone
from appliance.store import times

from .db import get_box, get_zone


def local_time(iso_text: str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """'2026-03-15T14:12:00.500Z' -> '2026-03-15 10:12:00' in the box's zone."""
    return zone.local(iso_text, get_zone(), fmt)


def zone_name(at: str | None = None) -> str:
    """The box's zone, named as at `at` (ISO; default now): a March call says EDT even in winter."""
    try:
        when = times.parse(at) if at else None
    except ValueError:
        when = None
    return zone.zone_label(get_zone(), when)


def phone(number: str | None) -> str:
    """A number as people write it in the box's region."""
    return numbers.readable(number, get_box().phone_region)


def line_name(line_id: int | None) -> str:
    """What a line is called (its config or runtime name: "Front desk", else "Line 2")."""
    return "—" if line_id is None else get_box().line_name(int(line_id))


def duration(seconds: float | None) -> str:
    """65.4 -> '1:05', 3725 -> '1:02:05' (as the timeline's sentences say it)."""
    return words.clock(seconds)


def dbfs(level: float | None) -> str:
    return "—" if level is None else f"{level:.0f} dBFS"


def party(call: dict) -> str:
    """Who was on the other end, as a person would say it."""
    return numbers.party(call, get_box().phone_region)


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time, "local")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(words.size, "size")
    app.add_template_filter(dbfs, "dbfs")
    app.add_template_filter(party, "party")
    app.add_template_filter(phone, "phone")
    app.add_template_filter(line_name, "line_name")
    app.add_template_filter(words.direction, "direction_word")
    app.add_template_filter(words.status, "status_word")
    app.add_template_global(zone_name, "zone_name")
    from .call_page import heading  # it reads the catalog: imported once the app is made
    app.add_template_filter(heading, "call_heading")
    app.add_template_filter(lambda args: {k: v for k, v in args.items() if k != "after"}, "reject_after")
