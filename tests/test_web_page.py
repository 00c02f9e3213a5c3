"""The first web page: the call list and the audio route, over real HTTP.

A data folder is made by the real simulator (`hookline simulate`); the real app then runs under
waitress on a free port (`web.serve_in_thread`) and is asked what a browser would ask.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

import web
from appliance.store import catalog, db as dbmod

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
       "script-src 'self'; frame-ancestors 'none'")


# -- helpers -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Site:
    """The real app under waitress on 127.0.0.1, and a plain HTTP client for it."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.server = web.serve_in_thread(data, "127.0.0.1", self.port)

    def get(self, path: str, headers: dict[str, str] | None = None,
            method: str = "GET") -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def page(self, path: str = "/") -> "Page":
        status, headers, body = self.get(path)
        assert status == 200, body[:500]
        assert headers["Content-Type"].startswith("text/html")
        return Page(body.decode("utf-8"))

    def close(self) -> None:
        self.server.close()


class Page(HTMLParser):
    """What a browser would see of the page: its tags in order, and the text of each call row."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, str] = {}        # call id -> the row's text
        self.row_order: list[str] = []
        self.inline_script = ""
        self._row: str | None = None
        self._in_script = False
        self.text_parts: list[str] = []
        self.feed(html)
        self.text = " ".join(" ".join(self.text_parts).split())

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "tr" and (a.get("id") or "").startswith("call-"):
            self._row = a["id"][len("call-"):]
            self.row_order.append(self._row)
            self.rows[self._row] = ""
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline_script += data.strip()
            return
        self.text_parts.append(data)
        if self._row:
            self.rows[self._row] = " ".join((self.rows[self._row] + " " + data).split())

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


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


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(simulated_data) -> Path:
    return simulated_data(SCENARIO, name="web")


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
def status_file(data):
    """The data folder's run/status.json, put back as the simulation left it afterwards."""
    path = data / "run" / "status.json"
    original = path.read_bytes()
    yield path
    path.write_bytes(original)


@pytest.fixture(scope="module")
def tampered(data, calls, tmp_path_factory):
    """A copy of the data folder whose catalog rows point at files they must not reach."""
    copy = tmp_path_factory.mktemp("tampered") / "data"
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("sim"))  # sim/ holds FIFOs
    real = calls[0]
    recordings = copy / "recordings"
    (recordings / "link.mp3").symlink_to(copy / "hookline.db")
    paths = {
        "parent": "../hookline.db",
        "dotdot_inside": "recordings/../hookline.db",
        "deep_dotdot": "recordings/2026/../../hookline.db",
        "absolute": str(copy / "hookline.db"),
        "etc_passwd": "/etc/passwd",
        "symlink_out": "recordings/link.mp3",
        "directory": "recordings/2026",
        "missing": "recordings/2026/03/15/missing.mp3",
    }
    conn = sqlite3.connect(copy / "hookline.db")
    with conn:
        # The real row itself, tampered in place, as the brief's attacker would.
        conn.execute("UPDATE calls SET path = ? WHERE id = ?", ["../hookline.db", real["id"]])
        cols = [r[1] for r in conn.execute("PRAGMA table_info(calls)")]
        values = conn.execute("SELECT * FROM calls WHERE id = ?", [real["id"]]).fetchone()
        row = dict(zip(cols, values))
        insert = f"INSERT INTO calls ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"
        for name, path in paths.items():
            conn.execute(insert, [{**row, "id": f"t-{name}", "path": path}[c] for c in cols])
        conn.execute(insert, [{**row, "id": "t-hostile-name", "remote_number": "<b>5551234</b>",
                               "remote_name": "<script>alert(1)</script>"}[c] for c in cols])
    conn.close()
    s = Site(copy)
    yield s, real, ["real", *paths]
    s.close()


# -- the page ------------------------------------------------------------------------------------
def test_page_lists_every_call_newest_first(site, calls):
    page = site.page()
    assert page.row_order == [c["id"] for c in reversed(calls)]
    assert "Started (UTC)" in page.text
    for c in calls:
        row = page.rows[c["id"]]
        started = c["started_at"][:19].replace("T", " ")        # 2026-03-15 14:12:08
        assert started in row
        assert f" {c['line']} " in f" {row} "
        assert c["status"] in row
        assert "unknown" in row        # gpio lines without caller ID: no number, no direction
        assert catalog_duration(c["duration_s"]) in row


