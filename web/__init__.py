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
import threading
from datetime import timedelta
from pathlib import Path

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface

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
MAX_REQUEST_BYTES = 64 * 1024      # forms and JSON are small; nothing is uploaded
SESSION_LIFETIME = timedelta(hours=12)
SECRET_FILE = "web-secret.key"


class _SessionInterface(SecureCookieSessionInterface):
    """Secure-flagged cookies whenever the page was reached over HTTPS (through a reverse proxy
    only with `hookline web --trust-proxy`); plain HTTP on the LAN still works."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _secret_key(data_dir: Path) -> bytes:
    """A per-box random key in DATA (0600), made on first start: sessions survive restarts."""
    path = data_dir / SECRET_FILE
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
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
    from . import auth, db, errors
    db.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .calls import bp as calls_bp
    from .dashboard import bp as dashboard_bp
    from .settings_page import bp as settings_bp
    for bp in (auth.bp, dashboard_bp, calls_bp, settings_bp, admin_bp, api_bp):
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


def _waitress_options(trust_proxy: bool) -> dict:
    options = {"threads": 4, "max_request_body_size": MAX_REQUEST_BYTES, "ident": "Hookline"}
    if trust_proxy:
        # A reverse proxy on this box (Caddy, nginx doing HTTPS): waitress takes the client's
        # address and scheme from its X-Forwarded-For/-Proto, so the login rate limit and the
        # audit log see real addresses and cookies get Secure. From anyone else those headers
        # are dropped (waitress's default).
        options.update(trusted_proxy="127.0.0.1", trusted_proxy_count=1,
                       trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"})
    return options


def serve(data_dir: str | Path, host: str, port: int, status_file: str | Path | None = None,
          config_file: str | Path | None = None, trust_proxy: bool = False) -> None:
    from waitress import serve as waitress_serve
    waitress_serve(create_app(data_dir, status_file, config_file=config_file), host=host, port=port,
                   **_waitress_options(trust_proxy))


class _Server:
    """waitress running in a background thread; close() stops it from any other thread.

    The socket loop itself closes the sockets once asked to stop: closing them from another
    thread while the loop is inside select() makes it fail with EBADF.
    """

    def __init__(self, server) -> None:
        self._server = server
        self.port = server.effective_port
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from waitress import wasyncore
        server = self._server
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map,
                               use_poll=server.adj.asyncore_use_poll, count=1)
        finally:
            server.task_dispatcher.shutdown()
            wasyncore.close_all(server._map, ignore_all=True)

    def close(self, timeout: float = 10.0) -> None:
        """Stop serving: the loop ends, waitress's workers finish their current task (it waits up
        to 5 s), and every socket is closed; returns when the server thread has ended."""
        # The flag is set by the loop thread itself when the trigger wakes it: setting it from
        # here first could let the loop close the trigger before we pull it.
        try:
            self._server.trigger.pull_trigger(self._stopping.set)
        except OSError:   # already closed: the loop has ended
            self._stopping.set()
        self._thread.join(timeout)


def serve_in_thread(data_dir: str | Path, host: str, port: int, status_file: str | Path | None = None,
                    trust_proxy: bool = False) -> _Server:
    """Start waitress in a background thread (the demo and the tests run it beside the daemon)."""
    from waitress.server import create_server
    return _Server(create_server(create_app(data_dir, status_file), host=host, port=port,
                                 **_waitress_options(trust_proxy)))
