"""The access package by number on the web (managers and admins): enter a number, see how many
calls have it (and the first few), and download the package (appliance/export/evidence_package.py)
as a ZIP holding one folder, streamed as it is made (calls_zip's pipe), never written to disk.

Each recording is hashed before the ZIP starts: one that no longer matches its catalog SHA-256 is
left out, and its call's JSON and package.json say why. The number travels in POST bodies only,
never in a URL, and the audit entry ("evidence-export") keeps its fingerprint, not the number."""
from __future__ import annotations

import hashlib
import logging
import zipfile
from collections.abc import Iterator
from datetime import datetime

from flask import Blueprint, Response, abort, current_app, render_template, stream_with_context
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from appliance.export import evidence, evidence_package as package
from appliance.export.job import audit_head
from appliance.store import by_number, times

from .auth import record, require
from .calls import recording_file
from .calls_zip import CHUNK, ZIP_EPOCH, Pipe  # the streaming ZIP's write-only pipe
from .db import get_box, get_db, get_zone
from .erasure import NUMBER_MAX

log = logging.getLogger("hookline.web")

bp = Blueprint("evidence", __name__)

SHOWN = 5        # calls listed on the page before the download


class EvidenceForm(FlaskForm):
    number = StringField("Phone number", validators=[DataRequired(), Length(max=NUMBER_MAX)])


def _asked(form: EvidenceForm):
    """(the plan for the number the form sends, None) or (None, the page that says what is wrong)."""
    if not form.validate_on_submit():
        return None, _refused(form)
    try:
        return package.plan(get_db(), current_app.config["DATA_DIR"], form.number.data, get_box().phone_region,
                            get_zone()), None
    except by_number.NumberError as e:
        return None, _refused(form, str(e))


def _refused(form: EvidenceForm, message: str | None = None):
    if "csrf_token" in form.errors:
        abort(400)
    if message:
        form.number.errors = [message]
    return render_template("evidence.html", form=form, plan=None, shown=SHOWN), 400


@bp.route("/evidence", methods=["GET", "POST"])
@require("evidence")
def index():
    """The form, and (POST) how many calls have the number, the first few, and the download."""
    form = EvidenceForm()
    if not form.is_submitted():
        return render_template("evidence.html", form=form, plan=None, shown=SHOWN)
    plan, refusal = _asked(form)
    if plan is None:
        return refusal
    return render_template("evidence.html", form=form, plan=plan, shown=SHOWN)


def _left_out(plan: package.Plan) -> dict[str, str]:
    """The recordings whose file is gone, outside DATA/recordings (a tampered catalog row), or no
    longer matches its catalog hash: call id -> why."""
    out = {}
    for rec in plan.recordings:
        if recording_file(current_app.config["DATA_DIR"], rec.call["path"]) is None:
            out[rec.call["id"]] = "its file is not in the recordings folder"
            continue
        try:
            with open(rec.source, "rb") as f:
                same = hashlib.file_digest(f, "sha256").hexdigest() == rec.sha256
        except OSError as e:
            out[rec.call["id"]] = f"cannot read it: {e.strerror or e}"
            continue
        if not same:
            out[rec.call["id"]] = "its SHA-256 is no longer the catalog's (changed or damaged on the box)"
    return out


def _stream(folder: str, docs: dict[str, bytes], sums: bytes, recordings: list[package.Recording],
            zone) -> Iterator[bytes]:
    """The ZIP in pieces as they are made (none empty)."""
    return (piece for piece in _pieces(folder, docs, sums, recordings, zone) if piece)


def _pieces(folder: str, docs: dict[str, bytes], sums: bytes, recordings: list[package.Recording],
            zone) -> Iterator[bytes]:
    """The ZIP: every document, SHA256SUMS, then each recording read a chunk at a time."""
    pipe, now = Pipe(), datetime.now(zone).replace(tzinfo=None)
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*docs.items(), (package.SUMS, sums)]:
            archive.writestr(zipfile.ZipInfo(f"{folder}/{name}", now.timetuple()[:6]), data,
                             compress_type=zipfile.ZIP_DEFLATED)
            yield pipe.take()
        for rec in recordings:
            started = max(times.parse(rec.call["started_at"]).astimezone(zone).replace(tzinfo=None), ZIP_EPOCH)
            info = zipfile.ZipInfo(f"{folder}/{rec.name}", started.timetuple()[:6])
            try:
                source = open(rec.source, "rb")
            except OSError as e:       # gone since it was hashed (retention): SHA256SUMS shows it missing
                log.warning("call %s: its recording was left out of the access package: %s", rec.call["id"], e)
                continue
            with source, archive.open(info, "w") as member:
                while chunk := source.read(CHUNK):
                    member.write(chunk)
                    yield pipe.take()
            yield pipe.take()
    yield pipe.take()     # the central directory


@bp.post("/evidence/package.zip")
@require("evidence")
def download():
    form = EvidenceForm()
    plan, refusal = _asked(form)
    if plan is None:
        return refusal
    if not plan.calls:
        return _refused(form, "No call has this number: there is nothing to put in a package.")
    db, zone = get_db(), get_zone()
    left_out = _left_out(plan)
    docs = package.documents(db, plan, get_box(), zone, left_out,
                             audit_head(db, current_app.config["AUDIT_SEAL_FILE"]))
    kept = [r for r in plan.recordings if r.call["id"] not in left_out]
    record("evidence-export", None, via="web zip", **evidence.audit_facts(plan, len(kept), list(left_out)))
    folder = plan.folder(datetime.now(zone).date())
    zipped = _stream(folder, docs, package.sums(docs, kept), kept, zone)
    response = Response(stream_with_context(zipped), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{folder}.zip"'
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response
