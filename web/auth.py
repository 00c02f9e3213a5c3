"""Who may do what: logins (Flask-Login sessions, API bearer tokens), roles, the first-run page,
and a rate limit on login attempts on top of the per-account lockout in appliance.store.users.

Sessions live on the server (appliance.store.sessions): the signed cookie carries only a random
key, so logging out, a password change, or disabling or removing a user ends them for good.
API tokens open /api/v1/ and nothing else; there a bearer token decides, whatever cookies come
with it.

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

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from appliance.store import audit, sessions, users

from .db import get_db
from .forms import LoginForm, SetupForm

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "listen": ("listener", "manager", "admin"),
    "download": ("manager", "admin"),
    "manage_calls": ("manager", "admin"),     # delete, hold, notes
    "erase": ("manager", "admin"),            # erasure by number
    "evidence": ("manager", "admin"),         # the access package by number (recordings, events, audit)
    "pause": ("manager", "admin"),            # pause and resume the recording of a call in progress
    "export": ("manager", "admin"),           # start and cancel an export to the USB stick
    "audit": ("manager", "admin"),
    "settings": ("admin",),
    "users": ("admin",),
    "technical": ("admin",),                  # device paths, hashes, raw events on a call's page
}
PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.setup"}
API_PREFIX = "/api/v1/"

# Failed logins from one address: at most this many in the window, then 429 until it slides.
IP_MAX_FAILURES = 10
IP_WINDOW_S = 600.0


class User(UserMixin):
    def __init__(self, row: dict[str, Any], session_key: str | None = None) -> None:
        self.row = row
        self.id = row["id"]
        self.name = row["name"]
        self.role = row["role"]
        self.session_key = session_key      # None: this request came with an API token

    def get_id(self) -> str | None:
        # What the signed cookie carries: the server-side session's key, never the user's id.
        return self.session_key

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


class _FailureLimiter:
    """Sliding-window count of failed logins per client address (in memory: a restart forgets).

    A login attempt takes its place in the window before the password is checked (begin), and
    gives it back if the password was right (succeeded): concurrent attempts can never check
    more passwords than the limit allows."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def begin(self, key: str) -> tuple[int, float | None]:
        """(0, ticket) when this address may try now: the attempt counts as a failure until
        succeeded(key, ticket); else (seconds to wait, None)."""
        now = time.monotonic()
        with self._lock:
            q = self._recent(key, now)
            if len(q) >= self.limit:
                return int(q[0] + self.window_s - now) + 1, None
            q.append(now)
            if len(self._failures) > 10000:    # many addresses: forget the quiet ones
                self._failures = {k: v for k, v in self._failures.items() if v}
            return 0, now

    def succeeded(self, key: str, ticket: float) -> None:
        with self._lock:
            q = self._failures.get(key)
            if q is not None and ticket in q:
                q.remove(ticket)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    # Flask-Login's "strong" protection would empty any cookie session made on another address
    # or browser before an API token is even looked at (the API then refused valid tokens).
    # Sessions are checked on the server instead: random, revocable, with an absolute lifetime.
    login_manager.session_protection = None
    app.before_request(_require_login)   # first: a stranger is sent to the login page, not told about CSRF
    app.before_request(_refuse_foreign_writes)
    csrf.init_app(app)
    app.extensions["hookline_login_limiter"] = _FailureLimiter(IP_MAX_FAILURES, IP_WINDOW_S)
    app.context_processor(lambda: {"can": _can, "current_user": current_user})


def _can(permission: str) -> bool:
    return current_user.is_authenticated and current_user.can(permission)


def _api_token(req) -> str | None:
    """The bearer token of an API request (tokens are for /api/v1/ only), or None."""
    if not req.path.startswith(API_PREFIX):
        return None
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@login_manager.user_loader
def _load_user(session_key: str) -> User | None:
    if _api_token(request) is not None:
        return None                 # the token decides (next), not whatever cookie came along
    db = get_db()
    user_id = sessions.user_id_for(db, session_key)
    row = users.get_user(db, user_id) if user_id is not None else None
    return User(row, session_key) if row is not None else None


@login_manager.request_loader
def _load_token_user(req) -> User | None:
    token = _api_token(req)
    if token is None:
        return None
    row = users.user_for_token(get_db(), token)
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


