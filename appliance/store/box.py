"""What the box is, as its hardware config says: the time zone, the phone region, and each line's
name and wiring. The recorder records it in the catalog at every start, so the web page and the
CLI, which may run with no config at hand, speak of the same box.

A line's name can also be changed while the box runs (the runtime setting ``name``); the one
the config gives is its default.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlite_utils

from . import settings

META_KEY = "box"


@dataclass(frozen=True)
class LineFacts:
    id: int
    name: str
    wiring: str = "gpio"          # how it learns the hook state: gpio | serial | vox
    callerid: bool = False        # a caller-ID modem is fitted
    playback: bool = False        # it can play a notice onto the line


@dataclass(frozen=True)
class BoxFacts:
    timezone: str | None = None   # IANA name; None: the system's own zone
    phone_region: str = "US"
    lines: dict[int, LineFacts] = field(default_factory=dict)

    def line_name(self, line_id: int) -> str:
        facts = self.lines.get(line_id)
        return facts.name if facts else f"Line {line_id}"


def record(db: sqlite_utils.Database, cfg) -> None:
    """Remember what the config (appliance.config.Config) says about the box."""
    facts = {"timezone": cfg.timezone, "phone_region": cfg.phone_region,
             "lines": [{"id": line.id, "name": line.name, "wiring": line.offhook.source,
                        "callerid": line.callerid is not None, "playback": line.playback is not None}
                       for line in cfg.lines]}
    db["meta"].upsert({"key": META_KEY, "value": json.dumps(facts)}, pk="key")


def facts(db: sqlite_utils.Database) -> BoxFacts:
    """The box as last recorded, with each line's name as set at runtime where it was; a catalog
    the recorder has never started on gives the defaults."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    raw = json.loads(row[0]) if row else {}
    renamed = settings.line_rows(db, "name")     # set while the box runs: wins over the config's
    lines = {}
    for line in raw.get("lines", []):
        line["name"] = renamed.get(line["id"], line["name"])
        lines[line["id"]] = LineFacts(**line)
    return BoxFacts(timezone=raw.get("timezone"), phone_region=raw.get("phone_region", "US"), lines=lines)
