"""Fuzz every route of the web UI and the API over real HTTP, against the real app under waitress,
as every role: no request may get a 5xx answer, and the app may log nothing at ERROR (web/errors.py
logs "unexpected error" on a 500; waitress logs what breaks after the app answered, such as a
header it cannot send).

Nothing here lists the routes, the query keys or the forms by hand, so a new route, a new filter
or a new form is fuzzed without anyone editing this file:
- routes come from the app's url_map; path parameters get hostile values (huge and negative
  integers, NUL, CR LF, escapes, unicode, 10 KB, "..");
- the pages are crawled as each role (links, JSON URLs, redirects): the query keys each page reads
  come from its links, its method=get forms and the OpenAPI document, and the POST forms (with
  their CSRF tokens and field values) from its method=post forms;
- every query key, and unknown keys that collide with Flask/werkzeug internals (url_for's
  `endpoint`, `_method`, `_external`, `_anchor`, `_scheme`...), is set to hostile values, on the
  first page and on the pages after it (a smallest page size from the OpenAPI document makes the
  lists have a next page, and the "next" links found are followed);
- each field of each POST form is set in turn to each hostile value (the others keep their page
  values, the CSRF token is valid), then all of its fields at once, then the same form as a JSON
  body (Flask-WTF takes one, with the token in X-CSRFToken) with fields of other types; a form's
  file fields are sent as multipart uploads of hostile files (not what they claim, headers that
  lie); the forms on the pages a form answers with (a confirmation step, a list that grew) are
  fuzzed in their turn;
- the headers the app reads: Range and conditions where it serves files, the bearer token, the
  session cookie, and the User-Agent a login keeps with its session;
- logging in with each hostile next= (the redirect after the login).

The first role that reaches a view (admin, then manager, listener, the token, anonymous) gives it
every value; the roles after it get the short list, and every role gets every path value.

Forms whose success would wreck the run are isolated rather than skipped: per-user forms are
fuzzed on a victim user, never on the fuzzing users' own rows; a delete form is pointed at the
discarded call; a session that ends is logged in again (its user restored first); and failed
logins, which lock an address out, go to a second app on the same data folder.

Deterministic (fixed lists, a fixed crawl order) and bounded: each request has a timeout, and
every failure is reported at once, with its role, method, URL, field and value.
"""
from __future__ import annotations

import http.client
import io
import json
import logging
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import CookieError, SimpleCookie
from typing import Any, Iterable
from urllib.parse import parse_qsl, quote, unquote, urljoin, urlsplit

import numpy as np
import pytest
import soundfile
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

import web
import webtools as wt
from appliance.notice import convert, stored
from appliance.store import audit, catalog, db as dbmod, dnr, users

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")]

TIMEOUT_S = 10.0
ROLES = ("anonymous", "listener", "manager", "admin", "token")
LOGGED_IN = ("listener", "manager", "admin")
VICTIM = ("fuzz-victim", "listener", "victim password 1234")       # the per-user forms act on this one
TOKEN_USER = ("fuzz-token", "manager", "token owner password 99")  # the bearer token's user
LOGIN_USER = ("fuzz-login", "listener", "logs in with next 12345")  # logs in with each hostile next=
AUDIT_SEED = 120        # more than a page of the audit log, so it has an "older entries" page

HUGE = "9" * 25
ERASABLE = str(2 ** 63)     # one of VALUES: a call has this number, as +1 (erasure by number finds it)
# The values every parameter gets. The short list is for keys a route is not known to read (and
# for the pages after the first); the full one for the keys it reads, path parameters and fields.
SHORT_VALUES: tuple[str | bytes, ...] = ("x", "/\r\nX", HUGE)
VALUES: tuple[str | bytes, ...] = SHORT_VALUES + (
    str(2 ** 63), "-1", "-" + HUGE, "0", "\r\n", "\x00", "\x1b[31m", "\x7f", "é☎𝄞\u202e", "x" * 10240,
    "..", "%0d%0a", b"\xff\xfe", "nan", "1e309", " ", "POST")
# A form's fields sent as JSON (Flask-WTF reads a JSON body as the form data; the CSRF token then
# comes in the X-CSRFToken header): values of other types than text, and bodies that are no object.
JSON_VALUES: tuple[Any, ...] = (["x", "y"], {"x": 1}, 10 ** 25, -1, 1.5, None, True, [], {})
JSON_BODIES = ("[1, 2]", '"x"', "7", "null", "[[1, 2, 3]]", "{")


