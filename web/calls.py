"""The calls: search and list (keyset pages), one call's page (player, waveform, events, note,
hold, delete), its audio (HTTP Range, never anything outside DATA/recordings) and its peaks."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from appliance.store import audit, catalog, peaks as peaksmod, removal, search, times
from appliance.store.kinds import NOT_KEPT

from . import call_page
from .auth import from_own_pages, record, require
from .db import get_box, get_db, get_zone
from .forms import ActionForm, HoldForm, NoteForm
from .pause import live_pause

log = logging.getLogger("hookline.web")

bp = Blueprint("calls", __name__)

ZIP_CAP = 1000                 # calls in one ZIP download
LISTEN_AUDIT_GAP_S = 30 * 60   # one "listen" entry per person and call per half hour, not one per seek


# -- queries -------------------------------------------------------------------------------------
def call_or_404(call_id: str) -> dict[str, Any]:
    if len(call_id) > 32 or not call_id.isalnum():
        abort(404)
    row = catalog.get_call(get_db(), call_id)
    if row is None:
        abort(404)
    return row


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


def parts_of(row: dict[str, Any]) -> tuple[dict | None, dict | None]:
    """The previous and next part of a call split by max_call_s or an outage."""
    db = get_db()
    previous = catalog.get_call(db, row["previous_id"]) if row.get("previous_id") else None
    return previous, catalog.next_part(db, row["id"])


# -- the search ----------------------------------------------------------------------------------
def search_args() -> dict[str, str]:
    """The search's own keys of the query string: they are shown back and go into the links
    (url_for), where a key such as `endpoint` or `_method` would mean something else."""
    return {k: v for k, v in request.args.items() if k in search.QUERY_KEYS}


def carried(args: dict[str, str]) -> dict[str, str]:
    """What a link to a call keeps of the search it came from (for its previous and next call)."""
    return {k: v for k, v in args.items() if v and k not in ("after", "limit")}


def read_search(args: dict[str, str]) -> search.CallQuery:
    """The search in the box's zone and phone region; QueryError for a bad value."""
    return search.parse_query(args, get_zone(), get_box().phone_region)


def neighbours_of(call_id: str) -> dict[str, Any]:
    """The calls before and after this one in the list the person came from (the search in the
    query string; time order when there is none, or it cannot be read)."""
    args = carried(search_args())
    try:
        query = read_search(args)
    except search.QueryError:
        query, args = search.CallQuery(), {}
    before, after = search.neighbours(get_db(), query, call_id)
    return {"prev": before, "next": after, "args": args}


# -- pages ---------------------------------------------------------------------------------------
@bp.get("/calls")
@require("listen")
def index():
    db = get_db()
    args = search_args()
    page: dict[str, Any] = {"args": args, "carry": carried(args), "lines": catalog.line_ids(db),
                            "statuses": search.STATUSES, "error": None, "calls": [], "query": None,
                            "next_cursor": None, "count": None, "reasons": {}, "protected": {}, "zip_cap": ZIP_CAP}
    try:
        query = read_search(args)
    except search.QueryError as e:
        return render_template("calls.html", **page | {"error": e}), 400
    calls, next_cursor = search.search(db, query)
    return render_template("calls.html", **page | {
        "calls": calls, "query": query, "next_cursor": next_cursor,
        "count": search.count(db, query) if not query.after else None, "filtered": search.has_filters(query),
        "reasons": call_page.not_kept_reasons(calls), "protected": call_page.protected(calls)})


@bp.get("/calls/<call_id>")
@require("listen")
def detail(call_id: str):
    row = call_or_404(call_id)
    previous, following = parts_of(row)
    return render_template("call.html", **call_page.context(row, previous, following, current_user.can("technical")),
                           around=neighbours_of(call_id),
                           note_form=NoteForm(note=row.get("note") or ""), hold_form=HoldForm(),
                           live_pause=live_pause(row) if current_user.can("pause") else None,
                           has_audio=recording_file(current_app.config["DATA_DIR"], row.get("path")) is not None)


@bp.get("/calls/<call_id>/peaks")
@require("listen")
def peaks(call_id: str):
    call_or_404(call_id)
    data = peaksmod.load_peaks(get_db(), call_id)
    if data is None:
        abort(404, "no waveform for this call")
    response = jsonify(data)
    response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response


