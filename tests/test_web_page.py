"""The dashboard, the call list and a call's page, and the audio routes, over real HTTP.

A data folder is made by the real simulator (`hookline simulate`) and given three users (admin,
manager, listener); the real app then runs under waitress on a free port (`web.serve_in_thread`)
and is asked what a browser would ask, with the session cookie a real login gave (plain
http.client: every header is the test's own, nothing is followed or decoded behind its back).

Who may reach which route is tests/test_web_access.py's matrix, search filters and bad input
tests/test_web_calls.py's; this file checks what the pages show and how the audio is served.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import re
import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

import web
import webtools as wt  # also puts the test process in TZ=UTC: the pages show the box's zone
from appliance.store import audit, catalog, db as dbmod, users

SCENARIO = """
[appliance]
start = "2026-03-15T14:12:00Z"
sample_rate = 8000
seed = 5

[[line]]
id = 1
offhook = "gpio"
callerid = "none"

[[line]]
id = 2
offhook = "gpio"
callerid = "none"

[[call]]
line = 1
at = 0.5
direction = "outbound"
talk = 4.0
near = "tone:440@-12"
far = "tone:1000@-12"

[[call]]
line = 2
at = 1.0
direction = "inbound"
rings = 1
talk = 3.0
near = "noise@-30"
far = "tone:660@-16"

[[call]]
line = 1
at = 8.0
direction = "outbound"
talk = 1.0                       # shorter than min_call_s (2 s): discarded
near = "tone:700@-12"
far = "silence"

[[call]]
line = 2
at = 10.0
direction = "outbound"
talk = 5.0
near = "tone:350@-20"
far = "noise@-28"
"""

# A server thread that dies (e.g. EBADF from closing its sockets under select()) fails the test.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

CSP = ("default-src 'self'; media-src 'self'; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
SESSION_COOKIE = "hookline_session"
ROLES = ("admin", "manager", "listener")     # each user is named after its role
CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+(")')


# -- helpers -------------------------------------------------------------------------------------
def _session_from(headers: http.client.HTTPMessage) -> str | None:
    jar = SimpleCookie()
    for header in headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return jar[SESSION_COOKIE].value if SESSION_COOKIE in jar else None


class Site:
    """The real app under waitress on 127.0.0.1, and a plain HTTP client for it that logs in as
    each role once (a real POST to /login with its CSRF token) and sends that session cookie."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.server = web.serve_in_thread(data, "127.0.0.1", 0)
        self.port = self.server.port
        self._cookies: dict[str, str] = {}

    def send(self, path: str, headers: dict[str, str] | None = None, method: str = "GET",
             body: bytes | str | None = None, cookie: str | None = None,
             ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = dict(headers or {})
        if cookie:
            headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def login(self, name: str, password: str | None = None,
              next_url: str | None = None) -> tuple[str, http.client.HTTPMessage]:
        """Log in the way the login form does: (the session cookie, the answer's headers)."""
        status, headers, body = self.send("/login")
        assert status == 200, body[:300]
        form = urlencode({"csrf_token": wt.csrf(body.decode()), "name": name,
                          "password": password or wt.PASSWORDS[name]})
        target = "/login" + (f"?{urlencode({'next': next_url})}" if next_url else "")
        status, headers, body = self.send(target, {"Content-Type": "application/x-www-form-urlencoded"},
                                          "POST", form, cookie=_session_from(headers))
        assert status == 302, (status, body[:300])
        cookie = _session_from(headers)
        assert cookie
        return cookie, headers

    def cookie(self, role: str) -> str:
        if role not in self._cookies:
            self._cookies[role], _ = self.login(role)
        return self._cookies[role]

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET",
            role: str | None = "admin") -> tuple[int, http.client.HTTPMessage, bytes]:
        """A request as this role's logged-in user (role=None: nobody is logged in)."""
        return self.send(path, headers, method, cookie=self.cookie(role) if role else None)

    def page(self, path: str = "/", role: str | None = "admin") -> "Page":
        status, headers, body = self.get(path, role=role)
        assert status == 200, (path, status, body[:500])
        assert headers["Content-Type"].startswith("text/html")
        return Page(body.decode("utf-8"))

    def close(self) -> None:
        self.server.close()


