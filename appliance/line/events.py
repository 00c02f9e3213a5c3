"""One line's event log: what happened on the line, and when, into the catalog's call_events.

Stream positions become wall time through the line's clock. If the catalog cannot take an
event (a full disk), the journal still gets it: logging never stops a line.
"""
from __future__ import annotations

import logging
import sqlite3
from typing import Any

from ..store import catalog

log = logging.getLogger("hookline.line")


class EventLog:
    def __init__(self, db, line_id: int, clock) -> None:
        self.db = db
        self.line_id = line_id
        self.clock = clock

    def __call__(self, kind: str, frame: int, call_id: str | None = None, **detail: Any) -> None:
        try:
            catalog.log_event(self.db, self.line_id, kind, self.clock.wall(frame), call_id, **detail)
        except (sqlite3.Error, OSError) as e:
            log.error("line %s: cannot log event %s %s (%s): %s", self.line_id, kind, call_id or "", detail, e)
