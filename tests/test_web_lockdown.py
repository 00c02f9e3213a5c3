"""The penetration test's findings, each replayed over real HTTP against the real app under
waitress (and the real `hookline` command where it played a part): a removed user's cookie,
tokens on page routes, Range spellings that listened unaudited, logout, server errors, audit
gaps, cross-site requests, the raced login limit, file modes, and tokens with cookies."""
from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
import requests

import simtools as st
import webtools as wt
from appliance.store import audit, db as dbmod, users

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

PASSWORD = "a long enough secret 9"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data = wt.make_data(tmp_path_factory.mktemp("lockdown"))
    server = wt.start(data)
    yield server
    server.close()


@pytest.fixture(scope="module")
def admin(site):
    return wt.login(site.base, "admin")


def _db(site):
    return dbmod.connect(site.data)


def _kept_call(site) -> str:
    db = _db(site)
    try:
        return db.execute("SELECT id FROM calls WHERE status = 'complete' ORDER BY started_at LIMIT 1").fetchone()[0]
    finally:
        db.close()


def _calls(site) -> list[str]:
    db = _db(site)
    try:
        return [r[0] for r in db.execute("SELECT id FROM calls WHERE status = 'complete' ORDER BY started_at")]
    finally:
        db.close()


_counter = iter(range(1, 10 ** 6))


def _new_user(site, role: str = "listener", prefix: str = "u") -> str:
    name = f"{prefix}{next(_counter)}"
    db = _db(site)
    try:
        users.create_user(db, name, role, PASSWORD)
    finally:
        db.close()
    return name


def _token(site, name: str) -> str:
    db = _db(site)
    try:
        return users.create_token(db, name, "test")[1]
    finally:
        db.close()


def _entries(site, **filters) -> list[dict]:
    db = _db(site)
    try:
        return audit.entries(db, limit=1000, **filters)
    finally:
        db.close()


def _user_id(site, name: str) -> int:
    db = _db(site)
    try:
        return users.get_user_by_name(db, name)["id"]
    finally:
        db.close()


# -- 1. a removed user's session must never come back as the next user -----------------------------------
def test_a_removed_users_cookie_does_not_open_the_next_users_account(site, admin):
    r = admin.post_form("/users", {"name": "tmp1", "role": "listener", "password": PASSWORD})
    assert r.status_code == 303
    tmp1 = wt.login(site.base, "tmp1", PASSWORD)
    assert tmp1.get("/calls").status_code == 200
    old_id = _user_id(site, "tmp1")
    r = admin.post_form(f"/users/{old_id}/remove", {}, page="/users")
    assert r.status_code == 303
    r = admin.post_form("/users", {"name": "boss", "role": "admin", "password": PASSWORD})
    assert r.status_code == 303
    assert _user_id(site, "boss") != old_id, "user ids are never reused"
    # The old cookie opens nothing, neither as tmp1 nor as boss.
    assert tmp1.get("/users").status_code == 302
    assert tmp1.get("/calls").status_code == 302


def test_the_same_through_the_command(site):
    name = _new_user(site, prefix="cli")
    client = wt.login(site.base, name, PASSWORD)
    assert client.get("/calls").status_code == 200
    st.check("users", "remove", name, "--data", site.data)
    st.check("users", "add", "cliboss", "--role", "admin", "--password-stdin", "--data", site.data,
             input=PASSWORD + "\n")
    assert client.get("/users").status_code == 302 and client.get("/calls").status_code == 302


