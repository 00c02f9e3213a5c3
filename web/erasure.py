"""Erasure by number (managers and admins): enter a number, see how many calls have it and which
will be refused, confirm, and see what was erased and what stayed (store/erasure.py says what
is cleared and what stays as proof). The number travels in POST bodies only, never in a URL,
and the audit entry keeps its hash, not the number."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from appliance.store import by_number, erasure

from .auth import record, require
from .db import get_box, get_db

bp = Blueprint("erasure", __name__)

NUMBER_MAX = 40


class EraseForm(FlaskForm):
    number = StringField("Phone number", validators=[DataRequired(), Length(max=NUMBER_MAX)])
    expected = HiddenField()        # the count the person confirmed: erase only if it still holds


@bp.route("/erase", methods=["GET", "POST"])
@require("erase")
def index():
    """The form, and (POST) what erasing the number would do, with the button that does it."""
    form = EraseForm()
    if not form.is_submitted():
        return render_template("erase.html", form=form, plan=None, done=None)
    if not form.validate_on_submit():
        return _invalid(form)
    try:
        plan = erasure.plan(get_db(), form.number.data, get_box().phone_region)
    except by_number.NumberError as e:
        form.number.errors = [str(e)]
        return render_template("erase.html", form=form, plan=None, done=None), 400
    form.expected.data = str(len(plan.erasable))
    return render_template("erase.html", form=form, plan=plan, done=None)


@bp.post("/erase/confirm")
@require("erase")
def confirm():
    form = EraseForm()
    if not form.validate_on_submit():
        return _invalid(form)
    region = get_box().phone_region
    try:
        plan = erasure.plan(get_db(), form.number.data, region)
    except by_number.NumberError as e:
        form.number.errors = [str(e)]
        return render_template("erase.html", form=form, plan=None, done=None), 400
    if form.expected.data != str(len(plan.erasable)):
        form.expected.data = str(len(plan.erasable))
        return render_template("erase.html", form=form, plan=plan, done=None, changed=True), 409
    done = erasure.erase(get_db(), current_app.config["DATA_DIR"], form.number.data, region, current_user.name)
    record("erase", None, number_hash=done.number_hash, count=len(done.erasable),
           calls=[c["id"] for c in done.erasable][:1000], refused=len(done.refused))
    return render_template("erase.html", form=EraseForm(formdata=None), plan=None, done=done)


def _invalid(form: EraseForm):
    if "csrf_token" in form.errors:
        abort(400)
    return render_template("erase.html", form=form, plan=None, done=None), 400