class Page(HTMLParser):
    """What a browser would see of a page: its tags in order, and the text of each call row."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, str] = {}        # call id -> the row's text
        self.row_order: list[str] = []
        self.inline_script = ""
        self._row: str | None = None
        self._in_script = False
        self._in_template = 0                 # a <template>'s content is not shown
        self.text_parts: list[str] = []
        self.feed(html)
        self.text = " ".join(" ".join(self.text_parts).split())

    def handle_starttag(self, tag, attrs):
        if tag == "template":
            self._in_template += 1
        if self._in_template:
            return
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "tr" and (a.get("id") or "").startswith("call-"):
            self._row = a["id"][len("call-"):]
            self.row_order.append(self._row)
            self.rows[self._row] = ""
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "template":
            self._in_template -= 1
        if tag == "tr":
            self._row = None
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_template:
            return
        if self._in_script:
            self.inline_script += data.strip()
            return
        self.text_parts.append(data)
        if self._row:
            self.rows[self._row] = " ".join((self.rows[self._row] + " " + data).split())

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def hrefs(self) -> list[str]:
        return [a["href"] for a in self.find("a") if a.get("href")]

    def next_page(self) -> str | None:
        links = [a["href"] for a in self.find("a", rel="next")]
        assert len(links) <= 1, links
        return links[0] if links else None


def catalog_calls(data: Path) -> list[dict]:
    db = dbmod.connect(data)
    try:
        return catalog.list_calls(db)
    finally:
        db.close()


def catalog_events(data: Path) -> list[dict]:
    db = dbmod.connect(data)
    try:
        return catalog.list_events(db)
    finally:
        db.close()


def catalog_duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def copy_data(data: Path, to: Path) -> Path:
    shutil.copytree(data, to, ignore=shutil.ignore_patterns("sim"))  # sim/ holds FIFOs
    return to


def without_csrf_tokens(html: bytes) -> bytes:
    """A page's HTML with its CSRF token values blanked (each page gets a freshly signed one)."""
    return CSRF_VALUE.sub(r"\1\2", html.decode()).encode()


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(simulated_data) -> Path:
    folder = simulated_data(SCENARIO, name="web")
    db = dbmod.connect(folder)
    try:
        for role in ROLES:
            users.create_user(db, role, role, wt.PASSWORDS[role])
    finally:
        db.close()
    return folder


@pytest.fixture(scope="module")
def calls(data) -> list[dict]:
    rows = catalog_calls(data)
    assert [c["status"] for c in rows] == ["complete", "complete", "discarded", "complete"], rows
    return rows


@pytest.fixture(scope="module")
def site(data):
    s = Site(data)
    yield s
    s.close()


@pytest.fixture
def kept(calls) -> dict:
    return calls[0]


@pytest.fixture
def discarded(calls) -> dict:
    return next(c for c in calls if c["status"] == "discarded")


@pytest.fixture
def status_file(data):
    """The data folder's run/status.json, put back as the simulation left it afterwards."""
    path = data / "run" / "status.json"
    original = path.read_bytes()
    yield path
    path.write_bytes(original)


TAMPERED_PATHS = {
    "parent": "../hookline.db",
    "dotdotinside": "recordings/../hookline.db",
    "deepdotdot": "recordings/2026/../../hookline.db",
    "absolute": None,                         # the copy's own hookline.db, by its absolute path
    "etcpasswd": "/etc/passwd",
    "secretkey": "web-secret.key",
    "symlinkout": "recordings/link.mp3",
    "directory": "recordings/2026",
    "missing": "recordings/2026/03/15/missing.mp3",
    "nulbyte": "recordings/2026\x00/x.mp3",
}


@pytest.fixture(scope="module")
def tampered(data, calls, tmp_path_factory):
    """A copy of the data folder whose catalog rows point at files they must not reach.

    The rows' ids are alphanumeric like real ones, so what refuses them is the path check
    (web/calls.py recording_file), not the shape of the id."""
    copy = copy_data(data, tmp_path_factory.mktemp("tampered") / "data")
    real = calls[0]
    (copy / "recordings" / "link.mp3").symlink_to(copy / "hookline.db")
    (copy / "web-secret.key").write_bytes(b"k" * 32)
    paths = {name: path or str(copy / "hookline.db") for name, path in TAMPERED_PATHS.items()}
    conn = sqlite3.connect(copy / "hookline.db")
    with conn:
        # The real row itself, tampered in place, as the brief's attacker would.
        conn.execute("UPDATE calls SET path = ? WHERE id = ?", ["../hookline.db", real["id"]])
        cols = [r[1] for r in conn.execute("PRAGMA table_info(calls)")]
        values = conn.execute("SELECT * FROM calls WHERE id = ?", [real["id"]]).fetchone()
        row = dict(zip(cols, values))
        insert = f"INSERT INTO calls ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"
        for name, path in paths.items():
            conn.execute(insert, [{**row, "id": f"t{name}", "path": path}[c] for c in cols])
        # Started now, so that the dashboard's "today" list shows it too.
        conn.execute(insert, [{**row, "id": "thostilename", "remote_number": "<b>5551234</b>",
                               "remote_name": "<script>alert(1)</script>",
                               "started_at": catalog.iso(time.time() - 1)}[c] for c in cols])
    conn.close()
    s = Site(copy)
    yield s, real, ["real", *paths]
    s.close()


