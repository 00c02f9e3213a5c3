"""People: user management (admins), each user's own password and API tokens, and the audit
log (who listened to, downloaded, deleted, held or changed what, and when)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user

from appliance.store import audit, users

from .auth import User, record, require
from .db import get_db
from .forms import ActionForm, NewUserForm, PasswordForm, TokenForm, UserChangeForm

bp = Blueprint("admin", __name__)

AUDIT_PAGE = 100


def _user_or_404(user_id: int) -> dict:
    row = users.get_user(get_db(), user_id)
    if row is None:
        abort(404)
    return row


def _field_error(form, error: users.UserError) -> None:
    field = getattr(form, error.field, None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, error.message] if isinstance(field.errors, list) else [error.message]
    else:
        form.form_errors.append(error.message)


@bp.route("/users", methods=["GET", "POST"])
@require("users")
def user_list():
    db = get_db()
    form = NewUserForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                row = users.create_user(db, form.name.data.strip(), form.role.data, form.password.data)
            except users.UserError as e:
                _field_error(form, e)
                status = 400
            else:
                record("user-add", row["name"], role=row["role"])
                flash(f"{row['name']} can now log in as {row['role']}.")
                return redirect(url_for("admin.user_list"), 303)
        else:
            status = 400
    return render_template("users.html", users=users.list_users(db), form=form, change_form=UserChangeForm(),
                           password_form=PasswordForm(), action_form=ActionForm()), status


@bp.post("/users/<int:user_id>/change")
@require("users")
def user_change(user_id: int):
    row = _user_or_404(user_id)
    form = UserChangeForm()
    if not form.validate_on_submit():
        abort(400)
    db = get_db()
    try:
        if form.role.data != row["role"]:
            users.set_role(db, row["name"], form.role.data)
        if bool(form.disabled.data) != bool(row.get("disabled")):
            users.set_disabled(db, row["name"], bool(form.disabled.data))
    except users.UserError as e:
        flash(e.message, "error")
    else:
        record("user-change", row["name"], role=form.role.data, disabled=bool(form.disabled.data))
        flash(f"{row['name']}: saved.")
    return redirect(url_for("admin.user_list"), 303)


@bp.post("/users/<int:user_id>/password")
@require("users")
def user_password(user_id: int):
    row = _user_or_404(user_id)
    form = PasswordForm()
    if not form.validate_on_submit():
        flash("; ".join(e for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("admin.user_list"), 303)
    try:
        users.set_password(get_db(), row["name"], form.password.data)
    except users.UserError as e:
        flash(f"{row['name']}: {e.message}", "error")
    else:
        record("user-change", row["name"], password="reset")
        flash(f"{row['name']}: new password set; their other sessions have ended.")
    return redirect(url_for("admin.user_list"), 303)


@bp.post("/users/<int:user_id>/remove")
@require("users")
def user_remove(user_id: int):
    row = _user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        users.remove_user(get_db(), row["name"])
    except users.UserError as e:
        flash(e.message, "error")
    else:
        record("user-remove", row["name"])
        flash(f"{row['name']} was removed.")
    return redirect(url_for("admin.user_list"), 303)


# -- one's own account -----------------------------------------------------------------------------
@bp.get("/account")
@require("listen")
def account():
    return _account_page()


def _account_page(password_form=None, token_form=None, new_token=None, status=200):
    tokens = users.list_tokens(get_db(), current_user.name)
    return render_template("account.html", password_form=password_form or PasswordForm(),
                           token_form=token_form or TokenForm(), tokens=tokens, new_token=new_token,
                           action_form=ActionForm()), status


@bp.post("/account/password")
@require("listen")
def account_password():
    form = PasswordForm()
    if not form.validate_on_submit():
        return _account_page(password_form=form, status=400)
    db = get_db()
    try:
        users.set_password(db, current_user.name, form.password.data)
    except users.UserError as e:
        _field_error(form, e)
        return _account_page(password_form=form, status=400)
    record("user-change", current_user.name, password="changed")
    # The password change ended every session, this one too: start a fresh one here.
    session.clear()
    login_user(User(users.get_user(db, current_user.id)))
    session.permanent = True
    flash("Password changed. Other sessions with the old password have ended.")
    return redirect(url_for("admin.account"), 303)


@bp.post("/account/tokens")
@require("listen")
def token_create():
    form = TokenForm()
    if not form.validate_on_submit():
        return _account_page(token_form=form, status=400)
    try:
        token_id, token = users.create_token(get_db(), current_user.name, form.label.data.strip())
    except users.UserError as e:
        _field_error(form, e)
        return _account_page(token_form=form, status=400)
    record("token-create", current_user.name, token_id=token_id, label=form.label.data.strip())
    # Shown once, on this response only (never stored in the session or a redirect).
    return _account_page(new_token=token)


@bp.post("/account/tokens/<int:token_id>/revoke")
@require("listen")
def token_revoke(token_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    mine = {t["id"] for t in users.list_tokens(get_db(), current_user.name)}
    if token_id not in mine and not current_user.can("users"):
        abort(404)
    if users.revoke_token(get_db(), token_id):
        record("token-revoke", current_user.name, token_id=token_id)
        flash("Token revoked: it no longer works.")
    return redirect(url_for("admin.account"), 303)


# -- the audit log ------------------------------------------------------------------------------
@bp.get("/audit")
@require("audit")
def audit_log():
    db = get_db()
    user = request.args.get("user", "").strip()[:64] or None
    action = request.args.get("action", "").strip()[:32] or None
    target = request.args.get("target", "").strip()[:64] or None
    before = request.args.get("before", type=int)
    if action is not None and action not in audit.ACTIONS:
        abort(400, f"unknown action {action!r}")
    entries = audit.entries(db, user=user, action=action, target=target, before_id=before, limit=AUDIT_PAGE)
    older = entries[-1]["id"] if len(entries) == AUDIT_PAGE else None
    checked = bool(request.args.get("verify"))   # the whole chain: on request, not on every view
    broken = audit.verify(db) if checked else None
    return render_template("audit.html", entries=entries, older=older, checked=checked, broken=broken, user=user,
                           action=action, target=target, actions=audit.ACTIONS)