@pytest.mark.parametrize("how", ["page", "command"])
def test_disabling_a_user_ends_their_sessions_and_tokens(site, admin, how):
    name = _new_user(site, prefix="dis")
    client, token = wt.login(site.base, name, PASSWORD), _token(site, name)
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/calls").status_code == 200
    assert requests.get(site.base + "/api/v1/status", headers=bearer, timeout=30).status_code == 200
    if how == "page":
        r = admin.post_form(f"/users/{_user_id(site, name)}/change", {"role": "listener", "disabled": "y"},
                            page="/users")
        assert r.status_code == 303
    else:
        st.check("users", "disable", name, "--data", site.data)
    assert client.get("/calls").status_code == 302
    assert requests.get(site.base + "/api/v1/status", headers=bearer, timeout=30).status_code == 401
    # Enabling them again brings back neither.
    st.check("users", "enable", name, "--data", site.data)
    assert client.get("/calls").status_code == 302
    assert requests.get(site.base + "/api/v1/status", headers=bearer, timeout=30).status_code == 401
    assert wt.login(site.base, name, PASSWORD).get("/calls").status_code == 200


# -- 2. tokens are for the API only; one's own password needs the current one -------------------------------
def test_a_token_opens_no_page_route(site):
    name = _new_user(site, "manager", prefix="tok")
    token = _token(site, name)
    bearer = {"Authorization": f"Bearer {token}"}
    # The attack: a stale session's CSRF token (a stranger's /login page) plus the victim's token.
    stranger = wt.Client(site.base)
    csrf = stranger.token_from("/login")
    call = _kept_call(site)
    for path, data in (("/account/password", {"current": PASSWORD, "password": "taken over 12345",
                                              "confirm": "taken over 12345"}),
                       (f"/calls/{call}/note", {"note": "written with a token"}),
                       ("/account/tokens", {"label": "persistence"})):
        r = stranger.post(path, data={"csrf_token": csrf, **data}, headers=bearer)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login"), (path, r.status_code)
    for path in ("/", "/calls", f"/calls/{call}", f"/calls/{call}/audio", "/account"):
        r = requests.get(site.base + path, headers=bearer, allow_redirects=False, timeout=30)
        assert r.status_code == 302, path
    db = _db(site)
    try:
        assert users.check_login(db, name, PASSWORD)[0] is not None, "the password did not change"
        assert [t["label"] for t in users.list_tokens(db, name)] == ["test"]
    finally:
        db.close()
    assert all(e["target"] != call or e["action"] != "note" for e in _entries(site, user=name))
    assert requests.get(site.base + "/api/v1/status", headers=bearer, timeout=30).status_code == 200


def test_changing_ones_own_password_asks_for_the_current_one_and_revokes_tokens(site):
    name = _new_user(site, prefix="pw")
    client, token = wt.login(site.base, name, PASSWORD), _token(site, name)
    other = wt.login(site.base, name, PASSWORD)
    new = "the next secret 123"
    r = client.post_form("/account/password", {"current": "not my password", "password": new, "confirm": new},
                         page="/account")
    assert r.status_code == 400 and "wrong password" in r.text.lower()
    r = client.post_form("/account/password", {"password": new, "confirm": new}, page="/account")
    assert r.status_code == 400
    db = _db(site)
    try:
        assert users.check_login(db, name, PASSWORD)[0] is not None, "unchanged"
    finally:
        db.close()
    r = client.post_form("/account/password", {"current": PASSWORD, "password": new, "confirm": new},
                         page="/account")
    assert r.status_code == 303
    page = client.get("/account").text
    assert "revoked" in page
    assert client.get("/calls").status_code == 200, "the session that changed it goes on"
    assert other.get("/calls").status_code == 302, "every other session ended"
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(site.base + "/api/v1/status", headers=bearer, timeout=30).status_code == 401
    changed = _entries(site, action="user-change", target=name)
    assert changed[0]["detail"]["password"] == "changed" and changed[0]["detail"]["tokens_revoked"] == 1
    assert changed[1]["detail"]["password"] == "change refused"


def test_an_admin_changes_their_own_password_on_the_account_page_only(site):
    name = _new_user(site, "admin", prefix="adm")
    client = wt.login(site.base, name, PASSWORD)
    r = client.post_form(f"/users/{_user_id(site, name)}/password",
                         {"password": "no current needed 1", "confirm": "no current needed 1"}, page="/users")
    assert r.status_code == 303 and r.headers["Location"] == "/account"
    db = _db(site)
    try:
        assert users.check_login(db, name, PASSWORD)[0] is not None
    finally:
        db.close()