# -- the call list -------------------------------------------------------------------------------
def test_the_list_shows_every_call_newest_first_each_linking_to_its_page(site, calls):
    page = site.page("/calls", role="listener")
    assert page.row_order == [c["id"] for c in reversed(calls)]
    assert "Started (UTC)" in page.text and "4 calls." in page.text
    for c in calls:
        row = page.rows[c["id"]]
        started = c["started_at"][:19].replace("T", " ")        # 2026-03-15 14:12:08
        assert started in row
        assert f" {c['line']} " in f" {row} "
        assert {"complete": "recorded", "discarded": "not kept"}[c["status"]] in row   # in words
        assert "direction not known" in row and "number not known" in row   # gpio lines without caller ID
        assert catalog_duration(c["duration_s"]) in row
        assert f"/calls/{c['id']}" in page.hrefs()
    # No player in the list any more, and nothing to download from it: that is the call's page.
    assert not page.find("audio")
    assert not [h for h in page.hrefs() if h.endswith(("/audio", "/download")) or "download=" in h]


def test_the_call_page_has_the_player_and_managers_a_download_link(site, calls):
    for c in (c for c in calls if c["path"]):
        for role in ROLES:
            page = site.page(f"/calls/{c['id']}", role=role)
            players = page.find("audio")
            assert len(players) == 1 and players[0]["id"] == "audio", role
            assert players[0]["src"] == f"/calls/{c['id']}/audio" and "controls" in players[0]
            assert c["started_at"][:19].replace("T", " ") in page.text
            downloads = [h for h in page.hrefs() if "download" in h]
            if role == "listener":
                assert downloads == [], downloads
            else:
                assert downloads == [f"/calls/{c['id']}/download"]
                assert page.find("a", id="download")[0]["href"] == downloads[0]
                assert site.get(downloads[0], role=role)[0] == 200
        assert site.get(f"/calls/{c['id']}/download", role="listener")[0] == 403


def test_discarded_call_shows_the_reason_from_the_events_log(site, discarded, data):
    reasons = [e["detail"]["reason"] for e in catalog_events(data)
               if e["kind"] == "discard" and e["call_id"] == discarded["id"]]
    assert reasons and "min_call_s" in reasons[0]
    row = site.page("/calls").rows[discarded["id"]]
    assert "Too short to keep: 1 second of talk, the minimum is 2 seconds" in row   # in plain words
    assert reasons[0] not in row and "not kept" in row and "discarded" not in row
    # Its own page says it was not kept and why, with no player and nothing to download.
    page = site.page(f"/calls/{discarded['id']}")
    assert "This call was not kept. Too short to keep: 1 second of talk, the minimum is 2 seconds." in page.text
    assert not page.find("audio") and not [h for h in page.hrefs() if "download" in h]


def test_a_discarded_call_without_its_event_says_no_reason_was_recorded(data, tmp_path):
    copy = copy_data(data, tmp_path / "data")
    conn = sqlite3.connect(copy / "hookline.db")
    with conn:
        conn.execute("INSERT INTO calls (id, line, started_at, duration_s, status, created_at) VALUES "
                     "('noevent01', 3, '2026-01-01T00:00:00.000Z', 1.0, 'discarded', '2026-01-01T00:00:00.000Z')")
    conn.close()
    site = Site(copy)
    try:
        row = site.page("/calls?line=3").rows["noevent01"]
        assert "not kept" in row
        assert "No reason was recorded" in row
    finally:
        site.close()