def catalog_duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def test_kept_calls_have_a_player_and_a_download_link(site, calls):
    page = site.page()
    players = page.find("audio")
    kept = [c for c in calls if c["path"]]
    assert [p["src"] for p in players] == [f"/calls/{c['id']}/audio" for c in reversed(kept)]
    for p in players:
        assert "controls" in p and p["preload"] == "none"
    downloads = [a["href"] for a in page.find("a") if (a.get("href") or "").endswith("download=1")]
    assert downloads == [f"/calls/{c['id']}/audio?download=1" for c in reversed(kept)]


def test_discarded_call_shows_the_reason_from_the_events_log(site, calls, data):
    discarded = [c for c in calls if c["status"] == "discarded"]
    assert len(discarded) == 1
    reasons = [e["detail"]["reason"] for e in catalog_events(data)
               if e["kind"] == "discard" and e["call_id"] == discarded[0]["id"]]
    assert reasons and "min_call_s" in reasons[0]
    row = site.page().rows[discarded[0]["id"]]
    assert reasons[0] in row
    assert "discarded" in row


def test_line_filter(site, calls):
    page = site.page("/?line=2")
    assert page.row_order == [c["id"] for c in reversed(calls) if c["line"] == 2]
    assert site.page("/?line=7").row_order == []
    assert "No calls on line 7 yet" in site.page("/?line=7").text
    assert site.page("/?line=abc").row_order == [c["id"] for c in reversed(calls)]  # ignored


def test_live_line_state_from_the_status_file(site, status_file):
    page = site.page()           # the status the simulation left: both lines idle
    assert page.find("li", id="line-1")[0]["class"] == "line-card state-idle"
    assert page.find("li", id="line-2")[0]["class"] == "line-card state-idle"

    status = json.loads(status_file.read_text())
    status["updated_at"] = time.time() - 60          # the daemon stopped a minute ago
    status_file.write_text(json.dumps(status))
    assert "The recorder has not reported since" in site.page().text

    status["updated_at"] = time.time()
    status["lines"][0].update(state="recording", call_s=83.4, level_near_dbfs=-21.5, level_far_dbfs=-30.2)
    status_file.write_text(json.dumps(status))
    page = site.page()
    assert "not reported" not in page.text
    assert page.find("li", id="line-1")[0]["class"] == "line-card state-recording"
    assert "recording · 1:23" in page.text
    assert [m["value"] for m in page.find("meter")][:2] == ["-21.5", "-30.2"]

    status_file.unlink()
    page = site.page()
    assert not page.find("li", id="line-1") and "Lines now" not in page.text
    assert len(page.row_order) == 4      # the call list does not need the daemon


def test_page_needs_nothing_from_the_internet(site):
    page = site.page()
    scripts = page.find("script")
    assert scripts and all(s.get("src") for s in scripts)
    assert page.inline_script == ""                               # script-src 'self' forbids it
    assert not any("style" in a for _, a in page.tags) and not page.find("style")
    assets = [a["src"] for a in scripts] + [a["href"] for a in page.find("link")]
    assert assets
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        status, headers, body = site.get(url)
        assert status == 200 and body, url
        assert headers["Content-Security-Policy"] == CSP
    _, headers, _ = site.get(next(u for u in assets if u.endswith(".js")))
    assert "javascript" in headers["Content-Type"]               # nosniff: must be the right type
    _, headers, _ = site.get(next(u for u in assets if u.endswith(".css")))
    assert headers["Content-Type"].startswith("text/css")