# -- 3. every response that sends audio is audited, however the Range header is spelt -----------------------
@pytest.mark.parametrize("prefix", ["/calls/{call}/audio", "/api/v1/calls/{call}/audio"])
@pytest.mark.parametrize("headers, status", [
    ({"Range": "BYTES=0-"}, (200, 206)),
    ({"Range": "bytes=00-"}, (200, 206)),
    ({"Range": "bytes=1-", "If-Range": '"not-the-etag"'}, (200,)),
    ({"Range": "bytes=1-"}, (206,)),
    ({"Range": "bytes=5000-5999"}, (206,)),
    ({}, (200,)),
])
def test_listening_is_audited_from_what_was_sent(site, prefix, headers, status):
    name = _new_user(site, prefix="ear")
    client = wt.login(site.base, name, PASSWORD)
    call = _kept_call(site)
    r = client.get(prefix.format(call=call), headers=headers)
    assert r.status_code in status and len(r.content) > 0
    listens = _entries(site, user=name, action="listen")
    assert [e["target"] for e in listens] == [call], (headers, r.status_code)
    # Seeking on (another range soon after) is the same listen, not a new entry.
    client.get(prefix.format(call=call), headers={"Range": "bytes=100-"})
    assert len(_entries(site, user=name, action="listen")) == 1


def test_nothing_sent_nothing_audited(site):
    name = _new_user(site, prefix="head")
    client = wt.login(site.base, name, PASSWORD)
    call = _kept_call(site)
    assert client.head(f"/calls/{call}/audio").status_code == 200
    assert client.get(f"/calls/{call}/audio", headers={"Range": "bytes=999999999-"}).status_code == 416
    etag = client.head(f"/calls/{call}/audio").headers["ETag"]
    assert client.get(f"/calls/{call}/audio", headers={"If-None-Match": etag}).status_code == 304
    assert _entries(site, user=name, action="listen") == []


# -- 5. logout ends the session on the server ---------------------------------------------------------------
def test_a_cookie_copied_before_logout_is_worthless_after_it(site):
    name = _new_user(site, prefix="out")
    client = wt.login(site.base, name, PASSWORD)
    copy = wt.Client(site.base)
    copy.cookies.update(client.cookies)
    assert copy.get("/calls").status_code == 200
    r = client.post_form("/logout", {}, page="/account")
    assert r.status_code == 302
    assert copy.get("/calls").status_code == 302
    assert copy.get("/api/v1/status").status_code == 401


def test_log_out_everywhere_else(site):
    name = _new_user(site, prefix="every")
    here, there = wt.login(site.base, name, PASSWORD), wt.login(site.base, name, PASSWORD)
    page = here.get("/account").text
    assert page.count("<tr") >= 3 and "(this one)" in page
    r = here.post_form("/account/sessions/end-others", {}, page="/account")
    assert r.status_code == 303
    assert there.get("/calls").status_code == 302 and here.get("/calls").status_code == 200


# -- 6. server errors become the right 4xx ----------------------------------------------------------------
def test_control_characters_in_next_are_refused(site, admin):
    r = admin.get("/login?next=/%0d%0aX")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    client = wt.Client(site.base)
    r = client.post("/login?next=/%0d%0aSet-Cookie:%20x=1", data={
        "csrf_token": client.token_from("/login"), "name": "listener", "password": wt.PASSWORDS["listener"]})
    assert r.status_code == 302 and r.headers["Location"] == "/"


@pytest.mark.parametrize("key", ["endpoint", "_method", "_external", "_anchor", "_scheme", "values"])
def test_unknown_query_keys_on_a_paged_list(site, admin, key):
    r = admin.get(f"/api/v1/calls?limit=1&{key}=x")
    assert r.status_code == 400 and r.json()["field"] == key
    r = admin.get(f"/calls?limit=1&{key}=POST")
    assert r.status_code == 200 and 'rel="next"' in r.text and f"{key}=" not in r.text.split("<main", 1)[-1]
    assert admin.get("/api/v1/calls?limit=1").json()["next_url"]