def test_line_filter(site, calls):
    for line in (1, 2):
        page = site.page(f"/calls?line={line}", role="listener")
        assert page.row_order == [c["id"] for c in reversed(calls) if c["line"] == line]
        assert "2 calls match." in page.text
        assert [o.get("value") for o in page.find("option") if "selected" in o and o.get("value", "").isdigit()] \
            == [str(line)]
    page = site.page("/calls?line=7")
    assert page.row_order == [] and "No calls match." in page.text


def test_pages_of_calls_newest_first_and_next_links_reach_every_call_once(data, tmp_path):
    copy = copy_data(data, tmp_path / "data")
    conn = sqlite3.connect(copy / "hookline.db")
    # 210 older calls on line 3, three to a second: pages must also split ties correctly.
    with conn:
        conn.executemany(
            "INSERT INTO calls (id, line, started_at, duration_s, status, created_at) "
            "VALUES (?, 3, ?, 1.0, 'discarded', '2026-01-01T00:00:00.000Z')",
            [(f"old{i:03d}", f"2026-01-01T00:{i // 180:02d}:{i // 3 % 60:02d}.000Z") for i in range(210)])
    conn.close()
    newest = [c["id"] for c in reversed(catalog_calls(data))]
    old = [f"old{i:03d}" for i in range(209, -1, -1)]       # same second: the later insert first
    site = Site(copy)
    try:
        first = site.page("/calls", role="listener")
        assert first.row_order == (newest + old)[:50]      # 50 a page unless asked
        assert "214 calls." in first.text

        def walk(url: str) -> tuple[list[str], int]:
            seen, pages = [], 0
            while url:
                page = site.page(url, role="listener")
                seen += page.row_order
                pages += 1
                url = page.next_page()
                assert pages < 100
            return seen, pages

        assert walk("/calls") == (newest + old, 5)
        assert walk("/calls?limit=7") == (newest + old, 31)
        everything = site.page("/calls?limit=500")
        assert everything.row_order == newest + old and everything.next_page() is None
        # The filters stay on the next pages.
        assert walk("/calls?line=3&limit=100") == (old, 3)
        nxt = site.page("/calls?line=3&limit=100").next_page()
        assert parse_qs(urlsplit(nxt).query)["line"] == ["3"]
        assert parse_qs(urlsplit(nxt).query)["limit"] == ["100"]
    finally:
        site.close()


