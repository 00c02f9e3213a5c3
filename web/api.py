"""The JSON API under /api/v1/: calls list/search, one call, its events and audio, and the box's
status (read-only); pausing and resuming the recording of a line's call (POST); described by the
OpenAPI document at /api/v1/openapi.json. Same login and role rules as the pages: a session
cookie or `Authorization: Bearer <token>`. A POST with the session cookie must carry the page's
CSRF token (X-CSRFToken); one with a token needs none (a token is not sent by a browser)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for
from flask_login import current_user

from appliance import control
from appliance.store import catalog, search
from appliance.store.kinds import CALL_STATUSES

from . import api_export, pause as pausemod, status as statusmod
from .auth import csrf, require
from .calls import call_or_404, parts_of, read_search, serve_recording
from .db import get_box, get_db, get_zone

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)   # tokens are not cookies; the one write (pause) checks a cookie's CSRF token itself
# How the recorder's refusals of a pause answer (control.ControlError.code): the HTTP status.
PAUSE_REFUSALS = {"not-running": 503, "no-answer": 503, "no-line": 404, "no-call": 409, "not-recording": 409,
                  "already-paused": 409}


@bp.get("/status")
@require("listen")
def status():
    db = get_db()
    live = statusmod.read_status(current_app.config["STATUS_FILE"])
    disk = statusmod.disk_report(db, current_app.config["DATA_DIR"])
    count, _ = statusmod.today_calls(db, get_zone(), limit=0)
    return jsonify(recorder={"running": bool(live and not live["stale"]),
                             "updated_at": live["updated_at"] if live else None},
                   lines=statusmod.line_cards(live, get_box()), disk=disk, today_calls=count,
                   warnings=statusmod.warnings(live, disk, get_box(), current_user.can("technical")))


@bp.get("/calls")
@require("listen")
def calls():
    db = get_db()
    try:
        # A misspelt filter must not quietly return every call: name it.
        unknown = sorted(k for k in request.args if k not in search.QUERY_KEYS)
        if unknown:
            raise search.QueryError(unknown[0][:40], f"unknown parameter: use {', '.join(search.QUERY_KEYS)}")
        query = read_search(dict(request.args.items()))
    except search.QueryError as e:
        response = jsonify(error=400, field=e.field, message=e.message)
        response.status_code = 400
        return response
    rows, cursor = search.search(db, query)
    body = {"calls": rows, "next": cursor}
    if cursor:
        args = {k: v for k, v in request.args.items() if k != "after"}
        body["next_url"] = url_for("api.calls", **args, after=cursor)
    return jsonify(body)


@bp.get("/calls/<call_id>")
@require("listen")
def call(call_id: str):
    row = call_or_404(call_id)
    previous, following = parts_of(row)
    body = catalog.public_call(row)
    body["next_part_id"] = following["id"] if following else None
    body["audio_url"] = url_for("api.audio", call_id=call_id) if row.get("path") else None
    body["events_url"] = url_for("api.events", call_id=call_id)
    return jsonify(body)


@bp.get("/calls/<call_id>/events")
@require("listen")
def events(call_id: str):
    call_or_404(call_id)
    return jsonify(events=catalog.list_events(get_db(), call_id=call_id))


@bp.get("/calls/<call_id>/audio")
@require("listen")
def audio(call_id: str):
    download = request.args.get("download", "").lower() in ("1", "true", "yes")
    if download and not current_user.can("download"):
        abort(403)
    return serve_recording(call_id, download=download)


@bp.post("/lines/<rowid:line>/pause", defaults={"kind": "pause"})
@bp.post("/lines/<rowid:line>/resume", defaults={"kind": "resume"})
@require("pause")
def pause(line: int, kind: str):
    if not g.get("via_token"):
        csrf.protect()          # a logged-in browser: only the box's own pages may
    try:
        answer = pausemod.ask(kind, line, "api")
    except control.ControlError as e:
        status = PAUSE_REFUSALS.get(e.code or "", 409)
        response = jsonify(error=status, code=e.code or "refused", message=str(e))
        response.status_code = status
        return response
    return jsonify(answer)


@bp.get("/openapi.json")
@require("listen")
def openapi():
    return jsonify(openapi_document())


# -- the OpenAPI document -----------------------------------------------------------------------
_STRING = {"type": "string"}
_ERROR = {"type": "object", "properties": {"error": {"type": "integer"}, "message": _STRING, "field": _STRING},
          "required": ["error", "message"]}
_ERROR_TEXT = {400: "invalid parameter", 401: "not logged in / bad token", 403: "role does not allow it",
               404: "no such call", 416: "range not satisfiable"}
_CALL_ID = {"name": "call_id", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^[0-9a-f]{10}$"}}


def openapi_document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Hookline API", "version": "1.0.0",
                 "description": "Access to the calls this box recorded, pausing a call's recording, and "
                                "exporting to the USB stick. "
                                "Authenticate with a session cookie (log in on the page; a POST then needs the "
                                "page's X-CSRFToken) or `Authorization: Bearer <token>` "
                                "(`hookline tokens create --user NAME`, or the Account page). Roles: listener, "
                                "manager, admin; downloading, pausing and exporting need manager."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Call": _call_schema(), "Error": _ERROR}},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/status": {"get": _status_operation()},
            "/api/v1/calls": {"get": _calls_operation()},
            "/api/v1/calls/{call_id}": {"get": {
                "summary": "One call", "operationId": "getCall", "parameters": [_CALL_ID],
                "responses": {"200": {"description": "the call", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Call"}}}}, **_errors(401, 404)}}},
            "/api/v1/calls/{call_id}/events": {"get": {
                "summary": "The call's events (off-hook, caller ID, digits, beeps, errors...)",
                "operationId": "getCallEvents", "parameters": [_CALL_ID],
                "responses": {"200": {"description": "events", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"events": {"type": "array", "items": {"type": "object"}}},
                    "required": ["events"]}}}}, **_errors(401, 404)}}},
            "/api/v1/calls/{call_id}/audio": {"get": _audio_operation()},
            "/api/v1/lines/{line}/pause": {"post": _pause_operation("pause")},
            "/api/v1/lines/{line}/resume": {"post": _pause_operation("resume")},
            **api_export.openapi_paths(_errors),
        },
    }


def _errors(*codes: int) -> dict:
    return {str(c): {"description": _ERROR_TEXT[c], "content": {"application/json": {"schema": _ERROR}}}
            for c in codes}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _call_schema() -> dict:
    return {
        "type": "object",
        "properties": {
            "id": _STRING, "line": {"type": "integer"},
            "direction": {"type": "string", "nullable": True, "enum": ["inbound", "outbound", None]},
            "started_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": "string", "format": "date-time", "nullable": True},
            "duration_s": {"type": "number", "nullable": True},
            "remote_number": {"type": "string", "nullable": True},
            "remote_name": {"type": "string", "nullable": True},
            "remote_withheld": {"type": "boolean"}, "dialed": {"type": "string", "nullable": True},
            "status": {"type": "string", "enum": list(CALL_STATUSES)},
            "path": {"type": "string", "nullable": True}, "size_bytes": {"type": "integer", "nullable": True},
            "sha256": {"type": "string", "nullable": True}, "preroll_s": {"type": "number"},
            "part": {"type": "integer"}, "previous_id": {"type": "string", "nullable": True},
            "held": {"type": "boolean"}, "note": {"type": "string", "nullable": True},
            "cut_short": {"type": "string", "nullable": True, "enum": ["disk-full", None],
                          "description": "the recording ends early: the data disk filled during the call"},
        },
        "required": ["id", "line", "started_at", "status"],
    }


def _status_operation() -> dict:
    number_or_null = {"type": "number", "nullable": True}
    recorder = {"type": "object", "properties": {
        "running": {"type": "boolean", "description": "false when its status is stale or missing"},
        "updated_at": {"type": "string", "format": "date-time", "nullable": True}}, "required": ["running"]}
    line = {"type": "object", "description": "a line as the dashboard's card shows it; while the recorder "
                                             "runs, also what it reports (device, sources, xruns...)",
            "properties": {"line": {"type": "integer"}, "name": _STRING,
                           "state": {"type": "string", "enum": list(statusmod.STATE_WORDS)},
                           "state_text": {**_STRING, "description": "the state in words"},
                           "call_s": number_or_null, "level_near_dbfs": number_or_null,
                           "level_far_dbfs": number_or_null,
                           "paused": {"type": "boolean", "description": "its call's recording is paused "
                                                                        "(POST /api/v1/lines/{line}/resume)"}},
            "required": ["line", "name", "state", "state_text", "call_s", "level_near_dbfs", "level_far_dbfs"]}
    disk = {"type": "object", "properties": {
        "total_bytes": {"type": "integer"}, "free_bytes": {"type": "integer"}, "used_bytes": {"type": "integer"},
        "free_fraction": {"type": "number"}, "bytes_per_day": {"type": "integer"},
        "days_left": {**number_or_null, "description": "at the last week's rate (null: nothing recorded)"},
        "time_left": {"type": "string", "nullable": True, "description": "days_left in words: 'about 3 years'"}},
        "required": ["total_bytes", "free_bytes", "days_left", "time_left"]}
    return {
        "summary": "Live state of the lines, disk usage and warnings", "operationId": "status",
        "responses": {"200": {"description": "status", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"recorder": recorder, "lines": {"type": "array", "items": line},
                                             "disk": disk, "today_calls": {"type": "integer"},
                                             "warnings": {"type": "array", "items": {"type": "object"}}},
            "required": ["recorder", "lines", "disk", "warnings"]}}}}, **_errors(401)}}


def _calls_operation() -> dict:
    q = _query
    return {
        "summary": "Search the calls, a page at a time (newest first unless `order` says otherwise)",
        "operationId": "listCalls",
        "parameters": [
            q("q", {"type": "string", "maxLength": 100},
              "search: a number in any form ('(415) 555-01', '+44 20 7946'), or words of 3+ letters found in "
              "the caller's name, the note or the numbers (every word, in any case)"),
            q("date_from", {"type": "string", "format": "date"}, "first day (box's time zone)"),
            q("date_to", {"type": "string", "format": "date"}, "last day, inclusive"),
            q("number", {"type": "string", "maxLength": 32}, "caller or dialed number: digits, +, * and # "
              "(not with a number in `q`)"),
            q("match", {"type": "string", "enum": ["contains", "prefix"]}, "how a number matches"),
            q("line", {"type": "integer", "minimum": 1, "maximum": 64}, "line"),
            q("direction", {"type": "string", "enum": ["inbound", "outbound"]}, "direction"),
            q("status", {"type": "string", "enum": list(CALL_STATUSES)}, "status"),
            q("held", {"type": "string", "enum": ["1", "0"]}, "only kept (1) or not kept (0) calls"),
            q("noted", {"type": "string", "enum": ["1", "0"]}, "only calls with (1) or without (0) a note"),
            q("order", {"type": "string", "enum": list(search.ORDERS)},
              "newest or oldest first (time), longest or shortest first (duration)"),
            q("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size (default 50)"),
            q("after", {"type": "string"}, "cursor: `next` of the previous page"),
        ],
        "responses": {"200": {"description": "a page of calls", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"calls": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}},
                                             "next": {"type": "string", "nullable": True},
                                             "next_url": _STRING},
            "required": ["calls", "next"]}}}}, **_errors(400, 401)}}


def _pause_operation(kind: str) -> dict:
    line = {"name": "line", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    state = {"type": "object", "properties": {
        "line": {"type": "integer"}, "paused": {"type": "boolean"},
        "paused_s": {"type": "number", "nullable": True, "description": "how long it has been paused"},
        "changed": {"type": "boolean", "description": "false: it was not paused (resume changes nothing)"},
        "call_id": {"type": "string", "nullable": True}, "after_s": {"type": "number"}, "message": _STRING},
        "required": ["line", "paused", "changed"]}
    refusal = {"application/json": {"schema": {"type": "object", "properties": {
        "error": {"type": "integer"}, "message": _STRING,
        "code": {"type": "string", "enum": [*PAUSE_REFUSALS, "refused"]}}}}}
    return {
        "summary": ("Pause the recording of the line's call in progress (card payments): it holds silence of the "
                    "same length until resumed, or pause_max_s" if kind == "pause" else
                    "Resume the recording of the line's paused call (a line not paused is left as it is)"),
        "operationId": f"{kind}Line", "parameters": [line], "description": "Needs manager or admin.",
        "responses": {"200": {"description": "the line's new state", "content": {"application/json": {
            "schema": state}}}, **_errors(401, 403),
            "404": {"description": "no such line", "content": refusal},
            "409": {"description": "no call in progress, or already paused", "content": refusal},
            "503": {"description": "the recorder is not running", "content": refusal}}}


def _audio_operation() -> dict:
    mp3 = {"audio/mpeg": {"schema": {"type": "string", "format": "binary"}}}
    return {
        "summary": "The recording (MP3; Range requests supported)", "operationId": "getCallAudio",
        "parameters": [_CALL_ID, _query("download", {"type": "string", "enum": ["1", "0"]},
                                        "as an attachment (needs manager)")],
        "responses": {"200": {"description": "MP3", "content": mp3},
                      "206": {"description": "part of the MP3", "content": mp3},
                      **_errors(401, 403, 404, 416)}}