def _wav_header(rate: int, channels: int = 1, data_bytes: int = 2 ** 32 - 1, frames: int = 400) -> bytes:
    """A PCM WAV whose header says what it is told to (rate, channels, a data chunk's length),
    followed by a little real audio."""
    fmt = (1).to_bytes(2, "little") + channels.to_bytes(2, "little") + rate.to_bytes(4, "little") + \
        (rate * 2 * channels % 2 ** 32).to_bytes(4, "little") + (2 * channels).to_bytes(2, "little") + \
        (16).to_bytes(2, "little")
    audio = bytes(range(256)) * (frames * 2 * channels // 256 + 1)
    return b"RIFF" + (36 + len(audio)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little") + fmt + \
        b"data" + data_bytes.to_bytes(4, "little") + audio


# The files a form's file fields get: (file name, content).
FILE_VALUES: tuple[tuple[str, bytes], ...] = (
    ("empty.wav", b""), ("notes.mp3", b"this is no audio\n" * 50), ("x.wav", b"RIFF\xff\xff\xff\xffWAVE"),
    ("fast.wav", _wav_header(2_000_000_000)), ("slow.wav", _wav_header(1)), ("long.wav", _wav_header(8000, 1, 2 ** 31)),
    ("wide.wav", _wav_header(48000, 1024)), ("head.mp3", b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + b"\xff\xfb\x90\x00" * 500),
    ("\r\n../é☎.wav", _wav_header(8000)), ("", _wav_header(8000)))
# Keys no route is meant to read, named like werkzeug's and Flask's own arguments: a view that
# hands request.args to url_for() gets them as url_for's keyword arguments.
COLLIDING_KEYS = ("endpoint", "_method", "_external", "_anchor", "_scheme", "values", "method", "next",
                  "after", "\x00")
OPENAPI = "/api/v1/openapi.json"
CRAWL_PER_ENDPOINT = 2      # pages visited per endpoint and role while crawling
CRAWL_PER_ROLE = 80
MAX_URL = 8000              # the server takes 16 KB of request line and headers


# -- what the app logs ---------------------------------------------------------------------------------
class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _no_recorder(answer) -> bool:
    """The API's documented 503 for a pause when no recorder runs (none does here): an answer."""
    if answer.status != 503 or answer.type != "application/json":
        return False
    try:
        return json.loads(answer.body).get("code") == "not-running"
    except ValueError:
        return False


def _describe(record: logging.LogRecord) -> str:
    text = f"{record.name}: {record.getMessage()}"
    if record.exc_info and record.exc_info[1] is not None:
        text += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
    return _short(text, 300)


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit // 2]!r}...({len(value)} chars)"
    if len(text) > limit:
        return f"{text[:limit // 2]}...({len(text)} chars)"
    return text


# -- a browser that sends exactly the bytes it is given ------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage | None
    body: bytes
    failure: Failure | None = None     # set by Fuzzer.send when this answer is one

    @property
    def type(self) -> str:
        return (self.headers.get("Content-Type", "") if self.headers else "").split(";")[0].strip()

    @property
    def location(self) -> str:
        return self.headers.get("Location", "") if self.headers else ""

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Browser:
    """http.client on one keep-alive connection: the request line goes out as given (requests
    would re-quote it and resolve "..": /calls/../audio would never reach <call_id>), cookies are
    kept like a browser keeps them, and every request has a timeout."""

    def __init__(self, base: str, headers: dict[str, str] | None = None, keep_cookies: bool = True) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.headers = dict(headers or {})
        self.keep_cookies = keep_cookies
        self.cookies: dict[str, str] = {}
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, target: str, body: bytes | None = None,
                extra_headers: dict[str, str] | None = None) -> Answer:
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers.update(extra_headers or {})
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
            try:
                self._conn.request(method, target, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException):
                # The server closed the idle keep-alive connection: once more on a new one.
                self.close()
                if attempt == 2:
                    raise
                continue
            except OSError:     # a timeout: the connection is in an unknown state
                self.close()
                raise
            if response.will_close:
                self.close()
            if self.keep_cookies:
                self._keep(response.headers.get_all("Set-Cookie") or [])
            return Answer(response.status, response.headers, data)
        raise AssertionError("unreachable")

    def _keep(self, set_cookies: list[str]) -> None:
        for header in set_cookies:
            jar = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue
            for name, morsel in jar.items():
                if not morsel.value or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


def _header_values() -> list[bytes]:
    """VALUES as header values (http.client will not send CR or LF in a header: those are left out)."""
    values = [v if isinstance(v, bytes) else v.encode() for v in VALUES]
    return [v for v in values if b"\r" not in v and b"\n" not in v]


def _qs(pairs: dict[str, str | bytes]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs.items())


def _multipart(pairs: dict[str, str | bytes], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of these fields and files, and its Content-Type."""
    boundary = "fuzz-boundary-7d1f3a"
    parts = []
    for name, value in pairs.items():
        value = value if isinstance(value, bytes) else value.encode()
        parts.append(f'Content-Disposition: form-data; name="{quote(name)}"\r\n\r\n'.encode() + value)
    for name, (filename, content) in files.items():
        parts.append(f'Content-Disposition: form-data; name="{quote(name)}"; filename="{quote(filename)}"\r\n'
                     f'Content-Type: audio/wav\r\n\r\n'.encode() + content)
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# -- reading pages -------------------------------------------------------------------------------------
@dataclass
class Form:
    page: str                               # the URL of the page it is on
    action: str                             # path?query
    method: str
    names: list[str] = field(default_factory=list)        # every named control, checked or not
    values: dict[str, str] = field(default_factory=dict)  # what the page would submit
    files: list[str] = field(default_factory=list)        # its file fields (sent as multipart)


class PageParser(HTMLParser):
    """Forms (fields and the values the page would submit) and every same-site URL in a page."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.forms: list[Form] = []
        self.links: list[tuple[str, str]] = []      # (url, rel)
        self._form: Form | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._option: dict[str, str | None] | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        for name, value in a.items():
            if (name in ("href", "src") or (name.startswith("data-") and name.endswith("-url"))) \
                    and value.startswith("/") and not value.startswith("//"):
                self.links.append((value, a.get("rel", "") if tag == "a" else ""))
        if tag == "form":
            action = urljoin(self.page, a.get("action") or self.page)
            parts = urlsplit(action)
            self._form = Form(self.page, parts.path + (f"?{parts.query}" if parts.query else ""),
                              (a.get("method") or "get").upper())
            self.forms.append(self._form)
            return
        form = self._form
        if form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind == "file":
                form.files.append(name)
            if kind in ("submit", "button", "reset", "image", "file"):
                return
            self._name(name)
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    form.values[name] = a.get("value") or "on"
            else:
                form.values[name] = a.get("value", "")
        elif tag == "select" and name:
            self._name(name)
            self._select, self._select_first = name, None
        elif tag == "option" and self._select:
            self._option = {"value": a.get("value"), "selected": "selected" in a}
            self._text = []
        elif tag == "textarea" and name:
            self._name(name)
            self._textarea, self._text = name, []

    def _name(self, name: str) -> None:
        if name not in self._form.names:
            self._form.names.append(name)

    def handle_data(self, data: str) -> None:
        if self._option is not None or self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._option is not None and self._form is not None:
            value = self._option["value"]
            value = "".join(self._text).strip() if value is None else value
            if self._select_first is None:
                self._select_first = value
                self._form.values.setdefault(self._select, value)
            if self._option["selected"]:
                self._form.values[self._select] = value
            self._option = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.values[self._textarea] = "".join(self._text).lstrip("\n")
            self._textarea = None
        elif tag == "form":
            self._form = None


def _json_urls(value: Any, key: str = "") -> Iterable[tuple[str, str]]:
    """Same-site URLs in a JSON answer; next_url is the next page."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _json_urls(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _json_urls(v, key)
    elif isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        yield value, "next" if key == "next_url" else ""


# -- the fuzzer ----------------------------------------------------------------------------------------
PLACEHOLDER = re.compile(r"<(?:[A-Za-z_]\w*(?:\([^)]*\))?:)?([A-Za-z_]\w*)>")


@dataclass
class Failure:
    role: str
    method: str
    url: str
    field: str
    value: Any
    status: int | str
    logged: list[str]
    body: str = ""

    def line(self) -> str:
        value = self.value if isinstance(self.value, (str, bytes)) else str(self.value)
        text = (f"{self.status} {self.role:9} {self.method:4} {_short(self.url, 160)}  "
                f"[{self.field} = {_short(repr(value), 60)}]")
        if self.body:
            text += f" body: {_short(self.body, 160)}"
        for entry in self.logged:
            text += f"\n      logged {entry}"
        return text


class Fuzzer:
    def __init__(self, site, app, collector: _Collector) -> None:
        self.site = site
        self.adapter = app.url_map.bind("127.0.0.1")
        self.rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
        self.collector = collector
        self.failures: list[Failure] = []
        self.sent = 0
        self.browsers: dict[str, Browser] = {}
        self.csrf: dict[str, str] = {}
        # What the crawl learns.
        self.keys: dict[str, set[str]] = defaultdict(set)              # endpoint -> query keys it reads
        self.contexts: dict[str, list[dict[str, str]]] = defaultdict(list)   # endpoint -> later pages
        self.examples: dict[str, list[dict[str, str]]] = defaultdict(list)   # endpoint -> path args seen
        self.forms: dict[str, list[Form]] = defaultdict(list)          # role -> POST forms
        self.visited: dict[str, list[str]] = defaultdict(list)         # role -> URLs crawled
        self.openapi: dict | None = None
        # Routes and forms already given every value by a role: the roles after it get the short
        # list (the same view, reached with another role's permissions).
        self.fuzzed: set[Any] = set()

    # -- sending and checking --
    def send(self, role: str, method: str, url: str, what: str, value: Any = None,
             data: dict[str, str | bytes] | None = None, browser: Browser | None = None,
             headers: dict[str, str] | None = None, record: bool = True, json_body: str | None = None,
             files: dict[str, tuple[str, bytes]] | None = None) -> Answer:
        """One request; a 5xx, no answer, or anything the app logged at ERROR meanwhile is a
        failure (kept in self.failures unless record is False: answer.failure has it)."""
        browser = browser or self.browsers[role]
        body = _qs(data).encode() if data is not None else None
        sent_headers = headers
        if files is not None:
            body, kind = _multipart(data or {}, files)
            sent_headers = {"Content-Type": kind, **(headers or {})}
        if json_body is not None:
            body = json_body.encode()
            sent_headers = {"Content-Type": "application/json", "X-CSRFToken": self.csrf.get(role, ""),
                            **(headers or {})}
        mark = len(self.collector.records)
        self.sent += 1
        try:
            answer = browser.request(method, url, body, sent_headers)
        except (OSError, http.client.HTTPException) as e:
            answer = Answer(f"no answer ({type(e).__name__})", None, b"")   # type: ignore[arg-type]
        logged = [_describe(r) for r in self.collector.records[mark:]]
        if not isinstance(answer.status, int) or answer.status >= 500 and not _no_recorder(answer) or logged:
            shown = "" if data is None else _qs({k: v for k, v in data.items() if k != "csrf_token"})
            if json_body is not None:
                shown = f"JSON (CSRF token in X-CSRFToken) {json_body}"
            elif headers:
                shown = " ".join(f"{k}: {v!r}" for k, v in headers.items()) + (f" {shown}" if shown else "")
            if files:
                shown += " files " + ", ".join(f"{k}={name!r} ({len(content)} bytes)" for k, (name, content) in files.items())
            answer.failure = Failure(role, method, url, what, value, answer.status, logged, shown)
            if record:
                self.failures.append(answer.failure)
        if browser is self.browsers.get(role) and isinstance(answer.status, int) and answer.type == "text/html":
            match = wt.CSRF_RE.search(answer.text())
            if match:       # any page's token is good for any form of the same session
                self.csrf[role] = match.group(1)
        return answer

    def match(self, url: str, method: str = "GET"):
        parts = urlsplit(url)
        try:
            return self.adapter.match(unquote(parts.path), method=method, return_rule=True)
        except (HTTPException, RequestRedirect):
            return None

    def endpoint(self, url: str, method: str) -> str:
        found = self.match(url, method)
        return found[0].endpoint if found else urlsplit(url).path[:60]

    @staticmethod
    def build(rule, args: dict[str, Any]) -> str:
        return PLACEHOLDER.sub(lambda m: quote(args[m.group(1)], safe="") if isinstance(args[m.group(1)], bytes)
                               else quote(str(args[m.group(1)]), safe=""), rule.rule)

    def example_args(self, rule) -> dict[str, Any]:
        """Path arguments that exist: seen in a link or form to this route, else the same name
        seen anywhere (the call id of a page for the API's call routes)."""
        for args in self.examples[rule.endpoint]:
            if set(args) >= set(rule.arguments):
                return {name: args[name] for name in rule.arguments}
        pool: dict[str, str] = {}
        for seen in self.examples.values():
            for args in seen:
                for name, value in args.items():
                    pool.setdefault(name, value)
        return {name: pool.get(name, "1") for name in rule.arguments}

    def example_url(self, rule) -> str:
        return self.build(rule, self.example_args(rule))

    @staticmethod
    def methods(rule) -> list[str]:
        return sorted(m for m in rule.methods if m not in ("HEAD", "OPTIONS"))

    def refused(self, answer: Answer) -> bool:
        """The request was stopped before the view: not logged in, or not allowed."""
        if answer.status in (401, 403):
            return True
        if answer.status in (301, 302, 303, 307, 308):
            target = self.match(answer.location)
            return target is not None and target[0].endpoint in ("auth.login", "auth.setup")
        return False

    # -- sessions --
    def login(self, role: str) -> None:
        """Log the role's user in (wt.login); if that fails, put the user back as the fixture
        made it (password, enabled, role) and log in again."""
        try:
            client = wt.login(self.site.base, role)
        except AssertionError:
            db = dbmod.connect(self.site.data)
            try:
                users.set_password(db, role, wt.PASSWORDS[role])
                row = users.get_user_by_name(db, role)
                if row.get("disabled"):
                    users.set_disabled(db, role, False)
                if row["role"] != role:
                    users.set_role(db, role, role)
            finally:
                db.close()
            client = wt.login(self.site.base, role)
        browser = self.browsers.get(role) or Browser(self.site.base)
        browser.cookies = {c.name: c.value for c in client.cookies}
        client.close()
        self.browsers[role] = browser
        self.csrf[role] = wt.csrf(browser.request("GET", "/account").text())

    def still_in(self, role: str, page: str) -> None:
        """After a request that may have done something: back on the form's page (a fresh CSRF
        token), logged in again if the session ended."""
        answer = self.send(role, "GET", page, "reload after a change")
        if self.refused(answer) and role in LOGGED_IN:
            self.login(role)
        else:
            self.learn_forms(role, page, page, answer)

    def learn_forms(self, role: str, url: str, page: str, answer: Answer) -> None:
        """POST forms on a page reached through a form (a confirmation step, a list that grew)
        that the crawl did not see: fuzzed too (page: where to go back to after one)."""
        if answer.type != "text/html" or not isinstance(answer.status, int) or answer.status >= 500:
            return
        known = {self.form_key(f) for f in self.forms[role]}
        parser = PageParser(url)
        parser.feed(answer.text())
        for form in parser.forms:
            if form.method != "GET" and self.match(form.action, form.method) and self.form_key(form) not in known:
                known.add(self.form_key(form))
                self.forms[role].append(Form(page, form.action, form.method, form.names, form.values, form.files))

    def form_key(self, form: Form) -> tuple:
        found = self.match(form.action, form.method)
        return (found[0].endpoint if found else form.action, tuple(form.names))

    # -- learning the app --
    def crawl(self, role: str) -> None:
        queue = [self.build(rule, {}) for rule in self.rules if not rule.arguments and "GET" in rule.methods]
        seen: set[str] = set()
        per_endpoint: Counter[str] = Counter()
        while queue and len(seen) < CRAWL_PER_ROLE:
            url = queue.pop(0)
            found = self.match(url)
            if url in seen or found is None or per_endpoint[found[0].endpoint] >= CRAWL_PER_ENDPOINT:
                continue
            rule, args = found
            seen.add(url)
            per_endpoint[rule.endpoint] += 1
            answer = self.send(role, "GET", url, "crawl")
            if not isinstance(answer.status, int):
                continue
            self.visited[role].append(url)
            if answer.status < 400 and not self.refused(answer):
                self.examples[rule.endpoint].append({k: str(v) for k, v in args.items()})
            links: list[tuple[str, str]] = []
            if answer.location:
                parts = urlsplit(answer.location)
                links.append((parts.path + (f"?{parts.query}" if parts.query else ""), ""))
            if answer.type == "text/html":
                parser = PageParser(url)
                parser.feed(answer.text())
                links += parser.links
                for form in parser.forms:
                    target = self.match(form.action, form.method)
                    if form.method == "GET" and target is not None:
                        self.keys[target[0].endpoint].update(form.names)
                    elif form.method != "GET":
                        self.forms[role].append(form)
                        if target is not None:
                            self.examples[target[0].endpoint].append({k: str(v) for k, v in target[1].items()})
            elif answer.type == "application/json" and answer.status < 400:
                try:
                    document = json.loads(answer.body)
                except ValueError:
                    document = None
                if url == OPENAPI:
                    self.openapi = document
                links += list(_json_urls(document))
            for link, rel in links:
                self.learn_link(rule.endpoint, link, rel)
                queue.append(link)

    def learn_link(self, page_endpoint: str, link: str, rel: str) -> None:
        found = self.match(link)
        if found is None:
            return
        rule, args = found
        self.examples[rule.endpoint].append({k: str(v) for k, v in args.items()})
        query = dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))
        self.keys[rule.endpoint].update(query)
        if "next" in rel.split() and rule.endpoint == page_endpoint and query \
                and set(query) not in [set(c) for c in self.contexts[rule.endpoint]]:
            self.contexts[rule.endpoint].append(query)

    def learn_openapi(self) -> dict[str, str]:
        """Query keys per route from the OpenAPI document; returns the smallest page size it allows."""
        assert self.openapi, "no OpenAPI document at " + OPENAPI
        templates = {PLACEHOLDER.sub(r"{\1}", rule.rule): rule.endpoint for rule in self.rules}
        small_page = {}
        for path, operations in self.openapi["paths"].items():
            endpoint = templates.get(path)
            assert endpoint, f"the OpenAPI document names {path}, which is no route"
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "query":
                        self.keys[endpoint].add(parameter["name"])
                        if parameter["name"] == "limit" and "minimum" in parameter.get("schema", {}):
                            small_page = {"limit": str(parameter["schema"]["minimum"])}
        assert small_page, "the OpenAPI document no longer gives a page size (limit) with a minimum"
        return small_page

    def find_later_pages(self, small_page: dict[str, str]) -> None:
        """Every list with the smallest page size: where that gives a next page, both are fuzzed."""
        for rule in self.rules:
            if "GET" not in rule.methods or rule.endpoint == "static":
                continue
            url = self.example_url(rule)
            answer = self.send("admin", "GET", f"{url}?{_qs(small_page)}", "smallest page", small_page)
            if not isinstance(answer.status, int) or answer.status >= 400:
                continue
            links: list[tuple[str, str]] = []
            if answer.type == "text/html":
                parser = PageParser(url)
                parser.feed(answer.text())
                links = parser.links
            elif answer.type == "application/json":
                links = list(_json_urls(json.loads(answer.body)))
            nexts = [link for link, rel in links if "next" in rel.split()
                     and (self.match(link) or [None])[0] is rule]
            if nexts:
                # A list that took the page size (its next link carries it) is fuzzed on its first
                # small page as well as on the next one.
                if small_page.items() <= dict(parse_qsl(urlsplit(nexts[0]).query)).items() \
                        and small_page not in self.contexts[rule.endpoint]:
                    self.contexts[rule.endpoint].insert(0, small_page)
                self.learn_link(rule.endpoint, nexts[0], "next")

    # -- fuzzing --
    def fuzz_queries(self, role: str) -> None:
        for rule in self.rules:
            if "GET" not in rule.methods:
                continue
            url = self.example_url(rule)
            base = self.send(role, "GET", url, "baseline")
            # Stopped before the view (the login redirect carries the query in next=): only the
            # unknown keys, on the first page, with the short list.
            refused = self.refused(base)
            own = [] if refused else sorted(self.keys[rule.endpoint])
            contexts = [{}] if refused else [{}] + self.contexts[rule.endpoint]
            full = not refused and ("query", rule.endpoint) not in self.fuzzed
            if full:
                self.fuzzed.add(("query", rule.endpoint))
            unknown = [k for k in COLLIDING_KEYS if k not in own]
            sent: set[str] = set()
            for n, context in enumerate(contexts):
                def label(keys: Iterable[str], context=context) -> str:
                    others = [k for k in context if k not in keys]
                    return "query " + "&".join(keys) + (f" (with {'&'.join(others)})" if others else "")

                for key in own + unknown:
                    for value in VALUES if full and key in own and n == 0 else SHORT_VALUES:
                        target = f"{url}?{_qs({**context, key: value})}"
                        if target not in sent:
                            sent.add(target)
                            self.send(role, "GET", target, label([key]), value)
                # The unknown keys get every other value too, all of them in one request (a route
                # should ignore them all); when that fails, each on its own says which.
                for value in VALUES:
                    if value in SHORT_VALUES or not unknown or not full or n:
                        continue
                    together = f"{url}?{_qs({**context, **dict.fromkeys(unknown, value)})}"
                    answer = self.send(role, "GET", together, label(unknown), value, record=False) \
                        if len(together) <= MAX_URL else None
                    if answer is None or answer.failure:
                        alone = [self.send(role, "GET", f"{url}?{_qs({**context, key: value})}", label([key]), value)
                                 for key in unknown]
                        if answer is not None and not any(a.failure for a in alone):
                            self.failures.append(answer.failure)

    def fuzz_paths(self, role: str) -> None:
        """Hostile path parameters: GETs for every role, other methods with the role's form values
        and a valid CSRF token (so that the request reaches the view)."""
        for rule in self.rules:
            if not rule.arguments:
                continue
            for method in self.methods(rule):
                if method != "GET" and role == "token":
                    continue
                data = None
                if method != "GET":
                    form = next((f for f in self.forms[role]
                                 if (self.match(f.action, method) or [None])[0] is rule), None)
                    data = dict(form.values) if form else {}
                for name in sorted(rule.arguments):
                    for value in VALUES:
                        args = {**self.example_args(rule), name: value}
                        if data is not None and role in self.csrf:
                            data["csrf_token"] = self.csrf[role]
                        answer = self.send(role, method, self.build(rule, args), f"path {name}", value, data=data)
                        if method != "GET" and isinstance(answer.status, int) and answer.status < 400 \
                                and role in LOGGED_IN:
                            self.still_in(role, "/account")

    def isolate(self, form: Form, protected_ids: set[str], sacrificial_call: str):
        """The form to fuzz instead (pointed at the victim user or the discarded call), or None."""
        found = self.match(form.action, form.method)
        if found is None:
            return None
        rule, args = found
        args = {k: str(v) for k, v in args.items()}
        if any("user" in k and v in protected_ids for k, v in args.items()):
            return None
        if rule.endpoint == "calls.delete" and args.get("call_id") != sacrificial_call:
            query = urlsplit(form.action).query
            form = Form(form.page, self.build(rule, {**args, "call_id": sacrificial_call}) +
                        (f"?{query}" if query else ""), form.method, form.names, form.values)
        return form

    def fuzz_forms(self, role: str, protected_ids: set[str], sacrificial_call: str) -> None:
        done: set[tuple] = set()
        index = 0
        while index < len(self.forms[role]):        # grows with the forms found on the answers
            form = self.isolate(self.forms[role][index], protected_ids, sacrificial_call)
            index += 1
            if form is None:
                continue
            endpoint = self.match(form.action, form.method)[0].endpoint
            if (endpoint, tuple(form.names)) in done:
                continue
            done.add((endpoint, tuple(form.names)))
            full = ("form", endpoint, tuple(form.names)) not in self.fuzzed
            self.fuzzed.add(("form", endpoint, tuple(form.names)))
            fields = [n for n in form.names if n != "csrf_token"]
            cases = [(n, v) for n in form.names for v in (VALUES if full and n != "csrf_token" else SHORT_VALUES)]
            if len(fields) > 1 and full:
                cases += [(None, v) for v in VALUES]
            for name, value in cases:
                data = {**form.values, "csrf_token": self.csrf.get(role, "")}
                if name is None:
                    data.update({n: value for n in fields})
                else:
                    data[name] = value
                answer = self.send(role, form.method, form.action, f"form {name or 'every field'}", value,
                                   data=data)
                self.learn_forms(role, form.action, form.page, answer)
                if isinstance(answer.status, int) and answer.status < 400:
                    self.still_in(role, form.page)
            for name in form.files:
                for file in FILE_VALUES if full else FILE_VALUES[:2]:
                    data = {**form.values, "csrf_token": self.csrf.get(role, "")}
                    answer = self.send(role, form.method, form.action, f"file {name}", file[0], data=data,
                                       files={name: file})
                    if isinstance(answer.status, int) and answer.status < 400:
                        self.still_in(role, form.page)
            if full:
                for what, body, value in self.json_cases(form):
                    answer = self.send(role, form.method, form.action, what, value, json_body=body)
                    if isinstance(answer.status, int) and answer.status < 400:
                        self.still_in(role, form.page)

    @staticmethod
    def json_cases(form: Form) -> list[tuple[str, str, Any]]:
        """(what, JSON body, value): the page's values as a JSON object with each field in turn of
        another type, then bodies that are no object."""
        values = {k: v for k, v in form.values.items() if k != "csrf_token"}
        cases = [(f"json {name}", json.dumps({**values, name: value}), json.dumps(value))
                 for name in form.names if name != "csrf_token" for value in JSON_VALUES]
        return cases + [("json body", body, body) for body in JSON_BODIES]

    def fuzz_login(self, base: str, start_login_server) -> None:
        """The login form's fields (on the second app: failed logins lock the address out), then a
        real login carrying each hostile next=."""
        browser = Browser(base)
        page = self.send("anonymous", "GET", "/login", "login page", browser=browser)
        parser = PageParser("/login")
        parser.feed(page.text())
        for form in parser.forms:
            if form.method == "GET":
                continue
            fields = [n for n in form.names if n != "csrf_token"]
            cases = [(n, v) for n in form.names for v in (SHORT_VALUES if n == "csrf_token" else VALUES)]
            cases += [(None, v) for v in VALUES]
            token = wt.csrf(page.text())
            for name, value in cases:
                data = {**form.values, "csrf_token": token}
                data.update({n: value for n in fields} if name is None else {name: value})
                answer = self.send("anonymous", form.method, form.action, f"form {name or 'every field'}", value,
                                   data=data, browser=browser)
                if answer.status == 429:         # the address limit: a new app has forgotten it
                    browser.close()
                    base = start_login_server()
                    browser = Browser(base)
                    token = wt.csrf(self.send("anonymous", "GET", form.page, "login page", browser=browser).text())
            for what, body, value in self.json_cases(form):
                answer = self.send("anonymous", form.method, form.action, what, value, json_body=body,
                                   browser=browser, headers={"X-CSRFToken": token})
                if answer.status == 429:
                    browser.close()
                    base = start_login_server()
                    browser = Browser(base)
                    token = wt.csrf(self.send("anonymous", "GET", form.page, "login page", browser=browser).text())
        browser.close()
        for value in VALUES:
            browser = Browser(base)
            url = f"/login?{_qs({'next': value})}"
            page = self.send("anonymous", "GET", url, "query next (then logging in)", value, browser=browser)
            parser = PageParser(url)
            parser.feed(page.text() if page.status == 200 else "")
            form = next((f for f in parser.forms if f.method == "POST"), None)
            if form is not None:
                self.send(LOGIN_USER[0], "POST", form.action, "log in with next", value, browser=browser,
                          data={**form.values, "csrf_token": wt.csrf(page.text()), "name": LOGIN_USER[0],
                                "password": LOGIN_USER[2]})
            browser.close()
        # Logins from browsers with hostile User-Agents (kept with each session), then the
        # Account page that lists those sessions.
        browser = None
        for value in _header_values():
            if browser is not None:
                browser.close()
            browser = Browser(base, {"User-Agent": value})
            page = self.send("anonymous", "GET", "/login", "login page", browser=browser)
            self.send(LOGIN_USER[0], "POST", "/login", "log in with User-Agent", value, browser=browser,
                      data={"csrf_token": wt.csrf(page.text()) if page.status == 200 else "",
                            "name": LOGIN_USER[0], "password": LOGIN_USER[2]})
        self.send(LOGIN_USER[0], "GET", "/account", "sessions listed", browser=browser)
        browser.close()

    def fuzz_headers(self, role: str) -> None:
        """The request headers the app reads: ranges and conditions where it serves files (the
        answer has an ETag or Accept-Ranges), the bearer token on the API."""
        values = _header_values()
        for rule in self.rules:
            if "GET" not in rule.methods:
                continue
            url = self.example_url(rule)
            base = self.send(role, "GET", url, "baseline")
            names = []
            if base.headers is not None and (base.headers.get("ETag") or base.headers.get("Accept-Ranges")):
                names += ["Range", "If-Range", "If-None-Match", "If-Modified-Since"]
            if rule.rule.startswith("/api/"):
                names.append("Authorization")
            if role == "anonymous" and not rule.arguments:
                names.append("Cookie")
            for name in names:
                for value in values:
                    sent = {"Range": b"bytes=", "Authorization": b"Bearer ",
                            "Cookie": b"hookline_session="}.get(name, b"") + value
                    self.send(role, "GET", url, f"header {name}", value, headers={name: sent})

    def fuzz_other_methods(self, role: str) -> None:
        for rule in self.rules:
            for method in ("DELETE", "PUT"):
                if method not in rule.methods:
                    self.send(role, method, self.example_url(rule), "method", method)

    def sweep(self, role: str) -> None:
        """The pages again, now that the forms have stored hostile values."""
        for url in self.visited[role]:
            self.send(role, "GET", url, "page after the forms")


def _wav_bytes(samples: np.ndarray, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


# -- the test ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_site(tmp_path_factory):
    data = wt.make_data(tmp_path_factory.mktemp("webfuzz"))
    db = dbmod.connect(data)
    try:
        for name, role, password in (VICTIM, TOKEN_USER, LOGIN_USER):
            users.create_user(db, name, role, password)
        token = users.create_token(db, TOKEN_USER[0], "fuzz")[1]
        for _ in range(AUDIT_SEED):
            audit.append(db, "login", user="admin", remote_addr="192.0.2.1")
        # A call whose number is one of VALUES, so that erasing it shows the confirmation's form.
        [kept] = db["calls"].rows_where("status = 'discarded'", limit=1)
        catalog.create_call(db, {**kept, "id": catalog.new_call_id(), "remote_number": "1" + ERASABLE})
        # Lists with an entry, so that the forms that remove one are on the pages.
        dnr.add(db, "+1 415 555 0100", "Doctor", "admin", "US")
        tone = np.sin(np.arange(8000) / 3) * 0.5
        stored.save(data, *convert.decode(_wav_bytes(tone)), "welcome.wav", "admin")
    finally:
        db.close()
    server = wt.start(data)
    server.token = token
    login_servers = []

    def start_login_server() -> str:
        """A second app on the same data: the login form's failures count against its address
        limit, not the one the fuzzing users log in through."""
        if login_servers:
            login_servers.pop().close()
        login_servers.append(wt.start(data))
        return login_servers[-1].base

    server.start_login_server = start_login_server
    yield server
    for s in login_servers:
        s.close()
    server.close()


@pytest.fixture(scope="module")
def app_log():
    collector = _Collector()
    loggers = [logging.getLogger(name) for name in ("hookline.web", "waitress")]
    for logger in loggers:
        logger.addHandler(collector)
    yield collector
    for logger in loggers:
        logger.removeHandler(collector)


def test_no_request_gets_a_server_error(fuzz_site, app_log, tmp_path):
    started = time.monotonic()
    fuzzer = Fuzzer(fuzz_site, web.create_app(tmp_path / "routes"), app_log)
    fuzzer.browsers["anonymous"] = Browser(fuzz_site.base)
    fuzzer.browsers["token"] = Browser(fuzz_site.base, {"Authorization": f"Bearer {fuzz_site.token}"},
                                       keep_cookies=False)
    for role in LOGGED_IN:
        fuzzer.login(role)
    db = dbmod.connect(fuzz_site.data)
    try:
        protected = {str(u["id"]) for u in users.list_users(db) if u["name"] not in (VICTIM[0],)}
        sacrificial_call = db.execute("SELECT id FROM calls WHERE status = 'discarded' AND remote_number IS NOT ? "
                                      "LIMIT 1", ["1" + ERASABLE]).fetchone()[0]
    finally:
        db.close()

    try:
        for role in ("admin", "manager", "listener", "token", "anonymous"):
            fuzzer.crawl(role)
        small_page = fuzzer.learn_openapi()
        fuzzer.find_later_pages(small_page)
        paged = [e for e, keys in fuzzer.keys.items() if set(small_page) <= keys]
        assert paged and all(fuzzer.contexts[e] for e in paged), \
            f"lists that take {small_page} never reached a second page: the fuzzing would miss what happens there"

        # admin first: it reaches every view, so it is the role that gives each one every value
        for role in ("admin", "manager", "listener", "token", "anonymous"):
            fuzzer.fuzz_queries(role)
            fuzzer.fuzz_paths(role)
        for role in ("admin", "manager", "listener"):
            fuzzer.fuzz_forms(role, protected, sacrificial_call)
        fuzzer.fuzz_login(fuzz_site.start_login_server(), fuzz_site.start_login_server)
        for role in ("admin", "anonymous", "token"):
            fuzzer.fuzz_headers(role)
        for role in ("admin", "anonymous"):
            fuzzer.fuzz_other_methods(role)
        for role in ROLES:
            fuzzer.sweep(role)
    finally:
        for browser in fuzzer.browsers.values():
            browser.close()

    elapsed = time.monotonic() - started
    print(f"{fuzzer.sent} requests in {elapsed:.1f} s")
    if fuzzer.failures:
        classes = Counter((f.method, fuzzer.endpoint(f.url, f.method), f.field) for f in fuzzer.failures)
        summary = "\n".join(f"  {n:4} x {method} {endpoint} [{what}]" for (method, endpoint, what), n
                            in sorted(classes.items(), key=lambda kv: (-kv[1], kv[0])))
        details = "\n".join("  " + f.line() for f in fuzzer.failures)
        pytest.fail(f"{len(fuzzer.failures)} of {fuzzer.sent} requests ({elapsed:.0f} s) got a server error "
                    f"or made the app log an error\n"
                    f"by route and parameter:\n{summary}\nevery one:\n{details}", pytrace=False)