# -- the dashboard -------------------------------------------------------------------------------
def test_live_line_state_on_the_dashboard(site, status_file, calls):
    def card(page, line: int) -> tuple[str, str, bool]:
        """(the card's class, its state in words, whether its meters are hidden)"""
        tags = page.tags[page.tags.index(("li", page.find("li", id=f"line-{line}")[0])):]
        levels = next(a for t, a in tags if t == "span" and a.get("class") == "levels")
        words = re.search(rf'id="line-{line}".*?<span class="state-text">([^<]*)</span>', page.html, re.S)[1]
        return tags[0][1]["class"], words, "hidden" in levels

    # The status the simulation left: the recorder said it stopped. The cards say so, grey and
    # without meters: never green "idle" with the last call's levels.
    page = site.page("/", role="listener")
    assert "The recorder is stopped: no calls are being recorded." in page.text
    assert card(page, 1) == card(page, 2) == ("line-card state-stopped", "recorder not running", True)
    assert "idle" not in page.text
    # What web/static/dashboard.js needs to keep the cards live.
    assert page.find("body")[0]["data-status-url"] == "/api/v1/status"
    assert page.find("body")[0]["data-today-url"] == "/today"
    assert "/static/dashboard.js" in [s.get("src") for s in page.find("script")]
    for cls in ("line-name", "state-text", "call-time"):
        assert len(page.find("span", **{"class": cls})) == 2, cls
    assert len(page.find("meter", **{"class": "level-near"})) == len(page.find("meter", **{"class": "level-far"})) == 2

    status = json.loads(status_file.read_text())
    status["updated_at"] = time.time() - 60          # a recorder that died a minute ago without a word
    status["running"] = True
    status["lines"][0].update(state="recording", call_s=83.4, level_near_dbfs=-21.5, level_far_dbfs=-30.2)
    status_file.write_text(json.dumps(status))
    page = site.page("/")
    assert "The recorder has stopped reporting: is it running?" in page.text
    assert len(page.find("li", **{"class": "warning warning-recorder"})) == 1
    assert card(page, 1) == ("line-card state-stopped", "recorder not running", True)
    assert "1:23" not in page.text and "-22 dBFS" not in page.text

    status["updated_at"] = time.time()                # a live recorder
    status["lines"].append({**status["lines"][1], "line": 3, "name": "<i>Front desk</i>"})  # not in the catalog yet
    status_file.write_text(json.dumps(status))
    page = site.page("/")
    assert "stopped reporting" not in page.text and "not running" not in page.text
    assert card(page, 1) == ("line-card state-recording", "recording", False)
    assert card(page, 2) == ("line-card state-idle", "idle", False)
    assert "Line 1 recording 1:23" in page.text
    assert "<i>Front desk</i> idle" in page.text    # a line the box does not know yet: the name it reports
    assert "&lt;i&gt;Front desk&lt;/i&gt;" in page.html
    assert [m["value"] for m in page.find("meter")][:2] == ["-21.5", "-30.2"]
    assert "-22 dBFS" in page.text and "-30 dBFS" in page.text
    # The JSON the script polls says the same.
    _, _, body = site.get("/api/v1/status", role="listener")
    doc = json.loads(body)
    line1 = doc["lines"][0]
    assert (line1["line"], line1["name"], line1["state"], line1["state_text"], line1["call_s"]) == \
        (1, "Line 1", "recording", "recording", 83.4)
    assert doc["recorder"]["running"] is True

    # No status file at all: the lines the catalog knows, each "recorder not running".
    status_file.unlink()
    page = site.page("/")
    assert card(page, 1) == card(page, 2) == ("line-card state-stopped", "recorder not running", True)
    assert not page.find("li", id="line-3")
    warnings = page.find("li", **{"class": "warning warning-recorder"})
    assert len(warnings) == 1 and "The recorder is not running: no calls are being recorded." in page.text
    _, _, body = site.get("/api/v1/status", role="listener")
    doc = json.loads(body)
    assert doc["recorder"]["running"] is False
    assert [(ln["line"], ln["state"], ln["level_near_dbfs"]) for ln in doc["lines"]] == \
        [(1, "stopped", None), (2, "stopped", None)]
    # The call list does not need the daemon.
    assert len(site.page("/calls").row_order) == len(calls)


# -- every page ----------------------------------------------------------------------------------
def test_pages_need_nothing_from_the_internet(site, kept):
    assets = set()
    for path, role in (("/login", None), ("/", "listener"), ("/calls", "listener"),
                       (f"/calls/{kept['id']}", "admin")):
        if role is None:
            status, _, body = site.get(path, role=None)
            assert status == 200
            page = Page(body.decode())
        else:
            page = site.page(path, role=role)
        scripts = page.find("script")
        assert all(s.get("src") for s in scripts), path
        assert page.inline_script == "", path                       # script-src 'self' forbids it
        assert not any("style" in a for _, a in page.tags) and not page.find("style"), path
        assets |= {s["src"] for s in scripts} | {a["href"] for a in page.find("link")}
    assert {"/static/hookline.css", "/static/dashboard.js", "/static/player.js"} <= assets
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        status, headers, body = site.get(url, role=None)      # the login page needs them first
        assert status == 200 and body, url
        assert headers["Content-Security-Policy"] == CSP
        if url.endswith(".js"):
            assert "javascript" in headers["Content-Type"], url      # nosniff: must be the right type
        elif url.endswith(".css"):
            assert headers["Content-Type"].startswith("text/css"), url


def test_a_box_without_a_catalog_yet(tmp_path):
    data = tmp_path / "empty"
    site = Site(data)
    try:
        status, headers, _ = site.get("/", role=None)
        assert status == 302 and headers["Location"] == "/setup"      # no user yet: the first-run page
        db = dbmod.connect(data)
        try:
            users.create_user(db, "admin", "admin", wt.PASSWORDS["admin"])
        finally:
            db.close()
        page = site.page("/")
        assert "No line is reporting" in page.text and "No calls yet today." in page.text
        page = site.page("/calls")
        assert page.row_order == [] and "0 calls." in page.text and "No calls." in page.text
        assert page.next_page() is None
        _, _, body = site.get("/api/v1/calls")
        assert json.loads(body) == {"calls": [], "next": None}
    finally:
        site.close()


