"""The call list (newest first, with a player for each kept call) and the route that serves a
call's MP3 with HTTP Range support, never anything outside the recordings folder."""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from flask import Blueprint, Response, abort, current_app, render_template, request, send_file

from appliance.store import catalog

from .db import get_db

log = logging.getLogger("hookline.web")

bp = Blueprint("calls", __name__)

PAGE_SIZE = 200          # calls shown on the page, newest first
REFRESH_S = 10           # the page reloads itself this often (web/static/refresh.js)
STATUS_STALE_S = 10.0    # the daemon rewrites its status file every second; older means it stopped


# -- queries -------------------------------------------------------------------------------------
def recent_calls(db: sqlite_utils.Database, line: int | None = None,
                 limit: int = PAGE_SIZE) -> tuple[list[dict[str, Any]], int]:
    """The newest `limit` calls (optionally of one line), newest first, and how many there are."""
    where, params = "", []
    if line is not None:
        where, params = " WHERE line = ?", [line]
    total = db.execute(f"SELECT count(*) FROM calls{where}", params).fetchone()[0]
    # Ties (a re-run scenario, parts of one call) go newest-inserted first: rowid is insertion order.
    rows = db.query(f"SELECT * FROM calls{where} ORDER BY started_at DESC, part DESC, rowid DESC LIMIT ?",
                    [*params, limit])
    return [catalog.public_call(r) for r in rows], total


def discard_reasons(db: sqlite_utils.Database, call_ids: list[str]) -> dict[str, str]:
    """call id -> why it was not kept, from the 'discard' events of those calls."""
    if not call_ids:
        return {}
    marks = ",".join("?" * len(call_ids))
    reasons: dict[str, str] = {}
    for row in db.query(f"SELECT call_id, detail FROM call_events WHERE kind = 'discard' "
                        f"AND call_id IN ({marks}) ORDER BY id", call_ids):
        try:
            reason = json.loads(row["detail"]).get("reason")
        except (ValueError, AttributeError):
            reason = None
        reasons[row["call_id"]] = str(reason) if reason else "no reason recorded"
    return reasons


def known_lines(db: sqlite_utils.Database, status: dict[str, Any] | None) -> list[int]:
    lines = {r[0] for r in db.execute("SELECT DISTINCT line FROM calls")}
    if status:
        lines.update(s["line"] for s in status["lines"] if isinstance(s.get("line"), int))
    return sorted(lines)


def read_status(path: Path) -> dict[str, Any] | None:
    """The daemon's live status file, or None when there is none (or it cannot be read)."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("cannot read the status file %s: %s", path, e)
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("lines"), list):
        return None
    updated = doc.get("updated_at")
    age = time.time() - updated if isinstance(updated, (int, float)) else None
    return {"lines": [ln for ln in doc["lines"] if isinstance(ln, dict)],
            "updated_at": catalog.iso(updated) if age is not None else None,
            "stale": age is None or age > STATUS_STALE_S}


# -- the page ------------------------------------------------------------------------------------
@bp.get("/")
def index() -> str:
    db = get_db()
    line = request.args.get("line", type=int)
    calls, total = recent_calls(db, line)
    reasons = discard_reasons(db, [c["id"] for c in calls if c["status"] == "discarded"])
    status = read_status(current_app.config["STATUS_FILE"])
    return render_template("calls.html", calls=calls, total=total, reasons=reasons, line=line,
                           lines=known_lines(db, status), status=status, page_size=PAGE_SIZE,
                           refresh_s=REFRESH_S)


@bp.app_template_filter("utc")
def format_utc(iso_text: str | None) -> str:
    """'2026-03-15T14:12:00.500Z' -> '2026-03-15 14:12:00' (the page says it is UTC)."""
    if not iso_text:
        return "—"
    try:
        return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso_text


@bp.app_template_filter("duration")
def format_duration(seconds: float | None) -> str:
    """65.4 -> '1:05', 3725 -> '1:02:05'."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@bp.app_template_filter("size")
def format_size(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


@bp.app_template_filter("dbfs")
def format_dbfs(level: float | None) -> str:
    return "—" if level is None else f"{level:.0f} dBFS"


# -- the audio -----------------------------------------------------------------------------------
def recording_file(data_dir: Path, rel_path: str | None) -> Path | None:
    """The file a catalog path names, if it is a file inside DATA/recordings; else None.

    Symlinks and '..' are resolved first, so neither a tampered catalog row nor a link in the
    recordings folder can make the web page serve anything else.
    """
    if not rel_path:
        return None
    recordings = (data_dir / "recordings").resolve()
    try:
        path = (data_dir / rel_path).resolve()
    except (OSError, ValueError):  # e.g. a NUL byte, or a symlink loop
        return None
    if not path.is_relative_to(recordings) or not path.is_file():
        return None
    return path


@bp.get("/calls/<call_id>/audio")
def audio(call_id: str) -> Response:
    """The call's MP3: Range requests give 206/416; ?download=1 asks the browser to save it."""
    row = catalog.get_call(get_db(), call_id)
    if row is None:
        abort(404)
    data_dir: Path = current_app.config["DATA_DIR"]
    path = recording_file(data_dir, row.get("path"))
    if path is None:
        if row.get("path"):
            log.warning("call %s: refusing to serve %r (not a file inside %s/recordings)",
                        call_id, row["path"], data_dir)
        abort(404)
    download = request.args.get("download", "").lower() in ("1", "true", "yes")
    response = send_file(path, mimetype="audio/mpeg", conditional=True, etag=True,
                         as_attachment=download, download_name=path.name)
    response.cache_control.private = True  # a recording is nobody else's business
    return response
