"""Pausing the recording of a call in progress (card payments) from the pages: the Pause and
Resume buttons of the dashboard's line cards and of a recording call's page. The web process
asks the recorder over its command channel (appliance/control.py); managers and admins may,
every change is audited, and a recorder that is not running is said so. The API's own routes
are in api.py; both use ask() here."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user

from appliance import control
from appliance.store import catalog

from . import status as statusmod
from .auth import record, require
from .db import get_db

bp = Blueprint("pause", __name__)


def ask(kind: str, line: int, via: str) -> dict[str, Any]:
    """Pause or resume the line's call through the recorder; its answer (audited when it changed
    something), or control.ControlError with the reason."""
    answer = control.ask(control.socket_path(current_app.config["STATUS_FILE"]), kind, line=line,
                         by=via, user=current_user.name)
    if answer.get("changed"):
        record(kind, answer.get("call_id"), line=line, via=via)
    return answer


def said(kind: str, line: int, answer: dict[str, Any]) -> str:
    if kind == "pause":
        return (f"Line {line} is paused: nothing is recorded until you resume "
                "(it resumes by itself after the longest pause allowed).")
    if not answer.get("changed"):
        return f"Line {line} was not paused: nothing to resume."
    return f"Line {line} is recording again."


@bp.post("/lines/<rowid:line>/pause", defaults={"kind": "pause"})
@bp.post("/lines/<rowid:line>/resume", defaults={"kind": "resume"})
@require("pause")
def change(line: int, kind: str):
    back = _back()
    try:
        answer = ask(kind, line, "web")
    except control.ControlError as e:
        flash(f"Could not {kind} line {line}: {e}.", "error")
    else:
        flash(said(kind, line, answer))
    return redirect(back, 303)


def _back() -> str:
    """The page the button was on: the call's (a known call id), else the dashboard."""
    call_id = request.form.get("call_id", "")
    if call_id and len(call_id) <= 40 and catalog.get_call(get_db(), call_id) is not None:
        return url_for("calls.detail", call_id=call_id)
    return url_for("dashboard.index")


def live_pause(call: dict[str, Any]) -> dict[str, Any] | None:
    """For a recording call's page: {"line", "paused"} while the recorder reports this call in
    progress, else None (no button then)."""
    if call.get("status") != "recording":
        return None
    live = statusmod.read_status(current_app.config["STATUS_FILE"])
    if live is None or live["stale"]:
        return None
    for line in live["lines"]:
        if line.get("call_id") == call["id"]:
            return {"line": line.get("line"), "paused": bool(line.get("paused"))}
    return None