def test_concurrent_requests_each_get_their_own_catalog_connection(site, calls, kept):
    """waitress serves from a pool of threads; sqlite-utils objects must not cross them."""
    cookie = site.cookie("admin")
    paths = ["/", "/calls", "/calls?line=1", "/calls?line=2", f"/calls/{kept['id']}",
             f"/calls/{kept['id']}/audio", f"/calls/{kept['id']}/download", "/api/v1/calls"] * 8
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: site.send(p, cookie=cookie), paths))
    assert [(path, status) for path, (status, _, _) in zip(paths, results)] == [(p, 200) for p in paths]
    for one in ("/calls", "/calls?line=2", "/api/v1/calls"):
        bodies = {without_csrf_tokens(body) for path, (_, _, body) in zip(paths, results) if path == one}
        assert len(bodies) == 1, one
    audio = {body for path, (_, _, body) in zip(paths, results) if path.endswith(("/audio", "/download"))}
    assert audio == {(site.data / kept["path"]).read_bytes()}
    # Downloads are audited from every thread at once: the log's hash chain stays whole.
    db = dbmod.connect(site.data)
    try:
        assert audit.verify(db) is None
        assert len(audit.entries(db, action="download", target=kept["id"], limit=100)) >= 8
    finally:
        db.close()


def test_close_stops_the_server(data):
    site = Site(data)
    assert site.get("/", role="listener")[0] == 200
    site.close()
    assert not site.server._thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        site.send("/login")


# -- security headers ----------------------------------------------------------------------------
@pytest.mark.parametrize("role, path, status", [
    (None, "/", 302), (None, "/calls/{id}/audio", 302), (None, "/api/v1/calls", 401),
    (None, "/login", 200), (None, "/static/hookline.css", 200), (None, "/static/nope.css", 404),
    ("listener", "/", 200), ("listener", "/calls", 200), ("listener", "/calls?line=1", 200),
    ("listener", "/calls?line=abc", 400), ("listener", "/calls/{id}", 200), ("listener", "/calls/{id}/audio", 200),
    ("listener", "/calls/{id}/download", 403), ("listener", "/settings", 403),
    ("admin", "/calls/{id}/download", 200), ("admin", "/calls/{id}/audio?download=1", 302),
    ("admin", "/calls/nope/audio", 404), ("admin", "/calls/{discarded}/audio", 404),
    ("admin", "/no/such/page", 404), ("admin", "/api/v1/calls/{id}", 200), ("admin", "/api/v1/nope", 404),
])
def test_security_headers_on_every_response(site, kept, discarded, role, path, status):
    got, headers, _ = site.get(path.format(id=kept["id"], discarded=discarded["id"]), role=role)
    assert got == status
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    if not path.startswith("/static/"):
        assert "private" in headers["Cache-Control"], headers["Cache-Control"]   # never in a shared cache
        if headers["Content-Type"].startswith("text/html"):
            assert "no-store" in headers["Cache-Control"]


# -- who is not logged in -----------------------------------------------------------------------
def test_nothing_without_a_login_pages_go_to_the_login_and_back(site, kept, discarded):
    pages = ["/", "/calls", "/calls?line=2&limit=2", f"/calls/{kept['id']}", f"/calls/{discarded['id']}",
             f"/calls/{kept['id']}/audio", f"/calls/{kept['id']}/download", f"/calls/{kept['id']}/audio?download=1",
             "/calls/0123456789/audio"]
    api = ["/api/v1/calls", "/api/v1/calls?line=2", f"/api/v1/calls/{kept['id']}",
           f"/api/v1/calls/{kept['id']}/audio", f"/api/v1/calls/{kept['id']}/audio?download=1", "/api/v1/status"]
    audio = (site.data / kept["path"]).read_bytes()
    for cookie in (None, "not-a-session", site.cookie("admin")[:-4] + "AAAA"):   # none, garbage, forged
        for path in pages + api:
            for headers, method in (({}, "GET"), ({"Range": "bytes=0-99"}, "GET"), ({}, "HEAD")):
                status, answer, body = site.send(path, headers, method, cookie=cookie)
                assert audio[:100] not in body and b"SQLite format" not in body
                if path.startswith("/api/"):
                    assert status == 401, (path, method, status)
                    assert answer["WWW-Authenticate"].startswith("Bearer")
                    assert method == "HEAD" or json.loads(body)["error"] == "unauthorized"
                    continue
                assert status == 302, (path, method, status)
                location = urlsplit(answer["Location"])
                assert location.path == "/login" and not location.netloc
                if method == "GET":      # the login page then brings the person back to the page
                    assert parse_qs(location.query)["next"] == [path], answer["Location"]
    # Logging in from there leads back to the page asked for.
    for path in ("/calls?line=2&limit=2", f"/calls/{kept['id']}"):
        _, headers = site.login("listener", next_url=path)
        assert headers["Location"] == path
    for hostile in ("https://evil.example/", "//evil.example/calls", "/\\evil.example"):
        _, headers = site.login("listener", next_url=hostile)
        assert headers["Location"] == "/", hostile


