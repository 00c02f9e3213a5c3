"""The web UI on the LAN (Flask application factory, blueprints, served by waitress).

Nothing is reachable without a login except the login page, the first-run page (only while
the box has no user) and the static assets. Pages use session cookies (Flask-Login) with CSRF
tokens on every form (Flask-WTF); the JSON API under /api/v1/ also takes `Authorization:
Bearer` tokens. Every response carries a strict Content-Security-Policy: the box serves all of
its own scripts and styles and none is inline.
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.routing import IntegerConverter, ValidationError

from appliance import config as configmod
from appliance.store import audit_seal, db as dbmod, sessions

# Every response, pages as well as audio, assets and errors: only this box's own assets, never
# inside a frame, no MIME sniffing, no referrer to other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
MAX_REQUEST_BYTES = 64 * 1024      # forms and JSON are small
UPLOAD_MAX_BYTES = 10 * 1024 * 1024     # the announcement upload, the only one (web.announcement_page)
MAX_BODY_BYTES = UPLOAD_MAX_BYTES + MAX_REQUEST_BYTES   # what waitress takes in: an upload and its form
SESSION_LIFETIME = timedelta(seconds=sessions.LIFETIME_S)   # the cookie; the server ends it too
SECRET_FILE = "web-secret.key"


class _SessionInterface(SecureCookieSessionInterface):
    """Secure-flagged cookies whenever the page was reached over HTTPS (through a reverse proxy
    only with `hookline web --trust-proxy`); plain HTTP on the LAN still works."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


class _Request(Request):
    """Bodies are limited to a form's size, except on the pages that take an upload (whose
    multipart parser also needs room for a few of its 64 KB reads at once)."""

    @property
    def _takes_upload(self) -> bool:
        from .announcement_page import UPLOADS
        return self.endpoint in UPLOADS

    @property
    def max_content_length(self) -> int | None:
        return UPLOAD_MAX_BYTES if self._takes_upload else super().max_content_length

    @property
    def max_form_memory_size(self) -> int | None:
        return 4 * MAX_REQUEST_BYTES if self._takes_upload else super().max_form_memory_size


class RowIdConverter(IntegerConverter):
    """A catalog row id in a URL (`<rowid:user_id>`), or a line's number: 1 to 2**63 - 1, SQLite's
    integer range, so 25 digits are a 404 like any unknown id rather than an overflow in the query."""

    regex = r"[0-9]+"     # not \d: werkzeug's would take other scripts' digits (٣ for 3)

    def __init__(self, url_map) -> None:
        super().__init__(url_map, min=1, max=2 ** 63 - 1)

    def to_python(self, value: str) -> int:
        if len(value) > 19:     # Python refuses to read an int of thousands of digits: not ours anyway
            raise ValidationError()
        return super().to_python(value)


def _secret_key(data_dir: Path) -> bytes:
    """A per-box random key in DATA (0600), made on first start: sessions survive restarts."""
    path = data_dir / SECRET_FILE
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    dbmod.private_folder(data_dir)      # a new data folder is private (0750), as the catalog makes it
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    os.replace(tmp, path)
    return key


def create_app(data_dir: str | Path, status_file: str | Path | None = None, *,
               config_file: str | Path | None = None, testing: bool = False) -> Flask:
    app = Flask(__name__)
    data_dir = Path(data_dir).resolve()
    app.config.update(
        DATA_DIR=data_dir,
        # The daemon's live status: the config's status_file on the box; `hookline simulate`
        # and `hookline demo` have it in the data folder.
        STATUS_FILE=Path(status_file) if status_file else data_dir / "run" / "status.json",
        CONFIG_FILE=Path(config_file) if config_file else None,
        # Where the box mounts USB sticks (the dashboard shows them): the config's [export] mount_root.
        MOUNT_ROOT=(configmod.load(config_file).export if config_file else configmod.ExportConfig()).mount_root,
        # The audit log's sealed head: the config's audit_seal_file, else in the data folder (as the CLI).
        AUDIT_SEAL_FILE=audit_seal.seal_file(data_dir, config_file),
        SECRET_KEY=_secret_key(data_dir),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_REQUEST_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="hookline_session",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,         # tied to the session instead, which expires
        WTF_CSRF_SSL_STRICT=False,        # the LAN box is usually plain HTTP
        TESTING=testing,
    )
    app.session_interface = _SessionInterface()
    app.request_class = _Request
    app.url_map.converters["rowid"] = RowIdConverter
    from . import auth, db, errors
    db.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    from .admin import bp as admin_bp
    from .announcement_page import bp as announcement_bp
    from .api import bp as api_bp
    from .api_export import bp as api_export_bp
    from .calls import bp as calls_bp
    from .calls_zip import bp as calls_zip_bp
    from .dashboard import bp as dashboard_bp
    from .dnr_page import bp as dnr_bp
    from .erasure import bp as erasure_bp
    from .evidence_page import bp as evidence_bp
    from .export_page import bp as export_bp
    from .pause import bp as pause_bp
    from .settings_page import bp as settings_bp
    for bp in (auth.bp, dashboard_bp, calls_bp, calls_zip_bp, erasure_bp, settings_bp, announcement_bp, dnr_bp,
               admin_bp, api_bp, pause_bp, evidence_bp, export_bp, api_export_bp):
        app.register_blueprint(bp)
    from . import formatting
    formatting.init_app(app)
    app.after_request(_security_headers)
    return app


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        # Pages and audio are per-user: never stored by a shared cache.
        response.headers.setdefault("Cache-Control", "private, no-store" if response.mimetype == "text/html"
                                    else "private")
    return response


# Serving the app with waitress (limits and timeouts for the LAN): web/server.py.
from .server import serve, serve_in_thread  # noqa: E402, F401  (after create_app, which it serves)
