"""Exporting to the USB stick from the pages (managers and admins): the export page shows the
stick, the choices (everything new; days, a line, a number), the job's progress and how the last
export ended; the calls page starts one from its search or its ticked calls. The web process
copies nothing: it asks the recorder over its command channel (appliance/control.py), whose
export runner copies, and whose export job audits each export with who started it and from where.
Cancelling is audited here (the job's own entry names who started it)."""
from __future__ import annotations

from pathlib import PurePath
from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from appliance import control
from appliance.present.words import first_upper
from appliance.store import catalog, search

from . import export_choice, export_words
from .auth import record, require
from .calls import carried
from .db import get_db
from .formatting import line_name, local_time
from .forms import ActionForm

bp = Blueprint("export", __name__)

RANGE_FIELDS = ("since", "until", "line", "number", "target")


# -- asking the recorder ------------------------------------------------------------------------------
def ask(command: str, **arguments: Any) -> Any:
    return control.ask(control.socket_path(current_app.config["STATUS_FILE"]), command, **arguments)


def refusal(e: control.ControlError) -> str:
    """The recorder's refusal (or its absence) as a sentence."""
    if e.code == "not-running":
        return export_words.NOT_RUNNING
    text = first_upper(str(e))
    return text if text.endswith(".") else text + "."


def start(selection: dict[str, Any], via: str, target: str | None = None) -> dict[str, Any]:
    """Ask the recorder to export (to target: a stick's mount point, when several are plugged
    in); its answer, or ControlError with its refusal."""
    return ask("export-start", selection=selection, by=current_user.name, remote_addr=request.remote_addr, via=via,
               target=target)


def chosen_stick(target: Any) -> str | None:
    """A stick the person chose (None: the one plugged in): one the recorder lists now."""
    if target is None or target == "":
        return None
    status, _ = described()
    plugged = [s.get("path") for s in (status or {}).get("sticks") or [] if isinstance(s, dict)]
    if not isinstance(target, str) or target not in plugged:
        raise export_choice.ChoiceError("That stick is not plugged in (any more): choose one of those listed.",
                                        "target")
    return target


def cancel(via: str) -> bool:
    """Ask the recorder to stop the export; True when one was running (then audited)."""
    answer = ask("export-cancel", by=current_user.name, remote_addr=request.remote_addr, via=via)
    changed = bool(isinstance(answer, dict) and answer.get("changed"))
    if changed:
        record("export-cancel", None, via=via)
    return changed


def name_mismatch(mismatch: dict[str, Any]) -> str:
    """'the call of 2026-03-14 23:00 on Front desk (2026-03-14_23-00-00_L1_in_4155550123_5a1e.mp3)'."""
    call_id = mismatch.get("call_id")
    row = catalog.get_call(get_db(), call_id) if isinstance(call_id, str) and len(call_id) <= 32 else None
    where = f" ({PurePath(str(mismatch['path'])).name})" if mismatch.get("path") else ""
    if row is None:
        return f"call {str(call_id)[:32]}{where}"
    return f"the call of {local_time(row['started_at'], '%Y-%m-%d %H:%M')} on {line_name(row['line'])}{where}"


def described() -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The recorder's export status (None when it does not answer) and what the page says of it."""
    try:
        status, problem = ask("export-status"), None
    except control.ControlError as e:
        status, problem = None, refusal(e)
    if status is not None and not isinstance(status, dict):
        status, problem = None, "The recorder's answer about the export was not understood."
    return status, export_words.view(status, problem, name_mismatch)


# -- pages --------------------------------------------------------------------------------------------
def _page(errors: dict[str, str] | None = None, values: dict[str, str] | None = None, code: int = 200):
    _, said = described()
    return render_template("export.html", said=said, errors=errors or {}, values=values or {},
                           lines=catalog.line_ids(get_db())), code


@bp.get("/export")
@require("export")
def index():
    return _page()


@bp.get("/export/progress")
@require("export")
def progress():
    """What the page shows, for its script (web/static/export.js) to keep it current."""
    return jsonify(described()[1])


@bp.post("/export")
@require("export")
def begin():
    if not ActionForm().validate_on_submit():
        abort(400)
    what = request.form.get("what")
    from_calls = what in ("search", "selected")
    back = url_for("calls.index", **carried({k: v for k, v in request.form.items() if k in search.QUERY_KEYS})) \
        if from_calls else url_for("export.index")
    values = {k: request.form.get(k, "")[:100] for k in RANGE_FIELDS}
    try:
        selection, target = _chosen(what), chosen_stick(request.form.get("target"))
    except export_choice.ChoiceError as e:
        if from_calls or what == "new":
            flash(str(e), "error")
            return redirect(back, 303)
        return _page({e.field or "form": str(e)}, values, 400)
    try:
        start(selection, "web", target)
    except control.ControlError as e:
        flash(f"The export did not start: {refusal(e)}", "error")
        return redirect(back, 303)
    flash("The export has started: its progress is below.")
    return redirect(url_for("export.index"), 303)


def _chosen(what: str | None) -> dict[str, Any]:
    if what == "new":
        return export_choice.everything_new()
    if what == "days":
        return export_choice.by_days(*(request.form.get(k) for k in RANGE_FIELDS[:4]), request.form.get("new") == "1")
    if what == "search":
        return export_choice.from_search(request.form)
    if what == "selected":
        return export_choice.from_ids(request.form.getlist("id"))
    abort(400)


@bp.post("/export/cancel")
@require("export")
def stop():
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        changed = cancel("web")
    except control.ControlError as e:
        flash(f"Could not cancel the export: {refusal(e)}", "error")
    else:
        flash("The export is stopping: what was copied stays on the stick, verified." if changed
              else "No export was running: nothing to cancel.")
    return redirect(url_for("export.index"), 303)