# -- the audio -----------------------------------------------------------------------------------
def test_audio_is_the_exact_file(site, data, kept):
    expected = (data / kept["path"]).read_bytes()
    status, headers, body = site.get(f"/calls/{kept['id']}/audio", role="listener")
    assert status == 200
    assert headers["Content-Type"] == "audio/mpeg"
    assert headers["Accept-Ranges"] == "bytes"
    assert body == expected
    assert int(headers["Content-Length"]) == len(body) == kept["size_bytes"]
    assert hashlib.sha256(body).hexdigest() == kept["sha256"]


@pytest.mark.parametrize("range_header, start, end", [
    ("bytes=0-99", 0, 99),
    ("bytes=1000-1499", 1000, 1499),
    ("bytes=-64", None, None),          # the last 64 bytes
    ("bytes=2000-", 2000, None),        # from there to the end
])
def test_audio_range_request(site, data, kept, range_header, start, end):
    expected = (data / kept["path"]).read_bytes()
    size = len(expected)
    if start is None:
        start, end = size - 64, size - 1
    if end is None:
        end = size - 1
    status, headers, body = site.get(f"/calls/{kept['id']}/audio", {"Range": range_header}, role="listener")
    assert status == 206
    assert headers["Content-Type"] == "audio/mpeg"
    assert headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert len(body) == end - start + 1 == int(headers["Content-Length"])
    assert body == expected[start:end + 1]


def test_audio_unsatisfiable_range(site, kept):
    for path, role in ((f"/calls/{kept['id']}/audio", "listener"), (f"/calls/{kept['id']}/download", "admin")):
        status, headers, body = site.get(path, {"Range": "bytes=999999999-"}, role=role)
        assert status == 416, path
        assert headers["Content-Range"] == f"bytes */{kept['size_bytes']}"
        assert headers["Content-Security-Policy"] == CSP
        assert b"ID3" not in body[:3]


def test_audio_head_and_revalidation(site, kept):
    url = f"/calls/{kept['id']}/audio"
    status, headers, body = site.get(url, method="HEAD", role="listener")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == kept["size_bytes"]
    assert headers["Content-Type"] == "audio/mpeg" and headers["ETag"] and headers["Last-Modified"]
    status, _, body = site.get(url, {"If-None-Match": headers["ETag"]}, role="listener")
    assert status == 304 and body == b""
    status, _, body = site.get(url, {"If-Modified-Since": headers["Last-Modified"]}, role="listener")
    assert status == 304 and body == b""
    status, _, body = site.get(url, {"If-None-Match": '"something-else"'}, role="listener")
    assert status == 200 and len(body) == kept["size_bytes"]
    # A stale If-Range gets the whole file, a current one the part.
    status, _, body = site.get(url, {"Range": "bytes=0-9", "If-Range": '"something-else"'}, role="listener")
    assert status == 200 and len(body) == kept["size_bytes"]
    status, _, body = site.get(url, {"Range": "bytes=0-9", "If-Range": headers["ETag"]}, role="listener")
    assert status == 206 and len(body) == 10


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_download_names_the_file(site, data, kept, role):
    status, headers, body = site.get(f"/calls/{kept['id']}/download", role=role)
    assert status == 200
    name = Path(kept["path"]).name
    assert headers["Content-Disposition"] == f"attachment; filename={name}"
    assert headers["Content-Type"] == "audio/mpeg"
    assert body == (data / kept["path"]).read_bytes()
    # The old link form leads there.
    status, headers, _ = site.get(f"/calls/{kept['id']}/audio?download=1", role=role)
    assert status == 302 and urlsplit(headers["Location"]).path == f"/calls/{kept['id']}/download"


