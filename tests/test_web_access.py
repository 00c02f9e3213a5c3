"""Who can reach what, over real HTTP against the real app under waitress: the first-run page,
logins and their limits, cookies and headers, and every route against every role (the list
of routes comes from the app itself, so a new route without an entry here fails the test)."""
from __future__ import annotations

import re
import socket

import pytest

import simtools as st
import web
import webtools as wt
from appliance.store import audit, db as dbmod, users

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

ROLES = ("anonymous", "listener", "manager", "admin")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data = wt.make_data(tmp_path_factory.mktemp("web"))
    server = wt.start(data)
    yield server
    server.close()


@pytest.fixture(scope="module")
def clients(site):
    out = {"anonymous": wt.Client(site.base)}
    for role in ROLES[1:]:
        out[role] = wt.login(site.base, role)
    return out


def _kept_call(site) -> str:
    db = dbmod.connect(site.data)
    try:
        return db.execute("SELECT id FROM calls WHERE status = 'complete' ORDER BY started_at LIMIT 1").fetchone()[0]
    finally:
        db.close()


# endpoint -> (method, url with {call}, expected status per role: anonymous, listener, manager, admin)
# POSTs carry a valid CSRF token and target nothing that exists (or change nothing), so the
# answer shows the permission check, not the action: 403 refused, 404/400/303 allowed.
PAGE_LOGIN = 302
MATRIX = {
    "dashboard.index": ("GET", "/", (PAGE_LOGIN, 200, 200, 200)),
    "dashboard.today": ("GET", "/today", (PAGE_LOGIN, 200, 200, 200)),
    "dashboard.sticks": ("GET", "/sticks", (PAGE_LOGIN, 200, 200, 200)),
    "calls.index": ("GET", "/calls", (PAGE_LOGIN, 200, 200, 200)),
    "calls.detail": ("GET", "/calls/{call}", (PAGE_LOGIN, 200, 200, 200)),
    "calls.peaks": ("GET", "/calls/{call}/peaks", (PAGE_LOGIN, 200, 200, 200)),
    "calls.audio": ("GET", "/calls/{call}/audio", (PAGE_LOGIN, 200, 200, 200)),
    "calls.download": ("GET", "/calls/{call}/download", (PAGE_LOGIN, 403, 200, 200)),
    "calls.delete": ("GET", "/calls/{call}/delete", (PAGE_LOGIN, 403, 200, 200)),
    "calls.delete#post": ("POST", "/calls/0000000000/delete", (PAGE_LOGIN, 403, 404, 404)),
    "calls.hold": ("POST", "/calls/0000000000/hold", (PAGE_LOGIN, 403, 404, 404)),
    "calls.note": ("POST", "/calls/0000000000/note", (PAGE_LOGIN, 403, 404, 404)),
    "calls_zip.download": ("POST", "/calls/download.zip", (PAGE_LOGIN, 403, 400, 400)),
    "erasure.index": ("GET", "/erase", (PAGE_LOGIN, 403, 200, 200)),
    "erasure.index#post": ("POST", "/erase", (PAGE_LOGIN, 403, 400, 400)),
    "erasure.confirm": ("POST", "/erase/confirm", (PAGE_LOGIN, 403, 400, 400)),
    "evidence.index": ("GET", "/evidence", (PAGE_LOGIN, 403, 200, 200)),
    "evidence.index#post": ("POST", "/evidence", (PAGE_LOGIN, 403, 400, 400)),      # no number
    "evidence.download": ("POST", "/evidence/package.zip", (PAGE_LOGIN, 403, 400, 400)),
    "settings.index": ("GET", "/settings", (PAGE_LOGIN, 403, 403, 200)),
    "settings.index#post": ("POST", "/settings", (PAGE_LOGIN, 403, 403, 303)),
    "dnr.index": ("GET", "/settings/do-not-record", (PAGE_LOGIN, 403, 403, 200)),
    "dnr.index#post": ("POST", "/settings/do-not-record", (PAGE_LOGIN, 403, 403, 400)),
    "dnr.remove": ("POST", "/settings/do-not-record/remove", (PAGE_LOGIN, 403, 403, 400)),
    "announcement.index": ("GET", "/settings/announcement", (PAGE_LOGIN, 403, 403, 200)),
    "announcement.upload": ("POST", "/settings/announcement", (PAGE_LOGIN, 403, 403, 400)),   # no file
    "announcement.remove": ("POST", "/settings/announcement/remove", (PAGE_LOGIN, 403, 403, 303)),   # none there
    "announcement.audio": ("GET", "/settings/announcement/audio", (PAGE_LOGIN, 403, 403, 404)),
    "admin.user_list": ("GET", "/users", (PAGE_LOGIN, 403, 403, 200)),
    "admin.user_list#post": ("POST", "/users", (PAGE_LOGIN, 403, 403, 400)),
    "admin.user_change": ("POST", "/users/99999/change", (PAGE_LOGIN, 403, 403, 404)),
    "admin.user_password": ("POST", "/users/99999/password", (PAGE_LOGIN, 403, 403, 404)),
    "admin.user_remove": ("POST", "/users/99999/remove", (PAGE_LOGIN, 403, 403, 404)),
    "admin.account": ("GET", "/account", (PAGE_LOGIN, 200, 200, 200)),
    "admin.account_password": ("POST", "/account/password", (PAGE_LOGIN, 400, 400, 400)),
    "admin.token_create": ("POST", "/account/tokens", (PAGE_LOGIN, 400, 400, 400)),
    "admin.token_revoke": ("POST", "/account/tokens/99999/revoke", (PAGE_LOGIN, 404, 404, 404)),
    "admin.end_other_sessions": ("POST", "/account/sessions/end-others", (PAGE_LOGIN, 303, 303, 303)),
    "admin.audit_log": ("GET", "/audit", (PAGE_LOGIN, 403, 200, 200)),
    "api.status": ("GET", "/api/v1/status", (401, 200, 200, 200)),
    "api.calls": ("GET", "/api/v1/calls", (401, 200, 200, 200)),
    "api.call": ("GET", "/api/v1/calls/{call}", (401, 200, 200, 200)),
    "api.events": ("GET", "/api/v1/calls/{call}/events", (401, 200, 200, 200)),
    "api.audio": ("GET", "/api/v1/calls/{call}/audio", (401, 200, 200, 200)),
    "api.audio#download": ("GET", "/api/v1/calls/{call}/audio?download=1", (401, 403, 200, 200)),
    "api.openapi": ("GET", "/api/v1/openapi.json", (401, 200, 200, 200)),
    # No recorder runs here: a manager's pause is refused by it (the page says so; the API: 503).
    "pause.change": ("POST", "/lines/1/pause", (PAGE_LOGIN, 403, 303, 303)),
    "api.pause": ("POST", "/api/v1/lines/1/pause", (401, 403, 503, 503)),
    # The USB export: managers and admins. No recorder runs here: it is asked, and says so (the
    # page's cancel flashes it; the API: 503); a start with no choice in it is refused first.
    "export.index": ("GET", "/export", (PAGE_LOGIN, 403, 200, 200)),
    "export.progress": ("GET", "/export/progress", (PAGE_LOGIN, 403, 200, 200)),
    "export.begin": ("POST", "/export", (PAGE_LOGIN, 403, 400, 400)),
    "export.stop": ("POST", "/export/cancel", (PAGE_LOGIN, 403, 303, 303)),
    "api_export.status": ("GET", "/api/v1/export", (401, 403, 503, 503)),
    "api_export.start": ("POST", "/api/v1/export", (401, 403, 400, 400)),
    "api_export.cancel": ("POST", "/api/v1/export/cancel", (401, 403, 503, 503)),
    "auth.login": ("GET", "/login", (200, 302, 302, 302)),
    "auth.setup": ("GET", "/setup", (302, 302, 302, 302)),
    "auth.logout": None,     # tested on its own: it would end the shared sessions
    "static": ("GET", "/static/hookline.css", (200, 200, 200, 200)),
}


