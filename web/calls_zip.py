"""Several calls as one ZIP: the ones ticked on the calls page, or every call a search finds (up
to ZIP_CAP). The ZIP is streamed as it is made: each recording is read a chunk at a time and
stored as it is (MP3 does not compress), so neither the set nor one file is ever held in memory
or written to disk. Only call ids come from the request; the files are the catalog's, inside
DATA/recordings. Each call is audited as a download once its bytes have gone out."""
from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, stream_with_context, url_for

from appliance.store import catalog, search, times

from .auth import record, require
from .calls import ZIP_CAP, carried, read_search, recording_file
from .db import get_db, get_zone
from .forms import ActionForm

log = logging.getLogger("hookline.web")

bp = Blueprint("calls_zip", __name__)

CHUNK = 64 * 1024
ZIP_EPOCH = datetime(1980, 1, 1)     # the earliest time a ZIP can say


class Pipe(io.RawIOBase):
    """A write-only stream whose bytes are taken out as soon as zipfile has written them. It
    cannot seek, so zipfile writes each member's sizes and CRC after its data."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def stream_zip(members: Iterable[tuple[dict[str, Any], Path]], zone: tzinfo,
               sent: Callable[[dict[str, Any]], None] = lambda row: None) -> Iterator[bytes]:
    """The ZIP of these (catalog row, file) pairs, in pieces of about CHUNK bytes, each member
    dated when its call started (in zone: ZIP times have none); sent(row) is called once a
    member has been written whole. A file gone meanwhile (retention) is left out."""
    pipe = Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_STORED) as archive:
        for row, path in members:
            try:
                source = path.open("rb")
            except OSError as e:
                log.warning("call %s: %s left out of the ZIP: %s", row["id"], path.name, e)
                continue
            with source:
                started = max(times.parse(row["started_at"]).astimezone(zone).replace(tzinfo=None), ZIP_EPOCH)
                info = zipfile.ZipInfo(path.name, started.timetuple()[:6])
                with archive.open(info, "w") as member:
                    while chunk := source.read(CHUNK):
                        member.write(chunk)
                        yield pipe.take()
            if data := pipe.take():
                yield data
            sent(row)
    if data := pipe.take():     # the central directory
        yield data


def _chosen_rows() -> list[dict[str, Any]] | str:
    """The catalog rows the form asks for, in the list's order; or what to tell the person."""
    if request.form.get("what") == "all":
        args = {k: v for k, v in request.form.items() if k in search.QUERY_KEYS}
        try:
            query = read_search(carried(args))
        except search.QueryError as e:
            return e.message
        rows, more = search.every(get_db(), query, ZIP_CAP)
        if more:
            return (f"This search finds more than {ZIP_CAP:,} calls, and one ZIP holds at most {ZIP_CAP:,}: "
                    "narrow it (for example by date) and download again.")
        return rows
    if request.form.get("what") != "selected":
        abort(400)
    ids = list(dict.fromkeys(request.form.getlist("id")))
    if not ids:
        return "Tick the calls to download first."
    if len(ids) > ZIP_CAP:
        return f"One ZIP holds at most {ZIP_CAP:,} calls: tick fewer."
    if not all(len(i) <= 32 and i.isascii() and i.isalnum() for i in ids):
        abort(400)
    return catalog.get_calls(get_db(), ids)


@bp.post("/calls/download.zip")
@require("download")
def download():
    if not ActionForm().validate_on_submit():
        abort(400)
    back = url_for("calls.index", **carried({k: v for k, v in request.form.items() if k in search.QUERY_KEYS}))
    rows = _chosen_rows()
    if isinstance(rows, str):
        flash(rows, "error")
        return redirect(back, 303)
    data_dir: Path = current_app.config["DATA_DIR"]
    members = [(row, path) for row in rows if (path := recording_file(data_dir, row.get("path")))]
    if not members:
        flash("None of these calls has a recording to download.", "error")
        return redirect(back, 303)
    zone = get_zone()
    stamp = datetime.now(zone).strftime("%Y-%m-%d-%H%M%S")
    zipped = stream_zip(members, zone, sent=lambda row: record("download", row["id"], via="zip"))
    response = Response(stream_with_context(zipped), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="hookline-calls-{stamp}.zip"'
    response.cache_control.private = True
    return response