def test_a_listener_may_listen_but_not_download(site, kept):
    status, headers, body = site.get(f"/calls/{kept['id']}/download", role="listener")
    assert status == 403
    assert "Content-Disposition" not in headers and b"ID3" not in body[:3] and len(body) < kept["size_bytes"]
    status, headers, body = site.get(f"/calls/{kept['id']}/download", {"Range": "bytes=0-99"}, role="listener")
    assert status == 403 and "Content-Range" not in headers
    # Following the old ?download=1 link ends at the same refusal.
    status, headers, _ = site.get(f"/calls/{kept['id']}/audio?download=1", role="listener")
    assert status == 302
    assert site.get(urlsplit(headers["Location"]).path, role="listener")[0] == 403
    assert site.get(f"/calls/{kept['id']}/audio", role="listener")[0] == 200


@pytest.mark.parametrize("call_id", [
    "0123456789",                                  # no such call
    "a" * 33,                                      # longer than any id
    quote("../../etc/passwd", safe=""),            # ..%2F..%2Fetc%2Fpasswd
    quote("../../hookline.db", safe=""),
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "..%5C..%5Chookline.db",
    "%00",
    "%2E%2E",
    quote("0123456789' OR '1'='1", safe=""),
])
@pytest.mark.parametrize("suffix", ["", "/audio", "/download"])
def test_unknown_or_hostile_id_is_404(site, call_id, suffix):
    status, _, body = site.get(f"/calls/{call_id}{suffix}")
    assert status == 404
    assert b"root:" not in body and b"SQLite format" not in body


def test_audio_of_a_discarded_call_is_404(site, discarded):
    assert discarded["path"] is None
    for path in (f"/calls/{discarded['id']}/audio", f"/calls/{discarded['id']}/download"):
        status, headers, body = site.get(path)
        assert status == 404, path
        assert headers["Content-Type"].startswith("text/html") and "Content-Disposition" not in headers


def test_tampered_catalog_paths_are_404(tampered):
    site, real, names = tampered
    secret = (site.data / "web-secret.key").read_bytes()
    for name in names:
        call_id = real["id"] if name == "real" else f"t{name}"
        assert call_id.isalnum()
        for path in (f"/calls/{call_id}/audio", f"/calls/{call_id}/download", f"/api/v1/calls/{call_id}/audio"):
            status, headers, body = site.get(path)
            assert status == 404, (name, path, status)
            assert b"SQLite format" not in body and b"root:" not in body and secret not in body
            assert "Content-Disposition" not in headers
        # The call's page is still there, without a player.
        page = site.page(f"/calls/{call_id}")
        assert not page.find("audio") and "No recording file." in page.text, name


def test_caller_names_are_escaped(tampered):
    site, _, _ = tampered
    for path, role in (("/calls", "listener"), ("/calls/thostilename", "listener"), ("/", "listener"),
                       ("/calls/thostilename", "admin")):
        page = site.page(path, role=role)
        assert "<script>alert(1)</script>" not in page.html and "<b>5551234</b>" not in page.html, path
        assert "&lt;b&gt;5551234&lt;/b&gt;" in page.html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.html, path
        assert "<script>alert(1)</script>" in page.text           # shown as text
        assert all(s.get("src") for s in page.find("script")) and page.inline_script == "", path
    assert "<script>alert(1)</script>" in site.page("/calls").rows["thostilename"]


@pytest.mark.parametrize("query", [
    {"number": '"><script>alert(1)</script>'},
    {"number": "555", "date_from": '"><script>alert(1)</script>'},
    {"line": '1"><script>alert(1)</script>'},
    {"order": '<script>alert(1)</script>'},
])
def test_search_input_is_escaped_when_shown_back(site, query):
    status, headers, body = site.get("/calls?" + urlencode(query), role="listener")
    assert status in (200, 400) and headers["Content-Type"].startswith("text/html")
    html = body.decode()
    assert "<script>alert(1)</script>" not in html and '"><script' not in html
    assert Page(html).inline_script == ""


def test_the_stylesheet_closes_every_block_it_opens():
    """A rule block left open swallows every rule after it: the browser then ignores, say, the one
    that hides a stopped recorder's meters. Comments and strings hold no braces here."""
    css = (Path(__file__).resolve().parent.parent / "web" / "static" / "hookline.css").read_text()
    depth = 0
    for number, line in enumerate(css.splitlines(), 1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"hookline.css:{number} closes a block that is not open"
    assert depth == 0, f"hookline.css ends with {depth} block(s) still open"