def test_page_shows_the_newest_200(data, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("sim"))
    conn = sqlite3.connect(copy / "hookline.db")
    with conn:
        conn.executemany(
            "INSERT INTO calls (id, line, started_at, duration_s, status, created_at) "
            "VALUES (?, 3, ?, 1.0, 'discarded', '2026-01-01T00:00:00.000Z')",
            [(f"old{i:03d}", f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z") for i in range(210)])
    conn.close()
    site = Site(copy)
    try:
        page = site.page()
        assert len(page.row_order) == 200
        assert page.row_order[:4] == [c["id"] for c in reversed(catalog_calls(data))]
        assert page.row_order[4:] == [f"old{i:03d}" for i in range(209, 13, -1)]
        assert "The newest 200 of 214 calls" in page.text
        assert "no reason recorded" in page.rows["old209"]      # a discard without its event
        assert len(site.page("/?line=3").row_order) == 200
    finally:
        site.close()


def test_page_without_any_catalog_yet(tmp_path):
    site = Site(tmp_path / "empty")
    try:
        page = site.page()
        assert page.row_order == [] and "No calls yet" in page.text
    finally:
        site.close()


def test_concurrent_requests_each_get_their_own_catalog_connection(site, calls, kept):
    """waitress serves from a pool of threads; sqlite-utils objects must not cross them."""
    paths = ["/", "/?line=1", "/?line=2", f"/calls/{kept['id']}/audio"] * 10
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(site.get, paths))
    assert [status for status, _, _ in results] == [200] * len(paths)
    assert len({body for path, (_, _, body) in zip(paths, results) if path == "/"}) == 1


def test_close_stops_the_server(data):
    site = Site(data)
    assert site.get("/")[0] == 200
    site.close()
    assert not site.server._thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        site.get("/")


# -- security headers ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/?line=1", "/calls/{id}/audio", "/static/hookline.css",
                                  "/calls/nope/audio", "/no/such/page"])
def test_security_headers_on_every_response(site, kept, path):
    _, headers, _ = site.get(path.format(id=kept["id"]))
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


# -- the audio -----------------------------------------------------------------------------------
def test_audio_is_the_exact_file(site, data, kept):
    expected = (data / kept["path"]).read_bytes()
    status, headers, body = site.get(f"/calls/{kept['id']}/audio")
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
])
def test_audio_range_request(site, data, kept, range_header, start, end):
    expected = (data / kept["path"]).read_bytes()
    size = len(expected)
    if start is None:
        start, end = size - 64, size - 1
    status, headers, body = site.get(f"/calls/{kept['id']}/audio", {"Range": range_header})
    assert status == 206
    assert headers["Content-Type"] == "audio/mpeg"
    assert headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert len(body) == end - start + 1 == int(headers["Content-Length"])
    assert body == expected[start:end + 1]


def test_audio_unsatisfiable_range(site, kept):
    status, headers, _ = site.get(f"/calls/{kept['id']}/audio", {"Range": "bytes=999999999-"})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{kept['size_bytes']}"


def test_audio_head_and_revalidation(site, kept):
    status, headers, body = site.get(f"/calls/{kept['id']}/audio", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == kept["size_bytes"]
    status, _, body = site.get(f"/calls/{kept['id']}/audio", {"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""


def test_download_names_the_file(site, data, kept):
    status, headers, body = site.get(f"/calls/{kept['id']}/audio?download=1")
    assert status == 200
    name = Path(kept["path"]).name
    assert headers["Content-Disposition"] == f"attachment; filename={name}"
    assert body == (data / kept["path"]).read_bytes()


@pytest.mark.parametrize("call_id", [
    "0123456789",                                  # no such call
    quote("../../etc/passwd", safe=""),            # ..%2F..%2Fetc%2Fpasswd
    quote("../../hookline.db", safe=""),
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "..%5C..%5Chookline.db",
    "%00",
])
def test_audio_unknown_or_hostile_id_is_404(site, call_id):
    status, _, body = site.get(f"/calls/{call_id}/audio")
    assert status == 404
    assert b"root:" not in body and b"SQLite format" not in body


def test_audio_of_a_discarded_call_is_404(site, calls):
    discarded = next(c for c in calls if c["status"] == "discarded")
    assert discarded["path"] is None
    assert site.get(f"/calls/{discarded['id']}/audio")[0] == 404


def test_tampered_catalog_paths_are_404(tampered):
    site, real, names = tampered
    for name in names:
        call_id = real["id"] if name == "real" else f"t-{name}"
        for suffix in ("", "?download=1"):
            status, _, body = site.get(f"/calls/{quote(call_id)}/audio{suffix}")
            assert status == 404, (name, suffix)
            assert b"SQLite format" not in body and b"root:" not in body


def test_caller_names_are_escaped(tampered):
    site, _, _ = tampered
    page = site.page()
    assert "<script>alert(1)</script>" in page.rows["t-hostile-name"]     # shown as text...
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.html           # ...escaped in the HTML
    assert "&lt;b&gt;5551234&lt;/b&gt;" in page.html
    assert all(s.get("src") for s in page.find("script")) and page.inline_script == ""
