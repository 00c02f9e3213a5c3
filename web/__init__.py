"""The web page on the LAN (Flask application factory). This first version lists the calls
with a player each; the full UI (logins, search, settings) comes with its own issue."""
from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask


def create_app(data_dir: str | Path) -> Flask:
    app = Flask(__name__)
    app.config["DATA_DIR"] = Path(data_dir).resolve()
    from .calls import bp
    app.register_blueprint(bp)
    return app


def serve(data_dir: str | Path, host: str, port: int) -> None:
    from waitress import serve as waitress_serve
    waitress_serve(create_app(data_dir), host=host, port=port, threads=4)


class _Server:
    def __init__(self, server) -> None:
        self._server = server

    def close(self) -> None:
        self._server.close()


def serve_in_thread(data_dir: str | Path, host: str, port: int) -> _Server:
    """Start waitress in a background thread (the demo runs it beside the daemon)."""
    from waitress.server import create_server
    server = create_server(create_app(data_dir), host=host, port=port, threads=4)
    threading.Thread(target=server.run, name="web", daemon=True).start()
    return _Server(server)