@pytest.mark.parametrize("url, status", [
    ("/audit?before=9999999999999999999999999", 400),
    ("/audit?before=-1", 400),
    ("/audit?before=" + "9" * 5000, 400),
    ("/audit?before=12", 200),
], ids=["25-digits", "negative", "5000-digits", "fine"])
def test_audit_paging_with_huge_numbers(admin, url, status):
    assert admin.get(url).status_code == status


@pytest.mark.parametrize("path", ["/users/{n}/change", "/users/{n}/password", "/users/{n}/remove",
                                  "/account/tokens/{n}/revoke"])
@pytest.mark.parametrize("n", ["9" * 25, str(2 ** 63), "9" * 5000, "0", "\u0663"],
                         ids=["25-digits", "2**63", "5000-digits", "0", "arabic-3"])
def test_huge_ids_in_paths_are_404(admin, path, n):
    r = admin.post_form(path.format(n=n), {"role": "listener", "password": PASSWORD, "confirm": PASSWORD},
                        page="/users")
    assert r.status_code == 404


# -- 7. the audit trail has no gaps -----------------------------------------------------------------------
def test_revoking_someone_elses_token_names_its_owner(site, admin):
    name = _new_user(site, prefix="own")
    db = _db(site)
    try:
        token_id = users.create_token(db, name, "theirs")[0]
    finally:
        db.close()
    r = admin.post_form(f"/account/tokens/{token_id}/revoke", {}, page="/account")
    assert r.status_code == 303
    entry = _entries(site, action="token-revoke")[0]
    assert entry["target"] == name and entry["user"] == "admin" and entry["detail"]["token_id"] == token_id


def test_settings_changes_keep_before_and_after_from_the_page_and_the_console(site, admin):
    audited = len(_entries(site, action="settings"))
    r = admin.post_form("/settings", {"box.retention_days": "90"})
    assert r.status_code == 200 and "This will delete" in r.text, "the March calls: confirm first"
    assert len(_entries(site, action="settings")) == audited, "nothing saved, nothing audited"
    confirm = wt.form_value(r.text, "confirm_deletes")
    r = admin.post_form("/settings", {"box.retention_days": "90", "confirm_deletes": confirm})
    assert r.status_code == 303
    entry = _entries(site, action="settings")[0]
    assert entry["user"] == "admin"
    assert entry["detail"]["changes"] == {"box.retention_days": {"before": None, "after": 90}}
    r = admin.post_form("/settings", {"box.retention_days": "30"})      # deletes nothing more: saved at once
    assert _entries(site, action="settings")[0]["detail"]["changes"] == {
        "box.retention_days": {"before": 90, "after": 30}}

    st.check("settings", "set", "min_call_s", "5", "--line", "2", "--data", site.data)
    st.check("settings", "unset", "line.2.min_call_s", "--data", site.data)
    st.check("settings", "unset", "line.2.min_call_s", "--data", site.data)     # nothing to change: no entry
    unset, set_ = _entries(site, action="settings")[:2]
    import pwd
    me = pwd.getpwuid(os.getuid()).pw_name
    assert set_["user"] == unset["user"] == f"console:{me}"
    assert set_["detail"]["changes"] == {"line.2.min_call_s": {"before": None, "after": 5.0}}
    assert unset["detail"]["changes"] == {"line.2.min_call_s": {"before": 5.0, "after": None}}
    assert set_["detail"]["via"] == "console" and set_["detail"]["os_user"] == me
    assert _entries(site, action="settings")[2]["user"] == "admin"
    st.check("settings", "unset", "retention_days", "--data", site.data)


