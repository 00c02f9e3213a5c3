"""Settings (admins): the runtime settings in groups with their labels, units and help, box-wide
and for each line (titled with its name, showing only what applies to its wiring), validated field
by field with the same rules as `hookline settings`, stored in SQLite; the daemon applies them
within a second. What the page shows and reads is laid out in settings_layout."""
from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from appliance.present import audit as wording, retention as retention_words
from appliance.store import ages as agesmod, retention, settings as settingsmod

from . import status as statusmod
from .auth import record, require
from .db import get_box, get_db, get_zone
from .forms import ActionForm
from .settings_layout import Field, layout

bp = Blueprint("settings", __name__)

# (field, value stored before, value to store: None clears it)
Change = tuple[Field, object, object]


def _line_ids(db) -> list[int]:
    """Every line the box knows of: from its config (as the recorder recorded it), the settings
    stored for one line, and the running recorder's status."""
    ids = set(settingsmod.resolve(db)["lines"]) | set(get_box().lines)
    status = statusmod.read_status(current_app.config["STATUS_FILE"])
    ids.update(s["line"] for s in (status or {}).get("lines", []) if isinstance(s.get("line"), int))
    return sorted(ids)


@bp.route("/settings", methods=["GET", "POST"])
@require("settings")
def index():
    db = get_db()
    lines = _line_ids(db)
    stored = settingsmod.stored_values(db)
    scopes = layout(get_box(), lines, stored, settingsmod.inherited(db, lines, stored))
    form = ActionForm()
    errors = 0
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        changes = _read_form([f for scope in scopes for f in scope.fields()], stored)
        errors = sum(1 for scope in scopes for f in scope.fields() if f.error) or _check_ages(db, changes)
        deletes = None if errors else _deletes(db, changes)
        # The confirmation carries the warning it answers: values changed after it was shown
        # (deleting more, or other calls) are warned about again, not saved.
        if not errors and (deletes is None or request.form.get("confirm_deletes") == deletes):
            _save(db, changes)
            return redirect(url_for("settings.index"), 303)
        if deletes:
            return render_template("settings.html", scopes=scopes, form=form, errors=0, deletes=deletes)
    return render_template("settings.html", scopes=scopes, form=form, errors=errors), 400 if errors else 200


def _check_ages(db, changes: list[Change]) -> int:
    """The minimum and maximum ages of all the changes together (one by one they might pass
    through a conflict): 1 with the message on the first age field changed, else 0."""
    ages = [(field, value) for field, _, value in changes if field.setting.name in settingsmod.AGES]
    try:
        agesmod.check(db, [(field.setting.name, field.line, value) for field, value in ages])
    except settingsmod.SettingError as e:
        ages[0][0].error = str(e).split(": ", 1)[-1]
        return 1
    return 0


def _deletes(db, changes: list[Change]) -> str | None:
    """What saving these changes would delete that the settings as they are would not (None:
    nothing), said before it happens ("This will delete 1,234 calls from before 2026-06-01")."""
    asked = [(field.setting.name, field.line, value) for field, _, value in changes
             if field.setting.name in settingsmod.RETENTION]
    if not asked:
        return None
    try:
        after, before = retention.preview_change(db, current_app.config["DATA_DIR"], asked, time.time())
    except OSError:         # the data folder's disk cannot be measured: the rules are still worded
        return None
    return retention_words.change_warning(after, before, get_zone())


def _read_form(fields: list[Field], stored: dict) -> list[Change]:
    """The changes the submitted form asks for, among the fields the page shows; what was typed
    goes back into each field, and what cannot be used into its error."""
    changes: list[Change] = []
    for field in fields:
        if field.key not in request.form:
            continue
        text = request.form.get(field.key, "").strip()[:64]
        field.value = text
        old = stored.get((field.scope, field.setting.name))
        if not text:
            if old is not None:
                changes.append((field, old, None))
            continue
        try:
            value = field.setting.parse(text)
        except settingsmod.SettingError as e:
            field.error = str(e).split(": ", 1)[-1]
            continue
        if value != old:
            changes.append((field, old, value))
    return changes


def _save(db, changes: list[Change]) -> None:
    for field, _, value in changes:
        if value is None:
            settingsmod.clear_value(db, field.setting.name, field.line, check_ages=False)
        else:
            settingsmod.set_value(db, field.setting.name, value, field.line, check_ages=False)
    if not changes:
        flash("Nothing changed.")
        return
    # Before and after, as stored (None: nothing set, the default applied).
    said = {field.key: {"before": old, "after": value} for field, old, value in changes}
    record("settings", None, changes=said)
    ctx = wording.Context(get_box(), get_zone())
    flash("Saved. " + "; ".join(wording.setting_change(key, change, ctx) for key, change in said.items()) +
          ". The recorder applies changes within a second.")
