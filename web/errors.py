"""Error answers: a short page for people, JSON for the API, the right 4xx for bad requests and
never a stack trace. Anything unexpected is logged and answered 500 without details."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("hookline.web")

MESSAGES = {
    400: "The request was not understood.",
    403: "Your role does not allow this. Ask an administrator.",
    404: "There is nothing here.",
    405: "That method is not allowed here.",
    413: "The request is too large.",
    415: "The pages take form submissions only.",
    416: "That part of the file does not exist.",
    429: "Too many requests: wait a moment.",
    500: "Something went wrong on the box. It has been logged.",
}


def _answer(code: int, message: str, headers=None):
    if request.path.startswith("/api/"):
        response = jsonify(error=code, message=message)
        response.status_code = code
    else:
        response = make_response(render_template("error.html", code=code, message=message), code)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError):
        return _answer(400, "The form expired or did not come from this box: reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        if e.code is None or e.code < 400:
            return e
        headers = {k: v for k, v in e.get_headers() if k.lower() in ("allow", "retry-after", "content-range")}
        message = MESSAGES.get(e.code, e.name)
        if e.code in (400, 403, 404, 409) and e.description and e.description != type(e).description:
            message = e.description    # given by our abort(): says what was wrong with the request
        return _answer(e.code, message, headers)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        if isinstance(e, HTTPException):
            return _http(e)
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _answer(500, MESSAGES[500])

    app.register_error_handler(InternalServerError, lambda e: _answer(500, MESSAGES[500]))