def test_every_route_is_in_the_matrix():
    app = web.create_app(wt.Path("/tmp/hookline-route-list"))
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    listed = {key.split("#")[0] for key in MATRIX}
    assert endpoints == listed, f"routes missing from MATRIX: {endpoints - listed}; stale: {listed - endpoints}"


@pytest.mark.parametrize("key", [k for k, v in MATRIX.items() if v is not None])
def test_route_against_every_role(site, clients, key):
    method, url, expected = MATRIX[key]
    url = url.format(call=_kept_call(site))
    for role, want in zip(ROLES, expected):
        client = clients[role]
        if method == "POST":
            token = wt.csrf(clients["admin"].get("/account").text) if role == "anonymous" else \
                client.token_from("/account")
            r = client.post(url, data={"csrf_token": token})
        else:
            r = client.get(url)
        assert r.status_code == want, f"{role} {method} {url}: {r.status_code} (wanted {want})"
        if role == "anonymous" and want == PAGE_LOGIN:
            assert r.headers["Location"].startswith("/login"), r.headers["Location"]
        if want == 401:
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert r.json()["error"] == "unauthorized"


def test_nothing_is_served_to_a_stranger_whatever_the_url(site):
    stranger = wt.Client(site.base)
    for url in ("/", "/calls", "/nope", "/calls/x/audio", "/recordings/", "/../hookline.db", "/hookline.db",
                "/static/../../hookline.db", "/api/v1/nothing", "/audit?user=admin"):
        r = stranger.get(url)
        assert r.status_code in (302, 401, 404), (url, r.status_code)
        assert b"ID3" not in r.content[:3] and b"SQLite" not in r.content
        if r.status_code == 302:
            assert r.headers["Location"].startswith("/login")


