"""A call's two ages, box-wide and per line: the minimum (min_age_days: no person and no rule
deletes a younger call) and the maximum (retention_days: older calls not on hold are deleted).
A line's own value wins over the box-wide one; 0 means none. The minimum may never be above the
maximum in any scope, so the two rules can never disagree about a call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from . import settings as settingsmod
from .times import iso, seconds

DAY_S = 86400.0


@dataclass(frozen=True)
class Ages:
    box_min: int = 0
    box_max: int = 0
    line_min: dict[int, int] = field(default_factory=dict)
    line_max: dict[int, int] = field(default_factory=dict)

    def min_days(self, line: int | None) -> int:
        return self.line_min.get(line, self.box_min) if line is not None else self.box_min

    def max_days(self, line: int | None) -> int:
        return self.line_max.get(line, self.box_max) if line is not None else self.box_max

    def protected_until(self, line: int | None, started_at: str | None) -> float | None:
        """When a call that started at `started_at` may first be deleted (None: no minimum)."""
        days = self.min_days(line)
        if days <= 0 or not started_at:
            return None
        return seconds(started_at) + days * DAY_S

    def lines(self) -> set[int]:
        """The lines with an age of their own."""
        return set(self.line_min) | set(self.line_max)

    def past_minimum_sql(self, now: float) -> tuple[str, list[Any]]:
        """SQL (and its parameters) true for the calls that are past their line's minimum age."""
        whens, params = "", []
        for line, days in sorted(self.line_min.items()):
            whens += " WHEN ? THEN ?"
            params += [line, iso(now - days * DAY_S)]
        params.append(iso(now - self.box_min * DAY_S))
        if not whens:
            return "started_at < ?", params
        return f"started_at < CASE line{whens} ELSE ? END", params


def from_stored(stored: dict[tuple[str, str], Any]) -> Ages:
    """The ages from settingsmod.stored_values() rows."""
    mins: dict[int, int] = {}
    maxes: dict[int, int] = {}
    for (scope, name), value in stored.items():
        if scope.startswith("line.") and scope[5:].isdigit():
            if name == "min_age_days":
                mins[int(scope[5:])] = int(value)
            elif name == "retention_days":
                maxes[int(scope[5:])] = int(value)
    return Ages(int(stored.get(("", "min_age_days"), 0)), int(stored.get(("", "retention_days"), 0)), mins, maxes)


def load(db: sqlite_utils.Database) -> Ages:
    return from_stored(settingsmod.stored_values(db))


def check(db: sqlite_utils.Database, changes: list[tuple[str, int | None, Any]]) -> None:
    """Refuse (SettingError) these changes ((name, line, value); value None: clear it), made
    together, when a minimum age would then be above a maximum age, saying in which scope."""
    stored = settingsmod.with_changes(settingsmod.stored_values(db), changes)
    name = ", ".join(dict.fromkeys(change[0] for change in changes))
    ages = from_stored(stored)
    for where in [None, *sorted(ages.lines())]:
        low, high = ages.min_days(where), ages.max_days(where)
        if high and low > high:
            raise settingsmod.SettingError(
                f"{name}: on {_scope_words(where)} the minimum age ({low} days, min_age_days "
                f"{_source(stored, 'min_age_days', where)}) would be above the maximum age ({high} days, "
                f"retention_days {_source(stored, 'retention_days', where)}): no call could be deleted at its "
                "maximum age; lower the minimum or raise the maximum")


def _scope_words(line: int | None) -> str:
    return "the whole box" if line is None else f"line {line}"


def _source(stored: dict[tuple[str, str], Any], name: str, line: int | None) -> str:
    if line is not None and (f"line.{line}", name) in stored:
        return f"set for line {line}"
    return "box-wide" if ("", name) in stored else "by default"
