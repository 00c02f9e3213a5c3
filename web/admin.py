"""People: user management (admins), each user's own password and API tokens, and the audit
log (who listened to, downloaded, deleted, held or changed what, and when)."""
from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from appliance.present import audit as wording
from appliance.store import audit, audit_seal, catalog, sessions, tokens, users

from .auth import record, require
from .db import get_box, get_db, get_zone
from .forms import ActionForm, NewUserForm, OwnPasswordForm, PasswordForm, TokenForm, UserChangeForm

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


@bp.post("/users/<rowid:user_id>/change")
@require("users")
def user_change(user_id: int):
    row = _user_or_404(user_id)
    form = UserChangeForm()
    if not form.validate_on_submit():
        abort(400)
    db = get_db()
    disabled = bool(form.disabled.data)
    try:
        # Each change is audited as soon as it is made: the second may be refused after the first.
        if form.role.data != row["role"]:
            users.set_role(db, row["name"], form.role.data)
            record("user-change", row["name"], role={"before": row["role"], "after": form.role.data})
        if disabled != bool(row.get("disabled")):
            users.set_disabled(db, row["name"], disabled)
            record("user-change", row["name"], disabled={"before": not disabled, "after": disabled})
    except users.UserError as e:
        flash(e.message, "error")
    else:
        flash(f"{row['name']}: saved." + (" Their sessions have ended and their API tokens are revoked."
                                          if disabled and not row.get("disabled") else ""))
    return redirect(url_for("admin.user_list"), 303)


