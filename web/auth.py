"""Who may do what: logins (Flask-Login sessions, API bearer tokens), roles, the first-run page,
and a rate limit on login attempts on top of the per-account lockout in appliance.store.users.

Roles: *admin* (the technician: lines, beep, retention, users, system — and everything else),
*manager* (the owner: listen, download, delete, hold, notes, export, audit), *listener* (listen
only). Every view names the permission it needs; a before-request hook refuses anything not
explicitly public, so a view that forgot its decorator is still closed.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from functools import wraps
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import (Blueprint, Flask, abort, current_app, flash, g, jsonify, redirect, render_template, request,
                   session, url_for)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect

from appliance.store import audit, users

from .db import get_db
from .forms import LoginForm, SetupForm

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "listen": ("listener", "manager", "admin"),
    "download": ("manager", "admin"),
    "manage_calls": ("manager", "admin"),     # delete, hold, notes
    "audit": ("manager", "admin"),
    "settings": ("admin",),
    "users": ("admin",),
}
PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.setup"}

# Failed logins from one address: at most this many in the window, then 429 until it slides.
IP_MAX_FAILURES = 10
IP_WINDOW_S = 600.0


class User(UserMixin):
    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.id = row["id"]
        self.name = row["name"]
        self.role = row["role"]

    def get_id(self) -> str:
        # The session names the password generation: a password change logs out every session.
        return f"{self.id}:{self.row.get('session_version', 1)}"

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


class _FailureLimiter:
    """Sliding-window count of failed logins per client address (in memory: a restart forgets)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, key: str) -> int:
        """Seconds until this address may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            q = self._recent(key, now)
            return int(q[0] + self.window_s - now) + 1 if len(q) >= self.limit else 0

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key, time.monotonic()).append(time.monotonic())
            if len(self._failures) > 10000:    # many addresses: forget the quiet ones
                self._failures = {k: v for k, v in self._failures.items() if v}


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    app.before_request(_require_login)   # first: a stranger is sent to the login page, not told about CSRF
    csrf.init_app(app)
    app.extensions["hookline_login_limiter"] = _FailureLimiter(IP_MAX_FAILURES, IP_WINDOW_S)
    app.context_processor(lambda: {"can": _can, "current_user": current_user})


def _can(permission: str) -> bool:
    return current_user.is_authenticated and current_user.can(permission)


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    try:
        user_id, version = (int(part) for part in session_id.split(":"))
    except ValueError:
        return None
    row = users.get_user(get_db(), user_id)
    if row is None or row.get("disabled") or row.get("session_version", 1) != version:
        return None
    return User(row)


@login_manager.request_loader
def _load_token_user(req) -> User | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = users.user_for_token(get_db(), token.strip())
    if row is None:
        g.bad_token = True
        return None
    g.via_token = True
    return User(row)


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        response = jsonify(error="unauthorized", message="log in, or send Authorization: Bearer <token>")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="hookline"' + (
            ', error="invalid_token"' if g.get("bad_token") else "")
        return response
    if not users.any_users(get_db()):
        return redirect(url_for("auth.setup"))
    target = request.full_path if request.method == "GET" and request.endpoint else None
    return redirect(url_for("auth.login", next=target.rstrip("?") if target else None))


def _require_login():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return _unauthorized()
    return None


def require(permission: str) -> Callable:
    """View decorator: a logged-in user whose role has this permission, else 401/403."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return _unauthorized()
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)
        wrapped.permission = permission
        return wrapped
    return decorate


def record(action: str, target: str | None = None, **detail: Any) -> None:
    """Add an entry to the audit log for the current user and request."""
    user = current_user.name if current_user.is_authenticated else None
    audit.append(get_db(), action, user=user, target=target, detail=detail or None,
                 remote_addr=request.remote_addr)


def _safe_next(target: str | None) -> str:
    """Only a path on this box: never an absolute URL or a scheme-relative //host."""
    if not target:
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("dashboard.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    db = get_db()
    if not users.any_users(db):
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    limiter: _FailureLimiter = current_app.extensions["hookline_login_limiter"]
    status = 200
    if request.method == "POST":
        wait = limiter.retry_after(request.remote_addr or "?")
        if wait:
            form.form_errors.append(f"Too many failed logins from this address: try again in "
                                    f"{max(1, round(wait / 60))} min.")
            response = current_app.make_response((render_template("login.html", form=form), 429))
            response.headers["Retry-After"] = str(wait)
            return response
        if form.validate_on_submit():
            row, problem = users.check_login(db, form.name.data, form.password.data)
            if row is not None:
                session.clear()     # a fresh session: nothing from before the login carries over
                login_user(User(row))
                session.permanent = True
                record("login")
                return redirect(_safe_next(request.args.get("next")))
            limiter.failed(request.remote_addr or "?")
            audit.append(db, "login-failed", target=form.name.data[:64], remote_addr=request.remote_addr,
                         detail={"reason": problem})
            form.form_errors.append(problem.capitalize() + ".")
            status = 401
        else:
            status = 400
    return render_template("login.html", form=form), status


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        record("logout")
    logout_user()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """First start: no user exists yet, so the page asks for the first administrator."""
    db = get_db()
    if users.any_users(db):
        return redirect(url_for("auth.login"))
    form = SetupForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                row = users.create_user(db, form.name.data, "admin", form.password.data)
            except users.UserError as e:
                getattr(form, e.field, form.name).errors.append(e.message)
                status = 400
            else:
                session.clear()
                login_user(User(users.get_user(db, row["id"])))
                session.permanent = True
                record("user-add", row["name"], role="admin", first_run=True)
                flash(f"Welcome, {row['name']}: you are this box's administrator.")
                return redirect(url_for("dashboard.index"))
        else:
            status = 400
    return render_template("setup.html", form=form), status
