"""The calls over real HTTP: search and pages, the audio with Range requests, keeping, notes and
deleting with their audit entries, settings edited on the page, the JSON API with bearer
tokens, and hostile requests (each answered with the right 4xx, never a 500 or a stray file)."""
from __future__ import annotations

import hashlib
import json
import re

import pytest

import simtools as st
import webtools as wt
from appliance.store import audit, catalog, db as dbmod, settings as settingsmod

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data = wt.make_data(tmp_path_factory.mktemp("webcalls"))
    server = wt.start(data)
    yield server
    server.close()


@pytest.fixture(scope="module")
def admin(site):
    return wt.login(site.base, "admin")


def _calls(site) -> list[dict]:
    db = dbmod.connect(site.data)
    try:
        return catalog.list_calls(db)
    finally:
        db.close()


def _ids_on(html: str) -> list[str]:
    return re.findall(r'<tr id="call-([0-9a-f]+)"', html)


def test_the_list_shows_every_call_newest_first_and_finds_by_number(site, listener):
    rows = _calls(site)
    page = listener.get("/calls")
    assert page.status_code == 200
    assert _ids_on(page.text) == [r["id"] for r in sorted(rows, key=lambda r: r["started_at"], reverse=True)]
    inbound = next(r for r in rows if r["remote_number"] == "5551234567")
    dialed = next(r for r in rows if r["dialed"] == "02079460000")
    assert _ids_on(listener.get("/calls?number=1234").text) == [inbound["id"]]              # contains
    assert _ids_on(listener.get("/calls?number=555-123&match=prefix").text) == [inbound["id"]]
    assert _ids_on(listener.get("/calls?number=1234&match=prefix").text) == []
    assert _ids_on(listener.get("/calls?number=7946").text) == [dialed["id"]]                 # dialed digits
    assert set(_ids_on(listener.get("/calls?line=2").text)) == {r["id"] for r in rows if r["line"] == 2}
    assert set(_ids_on(listener.get("/calls?direction=inbound").text)) == \
        {r["id"] for r in rows if r["direction"] == "inbound"}
    assert _ids_on(listener.get("/calls?status=discarded").text) == [r["id"] for r in rows if r["status"] == "discarded"]
    assert len(_ids_on(listener.get("/calls?date_from=2026-03-15&date_to=2026-03-15").text)) == len(rows)
    assert _ids_on(listener.get("/calls?date_from=2026-03-16").text) == []
    # The discarded call says why; the page names the time zone it shows.
    page = listener.get("/calls?status=discarded").text
    assert "Too short to keep: 1 second of talk, the minimum is 2 seconds" in page and "Started (UTC)" in page
    assert "min_call_s" not in page


def test_pages_of_results_walk_the_whole_list_without_gaps(site, listener):
    seen, url = [], "/calls?limit=1"
    for _ in range(10):
        page = listener.get(url).text
        seen += _ids_on(page)
        nxt = re.search(r'rel="next" href="([^"]+)"', page)
        if not nxt:
            break
        url = nxt.group(1).replace("&amp;", "&")
    assert sorted(seen) == sorted(r["id"] for r in _calls(site)) and len(seen) == len(set(seen))


