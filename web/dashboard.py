"""The first page after login: each line's live state, today's calls, the disk, and warnings.
The page refreshes its live parts from /api/v1/status (web/static/dashboard.js)."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

from . import status as statusmod
from .auth import require
from .db import get_db, get_zone

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@require("listen")
def index():
    db = get_db()
    status = statusmod.read_status(current_app.config["STATUS_FILE"])
    disk = statusmod.disk_report(db, current_app.config["DATA_DIR"])
    count, today = statusmod.today_calls(db, get_zone())
    return render_template("dashboard.html", status=status, disk=disk, today=today, today_count=count,
                           warnings=statusmod.warnings(status, disk))
