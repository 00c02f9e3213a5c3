"""The JSON API under /api/v1/ (read-only): calls list/search, one call, its events and audio,
and the box's status; described by the OpenAPI document at /api/v1/openapi.json. Same login
and role rules as the pages: a session cookie or `Authorization: Bearer <token>`."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from flask_login import current_user

from appliance.store import catalog, search

from . import status as statusmod
from .auth import csrf, require
from .calls import call_or_404, local_zone, parts_of, serve_recording
from .db import get_db

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)   # read-only: nothing here changes state, and tokens are not cookies

CALL_STATUSES = ("recording", "complete", "recovered", "discarded", "deleted")


@bp.get("/status")
@require("listen")
def status():
    db = get_db()
    live = statusmod.read_status(current_app.config["STATUS_FILE"])
    disk = statusmod.disk_report(db, current_app.config["DATA_DIR"])
    count, _ = statusmod.today_calls(db, limit=0)
    return jsonify(recorder={"running": bool(live and not live["stale"]),
                             "updated_at": live["updated_at"] if live else None},
                   lines=live["lines"] if live else [], disk=disk, today_calls=count,
                   warnings=statusmod.warnings(live, disk))


@bp.get("/calls")
@require("listen")
def calls():
    db = get_db()
    try:
        # A misspelt filter must not quietly return every call: name it.
        unknown = sorted(k for k in request.args if k not in search.QUERY_KEYS)
        if unknown:
            raise search.QueryError(unknown[0][:40], f"unknown parameter: use {', '.join(search.QUERY_KEYS)}")
        query = search.parse_query(dict(request.args.items()), local_zone())
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


@bp.get("/openapi.json")
@require("listen")
def openapi():
    return jsonify(openapi_document())


def openapi_document() -> dict:
    string = {"type": "string"}
    call_schema = {
        "type": "object",
        "properties": {
            "id": string, "line": {"type": "integer"},
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
        },
        "required": ["id", "line", "started_at", "status"],
    }
    error = {"type": "object", "properties": {"error": {"type": "integer"}, "message": string,
                                              "field": string}, "required": ["error", "message"]}

    def errors(*codes: int) -> dict:
        text = {400: "invalid parameter", 401: "not logged in / bad token", 403: "role does not allow it",
                404: "no such call", 416: "range not satisfiable"}
        return {str(c): {"description": text[c], "content": {"application/json": {"schema": error}}} for c in codes}

    call_id = {"name": "call_id", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": "^[0-9a-f]{10}$"}}

    def q(name: str, schema: dict, description: str) -> dict:
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

    return {
        "openapi": "3.0.3",
        "info": {"title": "Hookline API", "version": "1.0.0",
                 "description": "Read-only access to the calls this box recorded. Authenticate with a session "
                                "cookie (log in on the page) or `Authorization: Bearer <token>` "
                                "(`hookline tokens create --user NAME`, or the Account page). Roles: listener, "
                                "manager, admin; downloading needs manager."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Call": call_schema, "Error": error}},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/status": {"get": {
                "summary": "Live state of the lines, disk usage and warnings", "operationId": "status",
                "responses": {"200": {"description": "status", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"recorder": {"type": "object"},
                                                     "lines": {"type": "array", "items": {"type": "object"}},
                                                     "disk": {"type": "object"}, "today_calls": {"type": "integer"},
                                                     "warnings": {"type": "array", "items": {"type": "object"}}},
                    "required": ["recorder", "lines", "disk", "warnings"]}}}}, **errors(401)}}},
            "/api/v1/calls": {"get": {
                "summary": "Search the calls, newest first, a page at a time", "operationId": "listCalls",
                "parameters": [
                    q("date_from", {"type": "string", "format": "date"}, "first day (box's time zone)"),
                    q("date_to", {"type": "string", "format": "date"}, "last day, inclusive"),
                    q("number", {"type": "string", "maxLength": 32}, "caller or dialed number"),
                    q("match", {"type": "string", "enum": ["contains", "prefix"]}, "how number matches"),
                    q("line", {"type": "integer", "minimum": 1, "maximum": 64}, "line"),
                    q("direction", {"type": "string", "enum": ["inbound", "outbound"]}, "direction"),
                    q("status", {"type": "string", "enum": list(CALL_STATUSES)}, "status"),
                    q("held", {"type": "string", "enum": ["1", "0"]}, "only kept (1) or not kept (0) calls"),
                    q("order", {"type": "string", "enum": ["newest", "oldest"]}, "sort order"),
                    q("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size (default 50)"),
                    q("after", {"type": "string"}, "cursor: `next` of the previous page"),
                ],
                "responses": {"200": {"description": "a page of calls", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"calls": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}},
                                                     "next": {"type": "string", "nullable": True},
                                                     "next_url": string},
                    "required": ["calls", "next"]}}}}, **errors(400, 401)}}},
            "/api/v1/calls/{call_id}": {"get": {
                "summary": "One call", "operationId": "getCall", "parameters": [call_id],
                "responses": {"200": {"description": "the call", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Call"}}}}, **errors(401, 404)}}},
            "/api/v1/calls/{call_id}/events": {"get": {
                "summary": "The call's events (off-hook, caller ID, digits, beeps, errors...)",
                "operationId": "getCallEvents", "parameters": [call_id],
                "responses": {"200": {"description": "events", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"events": {"type": "array", "items": {"type": "object"}}},
                    "required": ["events"]}}}}, **errors(401, 404)}}},
            "/api/v1/calls/{call_id}/audio": {"get": {
                "summary": "The recording (MP3; Range requests supported)", "operationId": "getCallAudio",
                "parameters": [call_id, q("download", {"type": "string", "enum": ["1", "0"]},
                                          "as an attachment (needs manager)")],
                "responses": {"200": {"description": "MP3", "content": {"audio/mpeg": {"schema": {
                    "type": "string", "format": "binary"}}}},
                              "206": {"description": "part of the MP3", "content": {"audio/mpeg": {"schema": {
                                  "type": "string", "format": "binary"}}}},
                              **errors(401, 403, 404, 416)}}},
        },
    }