@pytest.mark.parametrize("query, field, shown_at, words", [
    ("date_from=15/03/2026", "date_from", "date_from", "Enter the start date as YYYY-MM-DD, e.g. 2026-03-04."),
    ("date_to=yesterday", "date_to", "date_to", "Enter the end date as YYYY-MM-DD, e.g. 2026-03-04."),
    ("date_from=2026-03-16&date_to=2026-03-15", "date_to", "date_to", "The end date is before the start date"),
    ("line=abc", "line", "line", "Choose a line from 1 to 64."), ("line=0", "line", "line", "from 1 to 64"),
    ("direction=sideways", "direction", "direction", "Choose inbound or outbound."),
    ("status=lost", "status", "status", "Choose one of these statuses"),
    ("number=' OR 1=1 --", "number", "q", "A number has only digits"),
    ("number=" + "1" * 200, "number", "q", "at most 32 digits"),
    ("q=ab", "q", "q", "Type at least 3 letters of a name or a note, or some digits of a number."),
    ("held=maybe", "held", "held", "Use 1 for kept calls only"),
    ("limit=100000", "limit", "search", "Show from 1 to 500 calls per page."),
    ("after=not-a-cursor", "after", "search", "start again from the first page"),
    ("order=random", "order", "order", "Sort by newest, oldest, longest or shortest."),
])
def test_bad_search_input_gets_a_clear_400(listener, query, field, shown_at, words):
    """The page says what is wrong in plain words, next to the field (or above the list for what
    has no field); the API names the parameter."""
    page = listener.get(f"/calls?{query}")
    assert page.status_code == 400
    message = re.search(rf'id="{shown_at}-error">([^<]*)<', page.text)
    assert message and words in message.group(1), page.text[-2000:]
    if shown_at != "search":
        assert f'aria-describedby="{shown_at}-error"' in page.text
    assert f"{field}:" not in page.text, "no field names in the owner's messages"
    api = listener.get(f"/api/v1/calls?{query}")
    assert api.status_code == 400 and api.json()["field"] == field and words in api.json()["message"]