def test_first_start_asks_for_the_administrator_and_there_is_no_default_password(tmp_path):
    data = tmp_path / "data"
    dbmod.connect(data).close()
    server = wt.start(data)
    try:
        c = wt.Client(server.base)
        assert c.get("/").headers["Location"] == "/setup"
        assert c.get("/login").headers["Location"] == "/setup"
        for name, password in (("admin", "admin"), ("admin", "password"), ("admin", "")):
            r = c.post("/login", data={"csrf_token": c.token_from("/setup"), "name": name, "password": password})
            assert r.status_code == 302 and r.headers["Location"] == "/setup"
        page = c.get("/setup")
        assert "There is no default password" in page.text
        # Without the CSRF token the form is refused; a weak password gets a field message.
        r = c.post("/setup", data={"name": "boss", "password": "x" * 12, "confirm": "x" * 12})
        assert r.status_code == 400 and not users.any_users(dbmod.connect(data))
        r = c.post_form("/setup", {"name": "boss", "password": "short", "confirm": "short"})
        assert r.status_code == 400 and "10" in r.text
        r = c.post_form("/setup", {"name": "boss", "password": "a long pass phrase 7",
                                   "confirm": "a long pass phrase 8"})
        assert r.status_code == 400 and "differ" in r.text
        r = c.post_form("/setup", {"name": "boss", "password": "a long pass phrase 7",
                                   "confirm": "a long pass phrase 7"})
        assert r.status_code == 302 and r.headers["Location"] == "/"
        assert c.get("/").status_code == 200 and c.get("/users").status_code == 200
        # Once there is a user the page is gone for everyone.
        assert wt.Client(server.base).get("/setup").headers["Location"] == "/login"
        db = dbmod.connect(data)
        assert [(u["name"], u["role"]) for u in users.list_users(db)] == [("boss", "admin")]
    finally:
        server.close()


def test_login_failures_lock_the_account_and_the_address(tmp_path):
    data = tmp_path / "data"
    db = dbmod.connect(data)
    users.create_user(db, "owner", "manager", "the right password 1")
    users.create_user(db, "other", "listener", "another password 22")
    db.close()
    server = wt.start(data)
    try:
        c = wt.Client(server.base)
        unknown = c.post_form("/login", {"name": "nobody", "password": "whatever it is"})
        wrong = c.post_form("/login", {"name": "owner", "password": "not the password"})
        assert unknown.status_code == wrong.status_code == 401
        assert "Wrong name or password." in unknown.text and "Wrong name or password." in wrong.text
        for _ in range(4):
            c.post_form("/login", {"name": "owner", "password": "not the password"})
        locked = c.post_form("/login", {"name": "owner", "password": "the right password 1"})
        assert locked.status_code == 401 and "too many failed attempts" in locked.text.lower()
        # The address is limited too: a few more guesses at other names and it must wait.
        for i in range(5):
            c.post_form("/login", {"name": f"guess{i}", "password": "guessing again"})
        limited = c.post_form("/login", {"name": "other", "password": "another password 22"})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        entries = audit.entries(dbmod.connect(data), limit=50)
        assert sum(e["action"] == "login-failed" for e in entries) >= 10
        assert not any("the right password" in str(e) or "not the password" in str(e) for e in entries)
    finally:
        server.close()