FOREIGN_SITES = ("cross-site", "same-site")
RECORDING_ENDPOINTS = ("calls.audio", "calls.download", "api.audio")   # audited when they answer


def from_own_pages() -> bool:
    """False when the browser says another site started this request (Fetch Metadata's
    Sec-Fetch-Site). Browsers send it; scripts using tokens, curl and old browsers do not, and
    a missing header counts as the box's own ("none" is a typed address or a bookmark)."""
    return bool(g.get("via_token")) or request.headers.get("Sec-Fetch-Site", "").lower() not in FOREIGN_SITES


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _refuse_foreign_writes():
    """No other site may make a logged-in browser change anything here (the CSRF token already
    stops it; this stops it before any work is done, whatever a future form forgets). And the
    pages take forms only: Flask-WTF would read a JSON body as the form, with values of types
    no form field expects."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if not from_own_pages():
        abort(403, "this request came from another site")
    if not request.path.startswith(API_PREFIX) and request.mimetype and request.mimetype not in FORM_TYPES:
        abort(415)
    return None


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


def session_origin() -> dict[str, Any]:
    """Where a new session comes from, as the Account page lists it."""
    return {"remote_addr": request.remote_addr, "user_agent": request.headers.get("User-Agent")}


def begin_session(row: dict[str, Any], key: str | None = None) -> None:
    """Log this user in on this browser: a fresh cookie (nothing from before the login carries
    over) naming a server-side session (key: one users.check_login started, else a new one)."""
    if key is None:
        key = sessions.start(get_db(), row["id"], **session_origin())
    session.clear()
    login_user(User(row, key))
    session.permanent = True


def record(action: str, target: str | None = None, **detail: Any) -> None:
    """Add an entry to the audit log for the current user and request."""
    user = current_user.name if current_user.is_authenticated else None
    audit.append(get_db(), action, user=user, target=target, detail=detail or None,
                 remote_addr=request.remote_addr)


def _safe_next(target: str | None) -> str:
    """Only a path on this box: never an absolute URL, a scheme-relative //host, or anything
    with control characters (a CR LF would split the Location header)."""
    home = url_for("dashboard.index")
    if not target or len(target) > 2000 or not target.isprintable() or not target.isascii():
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    # A link to a recording that came by way of the login page would play or download it as a
    # same-origin request (from_own_pages): after a login it opens the call's page instead.
    try:
        endpoint, args = current_app.url_map.bind("localhost").match(parts.path, method="GET")
    except HTTPException:
        return target
    if endpoint in RECORDING_ENDPOINTS:
        return url_for("calls.detail", call_id=args["call_id"])
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    db = get_db()
    if not users.any_users(db):
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if request.method != "POST":
        return render_template("login.html", form=form)
    limiter: _FailureLimiter = current_app.extensions["hookline_login_limiter"]
    address = request.remote_addr or "?"
    wait, ticket = limiter.begin(address)
    if wait:
        form.form_errors.append(f"Too many failed logins from this address: try again in "
                                f"{max(1, round(wait / 60))} min.")
        response = current_app.make_response((render_template("login.html", form=form), 429))
        response.headers["Retry-After"] = str(wait)
        return response
    if not form.validate_on_submit():
        limiter.succeeded(address, ticket)      # no password was checked: the attempt does not count
        return render_template("login.html", form=form), 400
    row, problem = users.check_login(db, form.name.data, form.password.data, start_session=session_origin())
    if row is not None:
        limiter.succeeded(address, ticket)
        begin_session(row, row["session_key"])
        record("login")
        return redirect(_safe_next(request.args.get("next")))
    audit.append(db, "login-failed", target=form.name.data[:64], remote_addr=request.remote_addr,
                 detail={"reason": problem})
    form.form_errors.append(problem.capitalize() + ".")
    return render_template("login.html", form=form), 401


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        record("logout")
        if current_user.session_key:
            sessions.end(get_db(), current_user.session_key)     # a copy of the cookie is worth nothing now
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
                begin_session(row)
                record("user-add", row["name"], role="admin", first_run=True)
                flash(f"Welcome, {row['name']}: you are this box's administrator.")
                return redirect(url_for("dashboard.index"))
        else:
            status = 400
    return render_template("setup.html", form=form), status
