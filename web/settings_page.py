"""Settings (admins): every runtime setting box-wide and per line, validated field by field with
the same rules as `hookline settings`, stored in SQLite; the daemon applies them within a second."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from appliance.store import settings as settingsmod

from . import status as statusmod
from .auth import record, require
from .db import get_db
from .forms import ActionForm

bp = Blueprint("settings", __name__)


def _line_ids(db) -> list[int]:
    ids = set(settingsmod.resolve(db)["lines"])
    status = statusmod.read_status(current_app.config["STATUS_FILE"])
    ids.update(s["line"] for s in (status or {}).get("lines", []) if isinstance(s.get("line"), int))
    return sorted(ids)


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


# (form key, setting, line or None, value stored before, value to store: None clears it)
Change = tuple[str, settingsmod.Setting, int | None, object, object]


@bp.route("/settings", methods=["GET", "POST"])
@require("settings")
def index():
    db = get_db()
    lines = _line_ids(db)
    stored = settingsmod.stored_values(db)
    form = ActionForm()
    errors: dict[str, str] = {}
    submitted: dict[str, str] = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        changes = _read_form(lines, stored, errors, submitted)
        if not errors:
            _save(db, changes)
            return redirect(url_for("settings.index"), 303)
    rows = _rows(settingsmod.resolve(db, lines), lines, stored, submitted)
    return render_template("settings.html", rows=rows, lines=lines, form=form, errors=errors), 400 if errors else 200


def _read_form(lines: list[int], stored: dict, errors: dict[str, str], submitted: dict[str, str]) -> list[Change]:
    """The changes the submitted form asks for; what it typed goes into submitted (key -> text)
    and what cannot be used into errors (key -> message)."""
    changes: list[Change] = []
    scopes = [("box", None)] + [(f"line.{n}", n) for n in lines]
    for setting in settingsmod.REGISTRY.values():
        for prefix, line in scopes:
            if line is not None and not setting.per_line:
                continue
            key = f"{prefix}.{setting.name}"
            if key not in request.form:
                continue
            text = request.form.get(key, "").strip()[:64]
            submitted[key] = text
            scope = "" if line is None else f"line.{line}"
            old = stored.get((scope, setting.name))
            if not text:
                if old is not None:
                    changes.append((key, setting, line, old, None))
                continue
            try:
                value = setting.parse(text)
            except settingsmod.SettingError as e:
                errors[key] = str(e).split(": ", 1)[-1]
                continue
            if value != old:
                changes.append((key, setting, line, old, value))
    return changes


def _save(db, changes: list[Change]) -> None:
    for _key, setting, line, _, value in changes:
        if value is None:
            settingsmod.clear_value(db, setting.name, line)
        else:
            settingsmod.set_value(db, setting.name, value, line)
    if changes:
        # Before and after, as stored (None: nothing set, the default applied).
        record("settings", None, changes={key: {"before": old, "after": value}
                                          for key, _, _, old, value in changes})
        flash(f"Saved {len(changes)} change{'s' if len(changes) != 1 else ''}: the recorder applies "
              "them within a second.")
    else:
        flash("Nothing changed.")


def _rows(resolved: dict, lines: list[int], stored: dict, submitted: dict[str, str]) -> list[dict]:
    """The table: a row per setting, a cell per scope (None: box-wide only), what was typed kept."""
    rows = []
    for setting in settingsmod.REGISTRY.values():
        box_value, box_source = resolved["box"][setting.name]
        cells = [{"key": f"box.{setting.name}", "value": _shown(stored[("", setting.name)])
                  if ("", setting.name) in stored else "", "placeholder": _shown(box_value)}]
        for n in lines:
            if not setting.per_line:
                cells.append(None)
                continue
            value, source = resolved["lines"][n][setting.name]
            own = stored.get((f"line.{n}", setting.name))
            cells.append({"key": f"line.{n}.{setting.name}", "value": _shown(own) if own is not None else "",
                          "placeholder": _shown(value)})
        for cell in cells:
            if cell and cell["key"] in submitted:
                cell["value"] = submitted[cell["key"]]
        rows.append({"setting": setting, "cells": cells})
    return rows
