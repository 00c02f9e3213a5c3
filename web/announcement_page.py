"""The announcement to callers (admins): the page shows the one the box plays, lets the admin hear
it as callers will (the stored file, at the lines' rate), replace it with an upload (WAV or MP3,
decoded, checked and converted by appliance.notice) or remove it. Every change is audited with
what was there before and after. One announcement serves the whole box; the lines pick up a new
one at their next call."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField

from appliance.notice import convert, stored

from . import UPLOAD_MAX_BYTES
from .auth import record, require
from .forms import ActionForm

bp = Blueprint("announcement", __name__)
UPLOADS = ("announcement.upload",)      # the endpoints that take a body bigger than a form (web.Request)
TOO_BIG = (f"The file is larger than {UPLOAD_MAX_BYTES // (1024 * 1024)} MB: an announcement is at most "
           f"{convert.MAX_S:g} s long, so a WAV at 16 bits or an MP3 of it is well under that.")


class UploadForm(FlaskForm):
    file = FileField("A WAV or MP3 recording of the announcement")


def _page(form: UploadForm, error: str | None = None, status: int = 200):
    meta = stored.current(current_app.config["DATA_DIR"])
    return render_template("announcement.html", meta=meta, form=form, remove_form=ActionForm(formdata=None),
                           error=error, max_s=convert.MAX_S, max_mb=UPLOAD_MAX_BYTES // (1024 * 1024),
                           min_peak=convert.MIN_PEAK_DBFS), status


@bp.route("/settings/announcement")
@require("settings")
def index():
    return _page(UploadForm())


@bp.route("/settings/announcement", methods=["POST"])
@require("settings")
def upload():
    form = UploadForm()
    if not form.validate_on_submit():
        abort(400)
    upload = form.file.data
    if not upload or not getattr(upload, "filename", None):
        return _page(form, "Choose a file to upload.", 400)
    data = upload.stream.read(UPLOAD_MAX_BYTES + 1)
    if len(data) > UPLOAD_MAX_BYTES:
        return _page(form, TOO_BIG, 413)
    try:
        samples, facts = convert.decode(data)
    except convert.NoticeError as e:
        return _page(form, str(e), 400)
    data_dir = current_app.config["DATA_DIR"]
    before = stored.current(data_dir)
    after = stored.save(data_dir, samples, facts, upload.filename, current_user.name)
    record("announcement", None, before=stored.summary(before), after=stored.summary(after))
    flash(f"Saved: callers now hear “{after['name']}” ({facts.duration_s:g} s) on the lines set to play "
          "the announcement, from their next call.")
    return redirect(url_for("announcement.index"), 303)


@bp.route("/settings/announcement/remove", methods=["POST"])
@require("settings")
def remove():
    if not ActionForm().validate_on_submit():
        abort(400)
    before = stored.remove(current_app.config["DATA_DIR"])
    if before is None:
        flash("There was no announcement to remove.")
    else:
        record("announcement", None, before=stored.summary(before), after=None)
        flash(f"Removed “{before['name']}”. Lines set to play the announcement play the tone instead.")
    return redirect(url_for("announcement.index"), 303)


@bp.route("/settings/announcement/audio")
@require("settings")
def audio():
    data_dir = current_app.config["DATA_DIR"]
    if stored.current(data_dir) is None:
        abort(404)
    response = send_file(stored.audio_path(data_dir), mimetype="audio/wav", conditional=True, etag=True, max_age=0)
    response.cache_control.private = True
    return response


@bp.errorhandler(413)
def _too_big(e):
    """A body over the upload limit is refused before it is read: say why, on the page (whose
    form must not look at the body again)."""
    return _page(UploadForm(formdata=None), TOO_BIG, 413)