@bp.post("/users/<rowid:user_id>/password")
@require("users")
def user_password(user_id: int):
    row = _user_or_404(user_id)
    form = PasswordForm()
    if not form.validate_on_submit():
        flash("; ".join(e for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("admin.user_list"), 303)
    if row["id"] == current_user.id:     # one's own password: with the current one, on the Account page
        flash("Change your own password on your Account page (it asks for the current one).", "error")
        return redirect(url_for("admin.account"), 303)
    try:
        changed = users.set_password(get_db(), row["name"], form.password.data)
    except users.UserError as e:
        flash(f"{row['name']}: {e.message}", "error")
    else:
        record("user-change", row["name"], password="reset", sessions_ended=changed["sessions_ended"],
               tokens_revoked=changed["tokens_revoked"])
        flash(f"{row['name']}: new password set; their sessions have ended and their API tokens "
              f"({changed['tokens_revoked']}) are revoked.")
    return redirect(url_for("admin.user_list"), 303)


@bp.post("/users/<rowid:user_id>/remove")
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
    db = get_db()
    own_tokens = users.list_tokens(db, current_user.name)
    logins = sessions.list_for(db, current_user.id, current=current_user.session_key)
    return render_template("account.html", password_form=password_form or OwnPasswordForm(),
                           token_form=token_form or TokenForm(), tokens=own_tokens, new_token=new_token,
                           logins=logins, action_form=ActionForm()), status


@bp.post("/account/sessions/end-others")
@require("listen")
def end_other_sessions():
    """Log out every other browser this person is logged in on (a forgotten office PC, a lost phone)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    ended = sessions.end_all(get_db(), current_user.id, keep=current_user.session_key)
    record("logout", current_user.name, sessions_ended=ended, everywhere_else=True)
    flash(f"Logged out of {ended} other session{'s' if ended != 1 else ''}." if ended else
          "You were not logged in anywhere else.")
    return redirect(url_for("admin.account"), 303)


@bp.post("/account/password")
@require("listen")
def account_password():
    form = OwnPasswordForm()
    if not form.validate_on_submit():
        return _account_page(password_form=form, status=400)
    db = get_db()
    # The current password is checked as a login is (a wrong one counts towards the lockout).
    row, problem = users.check_login(db, current_user.name, form.current.data)
    if row is None:
        record("user-change", current_user.name, password="change refused", reason=problem)
        form.current.errors = [*form.current.errors, "wrong password" if problem == users.WRONG else problem]
        return _account_page(password_form=form, status=400)
    try:
        changed = users.set_password(db, current_user.name, form.password.data, keep_session=current_user.session_key)
    except users.UserError as e:
        _field_error(form, e)
        return _account_page(password_form=form, status=400)
    record("user-change", current_user.name, password="changed", sessions_ended=changed["sessions_ended"],
           tokens_revoked=changed["tokens_revoked"])
    revoked = changed["tokens_revoked"]
    flash("Password changed. Your other sessions have ended" +
          (f", and your {revoked} API token{'s were' if revoked != 1 else ' was'} revoked: create new ones "
           "for what needs them." if revoked else "."))
    return redirect(url_for("admin.account"), 303)


@bp.post("/account/tokens")
@require("listen")
def token_create():
    form = TokenForm()
    if not form.validate_on_submit():
        return _account_page(token_form=form, status=400)
    try:
        token_id, token = users.create_token(get_db(), current_user.name, form.label.data.strip(),
                                             session_key=current_user.session_key)
    except users.UserError as e:
        _field_error(form, e)
        return _account_page(token_form=form, status=400)
    record("token-create", current_user.name, token_id=token_id, label=form.label.data.strip())
    # Shown once, on this response only (never stored in the session or a redirect).
    return _account_page(new_token=token)


@bp.post("/account/tokens/<rowid:token_id>/revoke")
@require("listen")
def token_revoke(token_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    token = tokens.get_token(get_db(), token_id)
    if token is None or (token["user"] != current_user.name and not current_user.can("users")):
        abort(404)
    if tokens.revoke_token(get_db(), token_id):
        # The entry is about the token's owner; its author (user) is whoever revoked it.
        record("token-revoke", token["user"], token_id=token_id, label=token["label"])
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
    before = request.args.get("before", "").strip()
    if before and not (before.isascii() and before.isdigit() and len(before) <= 19 and 0 < int(before) < 2 ** 63):
        abort(400, "before: use an entry number from the list")
    before = int(before) if before else None
    if action is not None and action not in audit.ACTIONS:
        abort(400, f"unknown action {action!r}")
    entries = audit.entries(db, user=user, action=action, target=target, before_id=before, limit=AUDIT_PAGE)
    older = entries[-1]["id"] if len(entries) == AUDIT_PAGE else None
    checked = bool(request.args.get("verify"))   # the whole chain: on request, not on every view
    broken = audit.verify(db) if checked else None
    seal_file = current_app.config["AUDIT_SEAL_FILE"]
    sealed, seal_problems = None, []
    if checked:       # the log against its sealed head: entries removed from the end, or a rewritten log
        try:
            sealed = audit_seal.read(seal_file)
        except audit_seal.SealError as e:
            seal_problems = [str(e)]
        else:
            seal_problems = audit_seal.check(db, seal_file) if sealed else []
    ctx = wording.Context(get_box(), get_zone(), _calls_named_in(db, entries))
    rows = [{"entry": e, "said": wording.describe(e, ctx), "who": wording.who(e["user"], e["action"]),
             "raw": json.dumps({k: e[k] for k in ("id", "action", "target", "detail")}, ensure_ascii=False)}
            for e in entries]
    return render_template("audit.html", rows=rows, older=older, checked=checked, broken=broken, user=user,
                           action=action, target=target, actions=audit.ACTIONS, labels=wording.ACTION_LABELS,
                           sealed=sealed, seal_problems=seal_problems)


def _calls_named_in(db, entries: list[dict]) -> dict[str, dict]:
    """The catalog rows of the calls a page of entries is about, to say which call each was."""
    ids = {e["target"] for e in entries if e["action"] in wording.CALL_ACTIONS and isinstance(e["target"], str)}
    return {call_id: row for call_id in ids if (row := catalog.get_call(db, call_id)) is not None}
