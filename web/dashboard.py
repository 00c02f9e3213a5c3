"""The first page after login: each line's live state, today's calls, the disk, the USB sticks
plugged in, and warnings.
The page keeps itself current without a reload (web/static/dashboard.js): the line cards and
warnings from /api/v1/status every second, today's calls from /today when they change; and
web/static/sticks.js the sticks from /sticks every few seconds."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, url_for
from flask_login import current_user

from appliance.export import sticks as sticksmod
from appliance.present import words
from appliance.store.kinds import Status

from . import status as statusmod
from .auth import require
from .call_page import not_kept_reasons
from .db import get_box, get_db, get_zone
from .formatting import duration, line_name, local_time, party

bp = Blueprint("dashboard", __name__)

# An empty row for the page's <template>: the script fills copies of it, so rows added live
# have exactly the markup of the rows drawn here.
BLANK_ROW = {"id": "", "url": "", "started_at": "", "time": "", "what": "", "status": Status.COMPLETE,
             "status_text": "", "reason": None}


@bp.get("/")
@require("listen")
def index():
    db = get_db()
    status = statusmod.read_status(current_app.config["STATUS_FILE"])
    disk = statusmod.disk_report(db, current_app.config["DATA_DIR"])
    count, today = today_rows()
    return render_template("dashboard.html", cards=statusmod.line_cards(status, get_box()), disk=disk,
                           today=today, today_count=count, blank_row=BLANK_ROW,
                           sticks=stick_rows(current_app.config["MOUNT_ROOT"]),
                           warnings=statusmod.warnings(status, disk, get_box(), current_user.can("technical")))


@bp.get("/today")
@require("listen")
def today():
    """Today's calls as the dashboard lists them (for its script; /api/v1/calls is the API)."""
    count, rows = today_rows()
    return jsonify(count=count, calls=rows)


def today_rows() -> tuple[int, list[dict[str, Any]]]:
    """How many calls started today in the box's zone, and the newest few as the list shows
    them: the time there, the line's name, the number as written in the box's region."""
    count, calls = statusmod.today_calls(get_db(), get_zone())
    reasons = not_kept_reasons(calls)
    return count, [_row(c, reasons.get(c["id"])) for c in calls]


def _row(call: dict[str, Any], reason: str | None) -> dict[str, Any]:
    who = party(call)
    what = [line_name(call["line"]), words.direction(call["direction"]),
            f"{call['remote_name']}, {who}" if call.get("remote_name") else who]
    if call["status"] != Status.RECORDING:      # the length is known once the call is over
        what.append(duration(call["duration_s"]))
    return {"id": call["id"], "url": url_for("calls.detail", call_id=call["id"]), "started_at": call["started_at"],
            "time": local_time(call["started_at"], "%H:%M"), "what": " · ".join(what), "status": call["status"],
            "status_text": words.status(call["status"]),
            "reason": reason}


@bp.get("/sticks")
@require("listen")
def sticks():
    """The sticks as the dashboard shows them (for its script)."""
    return jsonify(sticks=stick_rows(current_app.config["MOUNT_ROOT"]))


def stick_rows(mount_root) -> list[dict[str, Any]]:
    """Each stick under the mount root: its label, filesystem and room in words, or why an
    export cannot go there."""
    try:
        found = sticksmod.find(mount_root)
    except OSError:          # no mount table to read: no sticks to show
        return []
    return [{"label": s.label, "filesystem": sticksmod.filesystem_name(s.fstype), "space": s.space_words(),
             "problem": s.problem} for s in found]
