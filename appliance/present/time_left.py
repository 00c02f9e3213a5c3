"""How long the disk lasts at the recent rate, as a person says it: "about 3 years", "about 5
months", "about 12 days", "less than a day". A rate measured over one week is a rough guide, so
the words are rounded; a figure beyond any use (a nearly silent week on a big card gives
160,000 days) reads as "more than 10 years"."""
from __future__ import annotations

import math

DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
DAYS_UNTIL_MONTHS = 45          # "about 44 days", then "about a month"
MONTHS_UNTIL_YEARS = 18         # "about 17 months", then "about 2 years"
CAP_YEARS = 10


def _round(x: float) -> int:
    """Half up (Python's round() takes 2.5 to 2)."""
    return int(math.floor(x + 0.5))


def _about(n: int, unit: str) -> str:
    return f"about a {unit}" if n == 1 else f"about {n} {unit}s"


def time_left(days: float) -> str:
    """`days` of recording left -> the words for it."""
    if not days >= 0:            # negative (cannot be) or not a number: treat as nothing left
        days = 0.0
    if days < 1:
        return "less than a day"
    if days < DAYS_UNTIL_MONTHS:
        return _about(_round(days), "day")
    if days < MONTHS_UNTIL_YEARS * DAYS_PER_MONTH:
        return _about(max(1, _round(days / DAYS_PER_MONTH)), "month")
    if days < CAP_YEARS * DAYS_PER_YEAR:
        return _about(_round(days / DAYS_PER_YEAR), "year")
    return f"more than {CAP_YEARS} years"