def test_audio_is_served_with_ranges_and_nothing_else(site, listener):
    call = next(r for r in _calls(site) if r["status"] == "complete")
    body = (site.data / call["path"]).read_bytes()
    full = listener.get(f"/calls/{call['id']}/audio")
    assert full.status_code == 200 and full.content == body and full.headers["Content-Type"] == "audio/mpeg"
    assert full.headers["Accept-Ranges"] == "bytes" and "private" in full.headers["Cache-Control"]
    part = listener.get(f"/calls/{call['id']}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == body[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    tail = listener.get(f"/calls/{call['id']}/audio", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == body[-50:]
    beyond = listener.get(f"/calls/{call['id']}/audio", headers={"Range": f"bytes={len(body) + 10}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(body)}"
    for garbage in ("bytes=abc", "lines=1-2", "bytes=5-1", "bytes=--", "bytes=0-1,2-3," * 50):
        r = listener.get(f"/calls/{call['id']}/audio", headers={"Range": garbage})
        assert r.status_code in (200, 206, 416), (garbage, r.status_code)
        if r.status_code == 200:
            assert r.content == body
    # The listener may listen, not download; the old ?download=1 link leads to the permission check.
    assert listener.get(f"/calls/{call['id']}/download").status_code == 403
    assert listener.get(f"/calls/{call['id']}/audio?download=1").headers["Location"].endswith("/download")


def test_hostile_requests_get_the_right_4xx(site, admin):
    call = next(r for r in _calls(site) if r["status"] == "complete")
    for url in ("/calls/..%2f..%2fhookline.db/audio", "/calls/%2e%2e/audio", "/calls/" + "a" * 5000,
                "/calls/zzzzzzzzzz", "/calls/%00/audio", "/api/v1/calls/..%2F..%2Fetc%2Fpasswd",
                "/calls/0000000000/audio", "/api/v1/calls/0000000000/events", "/static/../hookline.db",
                "/static/%2e%2e/web-secret.key"):
        r = admin.get(url)
        assert r.status_code == 404, (url, r.status_code)
        assert b"SQLite format" not in r.content and b"ID3" != r.content[:3]
    assert admin.delete(f"/calls/{call['id']}").status_code == 405
    assert admin.put("/api/v1/calls").status_code == 405
    assert admin.post("/api/v1/calls").status_code == 405
    assert admin.get(f"/calls/{call['id']}/hold").status_code == 405
    # A huge form is refused before it is read; a malformed one is a 400, never a 500.
    token = admin.token_from(f"/calls/{call['id']}")
    r = admin.post(f"/calls/{call['id']}/note", data={"csrf_token": token, "note": "x" * 200_000})
    assert r.status_code == 413
    r = admin.post(f"/calls/{call['id']}/note", data={"csrf_token": token, "note": "x" * 2001})
    assert r.status_code == 400
    r = admin.post(f"/calls/{call['id']}/note", data=b"\xff\xfe\x00garbage",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    r = admin.post("/settings", data={"csrf_token": token, "box.min_call_s": "\x00" * 10})
    assert r.status_code == 400
    # A tampered catalog row never makes the box serve a file outside recordings/.
    db = dbmod.connect(site.data)
    db.execute("UPDATE calls SET path = '../hookline.db' WHERE id = ?", [call["id"]])
    try:
        assert admin.get(f"/calls/{call['id']}/audio").status_code == 404
        assert admin.get(f"/api/v1/calls/{call['id']}/audio").status_code == 404
    finally:
        db.execute("UPDATE calls SET path = ? WHERE id = ?", [call["path"], call["id"]])
        db.close()


def test_keep_note_and_delete_with_confirmation_and_audit(tmp_path):
    data = wt.make_data(tmp_path)
    server = wt.start(data)
    try:
        manager = wt.login(server.base, "manager")
        call = next(r for r in catalog.list_calls(dbmod.connect(data)) if r["status"] == "complete")
        page = f"/calls/{call['id']}"
        file = data / call["path"]
        # Keep it: deleting is then refused.
        r = manager.post_form(f"{page}/hold", {"held": "1"}, page=page)
        assert r.status_code == 303 and 'id="held-badge"' in manager.get(page).text
        r = manager.post_form(f"{page}/delete", {}, page=page)
        assert r.status_code == 303 and file.exists()
        assert "release the hold first" in manager.get(page).text
        # A note, saved and shown, searchable.
        r = manager.post_form(f"{page}/note", {"note": "Quote for the kitchen job"}, page=page)
        assert r.status_code == 303 and "Quote for the kitchen job" in manager.get(page).text
        # Release, then delete: a confirmation page first, then the file is gone.
        manager.post_form(f"{page}/hold", {"held": "0"}, page=page)
        confirm = manager.get(f"{page}/delete")
        assert confirm.status_code == 200 and "cannot be brought back" in confirm.text and file.exists()
        r = manager.post_form(f"{page}/delete", {}, page=f"{page}/delete")
        assert r.status_code == 303 and not file.exists()
        after = manager.get(page).text
        assert "The recording was deleted." in after and manager.get(f"{page}/audio").status_code == 404
        db = dbmod.connect(data)
        row = catalog.get_call(db, call["id"])
        assert row["status"] == "deleted" and row["path"] is None and row["sha256"] == call["sha256"]
        trail = [(e["user"], e["action"], e["target"]) for e in reversed(audit.entries(db, limit=50))]
        assert [t for t in trail if t[1] in ("hold", "release", "note", "delete")] == [
            ("manager", "hold", call["id"]), ("manager", "note", call["id"]),
            ("manager", "release", call["id"]), ("manager", "delete", call["id"])]
        assert audit.verify(db) is None
        # Listening and downloading are audited too (once per listening, not per seek).
        other = next(r for r in catalog.list_calls(db) if r["status"] == "complete")
        for rng in (None, "bytes=0-", "bytes=5000-", "bytes=0-"):
            manager.get(f"/calls/{other['id']}/audio", headers={"Range": rng} if rng else {})
        manager.get(f"/calls/{other['id']}/download")
        actions = [(e["action"], e["target"]) for e in audit.entries(db, limit=50)]
        assert actions.count(("listen", other["id"])) == 1 and ("download", other["id"]) in actions
        # The audit page shows it to the manager.
        page = manager.get("/audit?action=delete").text
        assert call["id"] in page and "manager" in page
        assert "The chain is intact." in manager.get("/audit?verify=1").text
    finally:
        server.close()


def test_settings_page_validates_each_field_and_saves_all_or_nothing(site, admin):
    db = dbmod.connect(site.data)
    before = settingsmod.resolve(db)
    page = admin.get("/settings")
    assert page.status_code == 200 and 'name="line.1.min_call_s"' in page.text and 'name="box.consent"' in page.text
    r = admin.post_form("/settings", {"box.min_call_s": "abc", "line.2.beep_interval_s": "1",
                                      "box.consent": "periodic"})
    assert r.status_code == 400
    assert "is not a number" in r.text and "out of range" in r.text and 'aria-invalid="true"' in r.text
    assert settingsmod.resolve(db) == before, "nothing may be saved when a field is wrong"
    r = admin.post_form("/settings", {"box.consent": "periodic", "line.2.min_call_s": "3.5"})
    assert r.status_code == 303
    now = settingsmod.resolve(db)
    assert now["box"]["consent"] == ("periodic", "set") and now["lines"][2]["min_call_s"] == (3.5, "line")
    proc = st.check("settings", "get", "line.2.min_call_s", "--data", site.data)
    assert "3.5" in proc.stdout
    # Emptying a field goes back to the default.
    r = admin.post_form("/settings", {"box.consent": "", "line.2.min_call_s": ""})
    assert r.status_code == 303 and settingsmod.resolve(db)["box"]["consent"][1] == "default"
    changes = [e for e in audit.entries(db, action="settings", limit=10)]
    assert changes and changes[0]["user"] == "admin"
    db.close()


def test_api_with_bearer_tokens(site):
    proc = st.check("tokens", "create", "--user", "listener", "--label", "test", "--data", site.data)
    token = proc.stdout.strip()
    assert token.startswith("hl_")
    api = wt.Client(site.base)
    api.headers["Authorization"] = f"Bearer {token}"
    page = api.get("/api/v1/calls?limit=2")
    assert page.status_code == 200 and len(page.json()["calls"]) == 2 and page.json()["next"]
    rest = api.get(page.json()["next_url"].replace(site.base, ""))
    ids = [c["id"] for c in page.json()["calls"] + rest.json()["calls"]]
    assert sorted(ids) == sorted(r["id"] for r in _calls(site))
    one = api.get(f"/api/v1/calls/{ids[0]}").json()
    assert one["id"] == ids[0] and set(catalog.CALL_FIELDS) <= set(one)
    events = api.get(f"/api/v1/calls/{ids[0]}/events").json()["events"]
    assert any(e["kind"] == "offhook" for e in events)
    status = api.get("/api/v1/status").json()
    assert {"recorder", "lines", "disk", "warnings"} <= set(status)
    assert api.get(f"/api/v1/calls/{ids[0]}/audio?download=1").status_code in (403, 404)   # a listener's token
    doc = api.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.") and "/api/v1/calls" in doc["paths"]
    # Tokens are for the API only: on a page route it is as if there were none.
    r = api.post("/calls/x/hold")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    # Wrong and revoked tokens are refused with 401.
    bad = wt.Client(site.base)
    bad.headers["Authorization"] = "Bearer hl_" + "x" * 43
    r = bad.get("/api/v1/calls")
    assert r.status_code == 401 and "invalid_token" in r.headers["WWW-Authenticate"]
    listed = json.loads(st.check("tokens", "list", "--json", "--data", site.data).stdout)
    st.check("tokens", "revoke", str(listed[-1]["id"]), "--data", site.data)
    assert api.get("/api/v1/calls").status_code == 401


def test_hashes_in_the_catalog_match_what_is_served(site, listener):
    for row in (r for r in _calls(site) if r["path"]):
        body = listener.get(f"/calls/{row['id']}/audio").content
        assert hashlib.sha256(body).hexdigest() == row["sha256"]


def test_only_audio_actually_sent_is_audited(site, manager):
    call = next(r for r in _calls(site) if r["status"] == "complete")
    db = dbmod.connect(site.data)

    def downloads() -> int:
        return sum(1 for e in audit.entries(db, action="download", target=call["id"], limit=500))

    before = downloads()
    manager.head(f"/calls/{call['id']}/download")
    manager.get(f"/calls/{call['id']}/download", headers={"Range": "bytes=999999999-"})
    assert downloads() == before
    manager.get(f"/calls/{call['id']}/download")
    assert downloads() == before + 1
    db.close()
