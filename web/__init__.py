"""The web page on the LAN (Flask application factory). This first version lists the calls
with a player each; the full UI (logins, search, settings) comes with its own issue."""
from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask, Response

# Every response, the page as well as audio, assets and errors: only this box's own assets,
# never inside a frame, no MIME sniffing, no referrer to other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(data_dir: str | Path, status_file: str | Path | None = None) -> Flask:
    app = Flask(__name__)
    app.config["DATA_DIR"] = Path(data_dir).resolve()
    # The daemon's live status: the config's status_file on the box; `hookline simulate` and
    # `hookline demo` have it in the data folder.
    app.config["STATUS_FILE"] = Path(status_file) if status_file else app.config["DATA_DIR"] / "run" / "status.json"
    from . import db
    db.init_app(app)
    from .calls import bp
    app.register_blueprint(bp)
    app.after_request(_security_headers)
    return app


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def serve(data_dir: str | Path, host: str, port: int, status_file: str | Path | None = None) -> None:
    from waitress import serve as waitress_serve
    waitress_serve(create_app(data_dir, status_file), host=host, port=port, threads=4)


class _Server:
    """waitress running in a background thread; close() stops it from any other thread.

    The socket loop itself closes the sockets once asked to stop: closing them from another
    thread while the loop is inside select() makes it fail with EBADF.
    """

    def __init__(self, server) -> None:
        self._server = server
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
        self._stopping.set()
        self._server.trigger.pull_trigger()  # wake the loop out of select() now
        self._thread.join(timeout)


def serve_in_thread(data_dir: str | Path, host: str, port: int) -> _Server:
    """Start waitress in a background thread (the demo runs it beside the daemon)."""
    from waitress.server import create_server
    return _Server(create_server(create_app(data_dir), host=host, port=port, threads=4))
