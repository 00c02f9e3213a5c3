"""The API's export to the USB stick (managers and admins, as on the pages): GET /api/v1/export
(the recorder's export status, with the page's sentences), POST /api/v1/export (start: a JSON
body choosing what, web/export_choice.py), POST /api/v1/export/cancel. Like the pages, the web
process only asks the recorder (web/export_page.py). A POST with the session cookie must carry
the page's CSRF token (X-CSRFToken); one with a token needs none."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from appliance import control

from . import export_choice, export_page
from .auth import csrf, require

bp = Blueprint("api_export", __name__, url_prefix="/api/v1")
csrf.exempt(bp)     # tokens are not cookies; a cookie's POST is checked below


def _refused(e: control.ControlError):
    """A refusal of the recorder's (no stick, busy...) is 409; no recorder, or no answer, 503."""
    status = 409 if e.code and e.code != "not-running" else 503
    return _error(status, export_page.refusal(e), code=e.code or "no-answer")


def _error(status: int, message: str, **more: Any):
    response = jsonify(error=status, message=message, **more)
    response.status_code = status
    return response


def _said(status: dict[str, Any] | None, said: dict[str, Any]) -> dict[str, Any]:
    return {"export": status, "said": said}


@bp.get("/export")
@require("export")
def status():
    found, said = export_page.described()
    if found is None:
        return _error(503, said["recorder"], code="not-running")
    return jsonify(_said(found, said))


@bp.post("/export")
@require("export")
def start():
    if not g.get("via_token"):
        csrf.protect()          # a logged-in browser: only the box's own pages may
    body = request.get_json(silent=True)
    try:
        target = export_page.chosen_stick(body.pop("target", None) if isinstance(body, dict) else None)
        selection = export_choice.from_json(body)
    except export_choice.ChoiceError as e:
        return _error(400, str(e), field=e.field)
    try:
        answer = export_page.start(selection, "api", target)
    except control.ControlError as e:
        return _refused(e)
    job = answer.get("job") if isinstance(answer, dict) else None
    response = jsonify(export=job, selection=selection)
    response.status_code = 202
    return response


@bp.post("/export/cancel")
@require("export")
def cancel():
    if not g.get("via_token"):
        csrf.protect()
    try:
        changed = export_page.cancel("api")
    except control.ControlError as e:
        return _refused(e)
    return jsonify(changed=changed)


# -- the OpenAPI document's part (web/api.py) -----------------------------------------------------------
_STRING = {"type": "string"}
_NULLABLE_INT = {"type": "integer", "nullable": True}


def _status_schema() -> dict:
    stick = {"type": "object", "nullable": True, "description": "the stick the recorder sees (null: none)",
             "properties": {"path": _STRING, "label": _STRING, "fstype": _STRING, "total_bytes": {"type": "integer"},
                            "free_bytes": {"type": "integer"}, "read_only": {"type": "boolean"},
                            "problem": {**_STRING, "nullable": True,
                                        "description": "why no export can go there (null: one can)"}}}
    export = {"type": "object", "properties": {
        "state": {"type": "string", "enum": ["idle", "copying", "done", "error", "cancelled"]}, "stick": stick,
        "sticks": {"type": "array", "items": stick, "description": "every stick plugged in now"},
        "files_done": {"type": "integer"}, "files_total": {"type": "integer"}, "bytes_done": {"type": "integer"},
        "bytes_total": {"type": "integer"}, "seconds_left": {"type": "number", "nullable": True},
        "message": {**_STRING, "description": "a sentence for the owner"},
        "result": {"type": "object", "nullable": True, "description": "how the last export ended: complete, "
                   "exit_code (as `hookline export`'s), selected, copied, already_there, bytes_copied, "
                   "mismatched, stopped_because"}}}
    said = {"type": "object", "description": "what the export page shows", "properties": {
        "stick": _STRING, "running": {"type": "boolean"}, "progress": {**_STRING, "nullable": True},
        "fraction": {"type": "number", "nullable": True}, "outcome": {**_STRING, "nullable": True},
        "outcome_kind": {"type": "string", "nullable": True, "enum": ["ok", "warning", "error", None]}}}
    return {"type": "object", "properties": {"export": export, "said": said}, "required": ["export", "said"]}


def _choice_schema() -> dict:
    return {"type": "object", "description": "What to export: {\"new\": true} for everything no earlier export put "
            "on this stick; days (the box's zone, both included), a line and a number, any of them; "
            "{\"search\": {...}} for what GET /api/v1/calls finds with those keys (at most "
            f"{export_choice.ID_CAP} calls unless only dates and a line); or {{\"call_ids\": [...]}} "
            f"(at most {export_choice.ID_CAP}). An empty object exports every recording.",
            "properties": {"since": {"type": "string", "format": "date"}, "until": {"type": "string", "format": "date"},
                           "line": {"type": "integer", "minimum": 1}, "number": _STRING, "new": {"type": "boolean"},
                           "search": {"type": "object", "additionalProperties": _STRING},
                           "call_ids": {"type": "array", "items": _STRING, "maxItems": export_choice.ID_CAP},
                           "target": {**_STRING, "description": "the stick's path (`sticks` of GET), when "
                                                                "several are plugged in"}},
            "additionalProperties": False}


def openapi_paths(errors) -> dict:
    """The export's paths; errors(*codes) is web/api.py's error responses."""
    refusal = {"application/json": {"schema": {"type": "object", "properties": {
        "error": {"type": "integer"}, "message": _STRING, "code": _STRING}}}}
    started = {"type": "object", "properties": {"export": {"type": "object", "description": "the job's status"},
                                                "selection": {"type": "object", "description": "what it takes"}}}
    refused = {"409": {"description": "refused: no stick, the stick cannot take it, or an export runs",
                       "content": refusal},
               "503": {"description": "the recorder is not running", "content": refusal}}
    return {"/api/v1/export": {
        "get": {"summary": "The export to the USB stick: the stick, the progress, how the last one ended",
                "operationId": "exportStatus", "description": "Needs manager or admin.",
                "responses": {"200": {"description": "status", "content": {"application/json": {
                    "schema": _status_schema()}}}, **errors(401, 403), "503": refused["503"]}},
        "post": {"summary": "Start an export to the USB stick (the recorder copies; follow it with GET)",
                 "operationId": "startExport", "description": "Needs manager or admin. Audited.",
                 "requestBody": {"required": True, "content": {"application/json": {"schema": _choice_schema()}}},
                 "responses": {"202": {"description": "started", "content": {"application/json": {"schema": started}}},
                               **errors(400, 401, 403), **refused}}},
        "/api/v1/export/cancel": {"post": {
            "summary": "Cancel the export: what was copied stays on the stick, verified, and its index says "
                       "the export is incomplete", "operationId": "cancelExport",
            "description": "Needs manager or admin. Audited.",
            "responses": {"200": {"description": "changed: false when no export was running", "content": {
                "application/json": {"schema": {"type": "object", "properties": {"changed": {"type": "boolean"}}}}}},
                **errors(401, 403), "503": refused["503"]}}}}