def test_sessions_cookies_headers_and_logout(site):
    c = wt.Client(site.base)
    r = c.post_form("/login", {"name": "listener", "password": wt.PASSWORDS["listener"]})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "hookline_session=" in cookie
    for url in ("/", "/calls", "/account", "/api/v1/status", "/static/hookline.css", "/nope"):
        h = c.get(url).headers
        assert "script-src 'self'" in h["Content-Security-Policy"] and "unsafe-inline" not in h["Content-Security-Policy"]
        assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY"
    assert "no-store" in c.get("/calls").headers["Cache-Control"]
    # Logging out needs the form's token (a cross-site POST cannot do it), then ends the session.
    assert c.post("/logout").status_code == 400
    r = c.post_form("/logout", {}, page="/account")
    assert r.status_code == 302 and c.get("/calls").status_code == 302


def test_pages_have_no_inline_script_or_style(clients, site):
    admin = clients["admin"]
    call = _kept_call(site)
    for url in ("/", "/calls", f"/calls/{call}", f"/calls/{call}/delete", "/erase", "/settings", "/users", "/account",
                "/audit", "/login"):
        html = (admin if url != "/login" else wt.Client(site.base)).get(url).text
        for tag in re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S):
            assert tag.strip() == "", f"inline script on {url}"
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I), f"inline event handler on {url}"
        assert not re.search(r"<style\b|\sstyle\s*=", html, flags=re.I), f"inline style on {url}"
        assert "http://" not in html.replace(site.base, "") and "https://" not in html, f"external URL on {url}"


def test_a_password_change_ends_the_other_sessions(tmp_path):
    data = tmp_path / "data"
    db = dbmod.connect(data)
    users.create_user(db, "owner", "manager", "the first password 1")
    db.close()
    server = wt.start(data)
    try:
        phone = wt.login(server.base, "owner", "the first password 1")
        laptop = wt.login(server.base, "owner", "the first password 1")
        r = laptop.post_form("/account/password", {"current": "the first password 1",
                                                   "password": "the second password 2",
                                                   "confirm": "the second password 2"}, page="/account")
        assert r.status_code == 303
        assert laptop.get("/calls").status_code == 200      # the one that changed it stays logged in
        assert phone.get("/calls").status_code == 302       # the other is logged out
    finally:
        server.close()


def test_secure_cookies_behind_an_https_proxy_only_when_trusted(tmp_path):
    data = tmp_path / "data"
    db = dbmod.connect(data)
    users.create_user(db, "owner", "manager", "the right password 1")
    db.close()
    for trusted in (False, True):
        handle = web.serve_in_thread(data, "127.0.0.1", 0, trust_proxy=trusted)
        try:
            c = wt.Client(f"http://127.0.0.1:{handle.port}")
            c.headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
            form = c.get("/login")
            assert ("; Secure" in form.headers["Set-Cookie"]) is trusted
            # (requests keeps a Secure cookie for https only: hand it back as the browser would)
            r = c.post("/login", data={"csrf_token": wt.csrf(form.text), "name": "owner",
                                       "password": "the right password 1"},
                       headers={"Cookie": form.headers["Set-Cookie"].split(";")[0]})
            assert r.status_code == 302 and ("; Secure" in r.headers["Set-Cookie"]) is trusted
        finally:
            handle.close()
    # The audit log names the client the proxy saw only when the proxy is trusted.
    addresses = [e["remote_addr"] for e in audit.entries(dbmod.connect(data), action="login", limit=5)]
    assert addresses == ["203.0.113.9", "127.0.0.1"]


def test_web_command_says_clearly_when_the_port_is_taken(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = st.run("web", "--data", tmp_path / "data", "--host", "127.0.0.1", "--port", str(port), timeout=30)
    assert proc.returncode != 0
    line = st.one_error_line(proc)
    assert f"127.0.0.1:{port}" in line and "try --port" in line
