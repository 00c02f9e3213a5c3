"""Retention in words, for the pages and the command: until when a call is protected by its
minimum age, what each rule of a sweep deletes (or would), and what a settings change would
delete ("this will delete 1,234 calls from before 2026-06-01"). Dates in the box's zone."""
from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from .words import size
from .zone import local

RULE_NAMES = {"retention": "maximum age (retention_days)", "size-cap": "size cap (max_recordings_gb)",
              "disk-guard": "free-space floor (disk_reserve_pct, disk_reserve_gb)"}


def protected_until(day_text: str | None) -> str | None:
    """'Protected until 2027-01-04 by the minimum age: ...' for a call younger than its line's
    minimum age (day_text: the day it ends, in the box's zone), else None."""
    if day_text is None:
        return None
    return f"Protected until {day_text} by the minimum age: nobody can delete it before then"


def day(ts: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d")


def calls(n: int) -> str:
    """'1 call', '1,234 calls'."""
    return f"{n:,} call{'s' if n != 1 else ''}"


def effect_line(effect: Any, zone: tzinfo) -> str:
    """One rule's effect for the dry run: 'maximum age (retention_days): 4 calls, 180 KB, started
    2026-01-10 to 2026-06-01'."""
    said = f"{RULE_NAMES.get(effect.rule, effect.rule)}: {calls(effect.count)}"
    if effect.count:
        said += (f", {size(effect.bytes)}, started {local(effect.oldest, zone, '%Y-%m-%d')} "
                 f"to {local(effect.newest, zone, '%Y-%m-%d')}")
    return said


def effect_json(effect: Any) -> dict[str, Any]:
    return {"count": effect.count, "bytes": effect.bytes, "oldest": effect.oldest, "newest": effect.newest}


def change_warning(outcome: Any, before: Any, zone: tzinfo) -> str | None:
    """What a settings change would delete that the settings as they are would not: "This will
    delete 1,234 calls from before 2026-06-01 (maximum age: 1,200; size cap: 34)"; None: nothing
    more."""
    more = len(set(outcome.ids) - set(before.ids))
    if more <= 0:
        return None
    newest = max(e.newest for e in outcome.effects.values() if e.newest)
    upto = (datetime.fromisoformat(newest.replace("Z", "+00:00")).astimezone(zone) + timedelta(days=1))
    parts = "; ".join(f"{RULE_NAMES[e.rule].split(' (')[0]}: {e.count:,}" for e in outcome.effects.values() if e.count)
    return (f"This will delete {calls(more)} from before {upto:%Y-%m-%d} ({parts}). Calls on hold and calls "
            "younger than their minimum age stay.")