def test_the_console_names_the_person_behind_sudo_and_their_ssh_address(site):
    env = {**st.clean_env(), "SUDO_USER": "alice", "SSH_CONNECTION": "192.0.2.7 50123 192.0.2.1 22"}
    import subprocess
    subprocess.run([st.HOOKLINE, "settings", "set", "vox_hang_s", "9", "--data", str(site.data)], env=env,
                   check=True, capture_output=True)
    entry = _entries(site, action="settings")[0]
    assert entry["user"] == "console:alice" and entry["detail"]["sudo_user"] == "alice"
    import pwd
    assert entry["detail"]["os_user"] == pwd.getpwuid(os.getuid()).pw_name and entry["remote_addr"] == "192.0.2.7"
    st.check("settings", "unset", "vox_hang_s", "--data", site.data)


# -- 8. audited actions come only from the box's own pages (or tokens) --------------------------------------
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}


@pytest.mark.parametrize("site_header", ["cross-site", "same-site"])
def test_a_link_on_another_site_neither_downloads_nor_plays(site, site_header):
    name = _new_user(site, "manager", prefix="csrf")
    victim = wt.login(site.base, name, PASSWORD)
    call = _kept_call(site)
    headers = {**CROSS_SITE, "Sec-Fetch-Site": site_header}
    r = victim.get(f"/calls/{call}/download", headers=headers)
    assert r.status_code == 303 and r.headers["Location"] == f"/calls/{call}" and b"ID3" not in r.content[:10]
    r = victim.get(f"/calls/{call}/audio", headers=headers)
    assert r.status_code == 303
    r = victim.get(f"/api/v1/calls/{call}/audio?download=1", headers=headers)
    assert r.status_code == 403 and r.json()["message"].startswith("open recordings")
    assert _entries(site, user=name, action="download") == [] and _entries(site, user=name, action="listen") == []
    # A cross-site POST is refused before anything is done, even with a valid CSRF token.
    r = victim.post(f"/calls/{call}/note", data={"csrf_token": victim.token_from(f"/calls/{call}"), "note": "x"},
                    headers={"Sec-Fetch-Site": site_header})
    assert r.status_code == 403
    # From the box's own page, a typed address, or a script with a token, it all works.
    for own in ("same-origin", "none"):
        assert victim.get(f"/calls/{call}/download", headers={"Sec-Fetch-Site": own}).status_code == 200
    assert victim.get(f"/calls/{call}/download").status_code == 200
    r = requests.get(f"{site.base}/api/v1/calls/{call}/audio?download=1", headers={
        **headers, "Authorization": f"Bearer {_token(site, name)}"}, timeout=30)
    assert r.status_code == 200 and r.content[:3] == b"ID3"
    assert len(_entries(site, user=name, action="download")) == 4     # every download that left the box


