"""The catalog connection of one request: opened on first use, closed when the request ends.

sqlite-utils Database objects are bound to the thread that made them and waitress serves
requests from a pool of threads, so every request gets its own connection (flaskr's pattern).
"""
from __future__ import annotations

import sqlite_utils
from flask import Flask, current_app, g

from appliance.present.zone import box_zone
from appliance.store import box, db as dbmod


def get_db() -> sqlite_utils.Database:
    """The catalog for this request (opened, and migrated if needed, on first use)."""
    if "db" not in g:
        g.db = dbmod.connect(current_app.config["DATA_DIR"])
    return g.db


def get_box() -> box.BoxFacts:
    """What the box is (zone, phone region, line names), read once per request."""
    if "box" not in g:
        g.box = box.facts(get_db())
    return g.box


def get_zone():
    """The box's time zone: every time on a page is shown in it."""
    if "zone" not in g:
        g.zone = box_zone(get_box().timezone)
    return g.zone


def close_db(_error: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
