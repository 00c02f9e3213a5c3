"""One line's event log: what happened on the line, and when, into the catalog's call_events.

Stream positions become wall time through the line's clock. If the catalog finds the disk
full, the reserve kept for it is given back and the event written again; if it still cannot take
it, the journal gets it: logging never stops a line.
"""
from __future__ import annotations

import logging
import sqlite3
from typing import Any

from ..recording.room import disk_full
from ..store import catalog

log = logging.getLogger("hookline.line")


class EventLog:
    def __init__(self, db, line_id: int, clock, room=None) -> None:
        self.db = db
        self.line_id = line_id
        self.clock = clock
        self.room = room        # the data disk's room (recording/room.py): its reserve is given back when full

    def __call__(self, kind: str, frame: int, call_id: str | None = None, **detail: Any) -> None:
        try:
            self._log(kind, frame, call_id, detail)
        except (sqlite3.Error, OSError) as e:
            if disk_full(e) and self.room is not None and self.room.give_back():
                self(kind, frame, call_id, **detail)    # once more, in the room the reserve held
                return
            log.error("line %s: cannot log event %s %s (%s): %s", self.line_id, kind, call_id or "", detail, e)

    def _log(self, kind: str, frame: int, call_id: str | None, detail: dict[str, Any]) -> None:
        catalog.log_event(self.db, self.line_id, kind, self.clock.wall(frame), call_id, **detail)
