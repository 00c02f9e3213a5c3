"""The do-not-record list (admins): calls from or to these numbers are never recorded. Entries
are added and removed here or with `hookline dnr`, checked by appliance.store.dnr, audited; the
recorder picks a change up within a second."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from appliance.store import dnr

from .auth import record, require
from .db import get_box, get_db
from .forms import DnrForm, DnrRemoveForm

bp = Blueprint("dnr", __name__)


@bp.route("/settings/do-not-record", methods=["GET", "POST"])
@require("settings")
def index():
    db = get_db()
    form = DnrForm()
    status = 200
    if form.is_submitted():
        if form.validate_on_submit():
            try:
                entry = dnr.add(db, form.pattern.data, form.label.data, current_user.name, get_box().phone_region)
            except dnr.DnrError as e:
                form.pattern.errors = [str(e)]
            else:
                record("dnr-add", entry.pattern, label=entry.label)
                flash(f"{entry.named} is on the do-not-record list: its calls are not recorded from now on.")
                return redirect(url_for("dnr.index"), 303)
        elif form.csrf_token.errors:
            abort(400)
        status = 400
    return render_template("dnr.html", entries=dnr.entries(db), form=form, remove_form=DnrRemoveForm()), status


@bp.post("/settings/do-not-record/remove")
@require("settings")
def remove():
    form = DnrRemoveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        entry = dnr.remove(get_db(), form.pattern.data, get_box().phone_region)
    except dnr.DnrError:
        abort(404)
    record("dnr-remove", entry.pattern, label=entry.label)
    flash(f"{entry.named} is off the do-not-record list: its calls are recorded again.")
    return redirect(url_for("dnr.index"), 303)