def serve_recording(call_id: str, download: bool) -> Response:
    """A call's MP3 (pages and API alike): Range support, audited when audio is actually sent."""
    row = call_or_404(call_id)
    if not from_own_pages():
        # A link on another site would play or download the call in this person's name (their
        # cookie goes along with a top-level navigation): start from the call's own page instead.
        if request.path.startswith("/api/"):
            abort(403, "open recordings from this box's pages, or use an API token")
        flash("Recordings play and download from the box's own pages: here is the call.", "error")
        return redirect(url_for("calls.detail", call_id=call_id), 303)
    data_dir: Path = current_app.config["DATA_DIR"]
    path = recording_file(data_dir, row.get("path"))
    if path is None:
        if row.get("path"):
            log.warning("call %s: refusing to serve %r (not a file inside %s/recordings)",
                        call_id, row["path"], data_dir)
        abort(404, "this call has no recording" if row.get("status") in NOT_KEPT else None)
    response = send_file(path, mimetype="audio/mpeg", conditional=True, etag=True,
                         as_attachment=download, download_name=path.name, max_age=0)
    response.cache_control.private = True  # a recording is nobody else's business
    # Audited whenever audio is actually sent (not a HEAD, a 304 or a 416), judged by the answer
    # rather than by how the Range header was spelled: `bytes=1-`, `BYTES=00-` or a stale
    # If-Range send the call as surely as a plain GET does.
    if request.method == "GET" and response.status_code in (200, 206):
        if download:
            record("download", call_id)     # every one: a copy left the box
        else:
            _record_listen(call_id)
    return response


def _record_listen(call_id: str) -> None:
    """One entry per person and call per half hour: a player's seeks are one listen, not hundreds."""
    last = audit.entries(get_db(), user=current_user.name, action="listen", target=call_id, limit=1)
    if last:
        when = times.seconds(last[0]["at"])
        if 0 <= time.time() - when < LISTEN_AUDIT_GAP_S:     # an entry "from the future": the clock jumped back
            return
    record("listen", call_id)


@bp.get("/calls/<call_id>/audio")
@require("listen")
def audio(call_id: str) -> Response:
    """The call's MP3 for the player: Range requests give 206 (seeking) or 416."""
    if request.args.get("download"):     # the old link form: downloading needs its own permission
        return redirect(url_for("calls.download", call_id=call_id))
    return serve_recording(call_id, download=False)


@bp.get("/calls/<call_id>/download")
@require("download")
def download(call_id: str) -> Response:
    return serve_recording(call_id, download=True)


@bp.route("/calls/<call_id>/delete", methods=["GET", "POST"])
@require("manage_calls")
def delete(call_id: str):
    row = call_or_404(call_id)
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            removal.delete_call(get_db(), current_app.config["DATA_DIR"], call_id,
                                reason=f"deleted by {current_user.name}", by=current_user.name)
        except removal.RemovalError as e:
            flash(str(e), "error")
            return redirect(url_for("calls.detail", call_id=call_id), 303)
        record("delete", call_id, started_at=row["started_at"], line=row["line"], sha256=row.get("sha256"))
        flash("The recording was deleted. The catalog keeps a line saying who deleted it and when.")
        return redirect(url_for("calls.detail", call_id=call_id), 303)
    if request.method == "POST":
        abort(400)
    return render_template("delete.html", call=catalog.public_call(row), form=form)


@bp.post("/calls/<call_id>/hold")
@require("manage_calls")
def hold(call_id: str):
    call_or_404(call_id)
    form = HoldForm()
    if not form.validate_on_submit() or form.held.data not in ("1", "0"):
        abort(400)
    held = form.held.data == "1"
    try:
        removal.set_hold(get_db(), call_id, held)
    except removal.RemovalError as e:
        flash(str(e), "error")
    else:
        record("hold" if held else "release", call_id)
        flash("Kept: retention and the disk guard will not delete this call." if held else
              "Released: this call follows the retention settings again.")
    return redirect(url_for("calls.detail", call_id=call_id), 303)


@bp.post("/calls/<call_id>/note")
@require("manage_calls")
def note(call_id: str):
    call_or_404(call_id)
    form = NoteForm()
    if not form.validate_on_submit():
        abort(400, "; ".join(e for errors in form.errors.values() for e in errors) or None)
    try:
        removal.set_note(get_db(), call_id, form.note.data)
    except removal.RemovalError as e:
        flash(str(e), "error")
    else:
        record("note", call_id, length=len((form.note.data or "").strip()))
        flash("Note saved.")
    return redirect(url_for("calls.detail", call_id=call_id), 303)
