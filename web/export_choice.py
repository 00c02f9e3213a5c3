"""What an export started from the pages or the API takes, read from the request and checked here,
before the recorder is asked (its export runner does the copying): everything new; days, a line
and a number (the export page's form); the calls a search on the calls page finds; or the calls
ticked there. The answer is the `selection` of the recorder's "export-start" command.

A search that names nothing but days and a line goes as those days and that line, whatever the
number of calls; any other search goes as the ids of the calls it finds, like a ticked selection,
at most ID_CAP of them (the command channel takes 64 KB a request)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from appliance.store import by_number, catalog, search
from appliance.store.call_query import MAX_LINE
from appliance.store.kinds import WITH_FILE

from .calls import carried, read_search
from .db import get_box, get_db

ID_CAP = 2000
ID_MAX = 32                     # a call id's length at most (they are 10 hex digits)
NUMBER_MAX = 40
# A search these keys describe whole (match says how a number matches: with no number, nothing).
AS_DAYS = {"date_from", "date_to", "line", "match", "order", "limit", "after"}


class ChoiceError(ValueError):
    """A choice that cannot be exported; str() is the sentence for the person, field the form
    field it is about (None: the choice as a whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def everything_new() -> dict[str, Any]:
    return {"new": True}


def by_days(since: str | None, until: str | None, line: str | int | None, number: str | None,
            new: bool = False) -> dict[str, Any]:
    """The export page's form (and the API's fields): each may be empty."""
    first, last = _day(since, "since", "first"), _day(until, "until", "last")
    if first and last and last < first:
        raise ChoiceError(f"The last day ({last}) is before the first ({first}): swap them.", "until")
    return {"since": first and first.isoformat(), "until": last and last.isoformat(), "line": _line(line),
            "number": _number(number), "new": bool(new)}


def _day(text: str | None, field: str, which: str) -> date | None:
    text = "" if text is None else str(text).strip()
    if not text:
        return None
    try:
        if len(text) != 10:         # 2026-03-04, not 20260304 or a week date
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ChoiceError(f"Write the {which} day as YYYY-MM-DD, for example 2026-03-04.", field) from None


def _line(value: str | int | None) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3) or not 1 <= int(text) <= MAX_LINE:
        raise ChoiceError(f"Choose a line from 1 to {MAX_LINE}.", "line")
    if int(text) not in catalog.line_ids(get_db()):
        raise ChoiceError(f"{get_box().line_name(int(text))} has no calls to export.", "line")
    return int(text)


def _number(value: str | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if len(text) > NUMBER_MAX:
        raise ChoiceError(f"A phone number has at most {NUMBER_MAX} characters.", "number")
    try:
        by_number.key_of(text, get_box().phone_region)
    except by_number.NumberError:
        raise ChoiceError("Give the phone number's digits (at least 3), written any way: "
                          "(415) 555-0123, +1 415 555 0123.", "number") from None
    return text


def from_search(args: Mapping[str, str]) -> dict[str, Any]:
    """The calls the calls page's search (its query keys) finds."""
    args = carried({k: v for k, v in args.items() if k in search.QUERY_KEYS})
    try:
        query = read_search(args)
    except search.QueryError as e:
        raise ChoiceError(e.message, e.field) from None
    if set(args) <= AS_DAYS:
        return {"since": args.get("date_from") or None, "until": args.get("date_to") or None,
                "line": query.line, "number": None, "new": False}
    rows, more = search.every(get_db(), query, ID_CAP)
    if more:
        raise ChoiceError(f"This search finds more than {ID_CAP:,} calls, and an export of a search takes at most "
                          f"{ID_CAP:,}: narrow it, or export by days on the export page (no limit there).")
    ids = [r["id"] for r in rows if _has_recording(r)]
    if not ids:
        raise ChoiceError("None of the calls this search finds has a recording to export.")
    return {"call_ids": ids}


def from_ids(ids: list[Any]) -> dict[str, Any]:
    """The calls ticked on the calls page (or listed by the API): each must be a call in the
    catalog; those without a recording are left out."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise ChoiceError("Tick the calls to export first.", "call_ids")
    if len(ids) > ID_CAP:
        raise ChoiceError(f"An export of ticked calls takes at most {ID_CAP:,}: tick fewer, or export by days.",
                          "call_ids")
    if not all(isinstance(i, str) and 0 < len(i) <= ID_MAX and i.isascii() and i.isalnum() for i in ids):
        raise ChoiceError("Those are not calls of this box: reload the calls list and tick them again.", "call_ids")
    rows = catalog.get_calls(get_db(), ids)
    if len(rows) < len(ids):
        missing = len(ids) - len(rows)
        raise ChoiceError(f"{missing} of the ticked calls {'is' if missing == 1 else 'are'} not in the catalog "
                          "(deleted meanwhile?): reload the calls list and tick them again.", "call_ids")
    chosen = [r["id"] for r in rows if _has_recording(r)]
    if not chosen:
        raise ChoiceError("None of the ticked calls has a recording to export.", "call_ids")
    return {"call_ids": chosen}


def _has_recording(row: dict[str, Any]) -> bool:
    return row.get("status") in WITH_FILE and bool(row.get("path")) and bool(row.get("sha256"))


API_KEYS = ("since", "until", "line", "number", "new", "search", "call_ids")


def from_json(body: Any) -> dict[str, Any]:
    """The API's body: {"new": true}; days, line, number (and new); {"search": {query keys}};
    or {"call_ids": [...]}."""
    if not isinstance(body, dict):
        raise ChoiceError('Send a JSON object, such as {"new": true}.')
    unknown = sorted(str(k)[:40] for k in body if k not in API_KEYS)
    if unknown:
        raise ChoiceError(f"Unknown field {unknown[0]!r}: use {', '.join(API_KEYS)}.", unknown[0])
    if "call_ids" in body:
        if len(body) > 1 or not isinstance(body["call_ids"], list):
            raise ChoiceError("Send call_ids alone, as a list of call ids.", "call_ids")
        return from_ids(body["call_ids"])
    if "search" in body:
        query = body["search"]
        if len(body) > 1 or not isinstance(query, dict) or not all(isinstance(v, str) for v in query.values()):
            raise ChoiceError('Send search alone, as an object of the calls search\'s keys: {"date_from": '
                              '"2026-03-01"}.', "search")
        unknown = sorted(str(k)[:40] for k in query if k not in search.QUERY_KEYS)
        if unknown:
            raise ChoiceError(f"Unknown search key {unknown[0]!r}: use {', '.join(search.QUERY_KEYS)}.", "search")
        return from_search(query)
    for name in ("since", "until", "number"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ChoiceError(f"Send {name} as text.", name)
    if body.get("line") is not None and (isinstance(body["line"], bool) or not isinstance(body["line"], (int, str))):
        raise ChoiceError(f"Send line as a number from 1 to {MAX_LINE}.", "line")
    if not isinstance(body.get("new", False), bool):
        raise ChoiceError("Send new as true or false.", "new")
    return by_days(body.get("since"), body.get("until"), body.get("line"), body.get("number"), body.get("new", False))