# -- 9. the per-address login limit holds under concurrency --------------------------------------------------
def test_concurrent_wrong_logins_check_at_most_the_limit(tmp_path):
    """30 at once from one address (under its connection cap): exactly 10 passwords are checked."""
    data = tmp_path / "data"
    db = dbmod.connect(data)
    users.create_user(db, "owner", "manager", PASSWORD)
    db.close()
    server = wt.start(data)
    try:
        clients = [wt.Client(server.base) for _ in range(30)]
        tokens = [c.token_from("/login") for c in clients]
        barrier = threading.Barrier(30)
        codes = []

        def attempt(client, token, i):
            barrier.wait()
            r = client.post("/login", data={"csrf_token": token, "name": f"guess{i}", "password": "wrong guess 1"})
            codes.append(r.status_code)

        threads = [threading.Thread(target=attempt, args=(c, t, i)) for i, (c, t) in enumerate(zip(clients, tokens))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        failed = [e for e in audit.entries(dbmod.connect(data), action="login-failed", limit=100)]
        assert len(failed) == 10 and sorted(codes) == [401] * 10 + [429] * 20, (len(failed), codes)
    finally:
        server.close()


# -- 10. the catalog is not world-readable --------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_catalog_and_data_folder_modes(tmp_path, site, caplog):
    assert _mode(site.data) == 0o750 and _mode(site.data / dbmod.DB_NAME) == 0o640
    for suffix in ("-wal", "-shm"):
        extra = site.data / (dbmod.DB_NAME + suffix)
        if extra.exists():
            assert _mode(extra) == 0o640, suffix
    # A catalog made by an older Hookline (0644) is tightened when opened; a folder that was
    # there before is its owner's (it may be /tmp, given as --data), so it is only warned about.
    old = tmp_path / "old"
    dbmod.connect(old).close()
    os.chmod(old, 0o1777)
    os.chmod(old / dbmod.DB_NAME, 0o644)
    dbmod.connect(old).close()
    dbmod.connect(old).close()
    assert _mode(old / dbmod.DB_NAME) == 0o640 and _mode(old) == 0o1777
    warnings = [r.getMessage() for r in caplog.records if "open to every user" in r.getMessage()]
    assert len(warnings) == 1 and f"chmod 750 {old}" in warnings[0]


# -- 11. a valid token authenticates whatever cookies come with it --------------------------------------------
def test_clients_that_keep_cookies_keep_the_api(site):
    name = _new_user(site, prefix="jar")
    token = _token(site, name)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for page in ("/login", "/nope", "/calls", "/static/hookline.css"):
        session.get(site.base + page, allow_redirects=False, timeout=30)
    assert session.cookies, "the pages gave the client a cookie"
    for _ in range(3):
        r = session.get(site.base + "/api/v1/calls", timeout=30)
        assert r.status_code == 200 and r.json()["calls"]
    # ... and a bad token is refused even with someone's live session cookie alongside.
    owner = wt.login(site.base, name, PASSWORD)
    r = owner.get("/api/v1/status", headers={"Authorization": "Bearer hl_not-a-token"})
    assert r.status_code == 401
    assert owner.get("/api/v1/status").status_code == 200


def test_pages_take_forms_only(site):
    """Flask-WTF would read a JSON body as the form (token in X-CSRFToken): the pages refuse it."""
    name = _new_user(site, prefix="json")
    client = wt.login(site.base, name, PASSWORD)
    token = client.token_from("/account")
    for body in ('{"label": 5}', "null", "[1, 2]"):
        r = client.post("/account/tokens", data=body, headers={"Content-Type": "application/json",
                                                               "X-CSRFToken": token})
        assert r.status_code == 415, body
    r = client.post("/account/tokens", data="label=x", headers={"Content-Type": "text/plain", "X-CSRFToken": token})
    assert r.status_code == 415
    db = _db(site)
    try:
        assert users.list_tokens(db, name) == []
    finally:
        db.close()
    assert client.post_form("/account/tokens", {"label": "a real one"}, page="/account").status_code == 200


@pytest.mark.parametrize("path", ["/calls/{call}/download", "/calls/{call}/audio", "/api/v1/calls/{call}/audio"])
def test_a_recording_link_by_way_of_the_login_page_opens_the_calls_page(site, path):
    """A stranger's link to a download reaches a logged-out owner: the login page's next= must
    not turn it into a same-origin download in their name after they log in."""
    name = _new_user(site, "manager", prefix="via")
    call = _kept_call(site)
    client = wt.Client(site.base)
    r = client.get(path.format(call=call), headers=CROSS_SITE)
    assert r.status_code in (302, 401)
    target = path.format(call=call)
    r = client.post("/login?next=" + requests.utils.quote(target, safe=""), headers={"Sec-Fetch-Site": "same-origin"},
                    data={"csrf_token": client.token_from("/login"), "name": name, "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"] == f"/calls/{call}"
    assert _entries(site, user=name, action="download") == [] and _entries(site, user=name, action="listen") == []
    # Any other page still comes back after the login.
    client = wt.Client(site.base)
    r = client.post("/login?next=/calls%3Fline%3D2", data={"csrf_token": client.token_from("/login"), "name": name,
                                                            "password": PASSWORD})
    assert r.headers["Location"] == "/calls?line=2"
