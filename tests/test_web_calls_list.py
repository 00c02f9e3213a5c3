"""The calls list over real HTTP: sorting by time and duration, the kept and noted filters, the
one search box (numbers in any form, names, notes), the same on the JSON API, previous and next
call following the search, and several calls downloaded as one streamed ZIP (what is in it,
who may, what is audited, and that memory stays flat however many calls it holds)."""
from __future__ import annotations

import hashlib
import io
import re
import threading
import tracemalloc
import zipfile
from html import unescape

import pytest

import webtools as wt
from appliance.store import audit, catalog, db as dbmod, removal, users
from test_web_calls import _calls, _ids_on

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The four simulated calls; one kept, two with notes."""
    data = wt.make_data(tmp_path_factory.mktemp("calls-list"))
    db = dbmod.connect(data)
    rows = catalog.list_calls(db)
    kept = [r for r in rows if r["path"]]
    removal.set_hold(db, kept[0]["id"], True)
    removal.set_note(db, kept[1]["id"], "Quote for the kitchen job")
    removal.set_note(db, kept[2]["id"], "asked about the invoice")
    db.close()
    server = wt.start(data)
    yield server
    server.close()



def _by(rows: list[dict], key, reverse: bool) -> list[str]:
    return [r["id"] for r in sorted(rows, key=key, reverse=reverse)]


def test_sorting_by_time_and_duration(site, listener):
    rows = _calls(site)
    length = lambda r: -1 if r["duration_s"] is None else r["duration_s"]  # noqa: E731
    assert _ids_on(listener.get("/calls").text) == _by(rows, lambda r: r["started_at"], True)
    assert _ids_on(listener.get("/calls?order=oldest").text) == _by(rows, lambda r: r["started_at"], False)
    longest = _ids_on(listener.get("/calls?order=longest").text)
    assert longest == _by(rows, length, True) and len(set(map(length, rows))) == len(rows)
    assert _ids_on(listener.get("/calls?order=shortest").text) == longest[::-1]
    # Page by page (one call a page) gives the same order.
    seen, url = [], "/calls?order=longest&limit=1"
    while url:
        page = listener.get(url).text
        seen += _ids_on(page)
        nxt = re.search(r'rel="next" href="([^"]+)"', page)
        url = unescape(nxt.group(1)) if nxt else None
    assert seen == longest
    # The chosen sort is shown back.
    assert '<option value="longest" selected>' in listener.get("/calls?order=longest").text


def test_kept_and_noted_filters(site, listener):
    rows = _calls(site)
    page = listener.get("/calls?held=1").text
    assert _ids_on(page) == [r["id"] for r in rows if r["held"]] and "1 call match." in page
    assert 'id="held" name="held" value="1" checked' in page
    noted = listener.get("/calls?noted=1").text
    assert set(_ids_on(noted)) == {r["id"] for r in rows if r["note"]} and noted.count('class="badge noted"') == 2
    assert _ids_on(listener.get("/calls?held=1&noted=1").text) == []


@pytest.mark.parametrize("typed, finds", [
    ("1234", "inbound"), ("(555) 123-4567", "inbound"), ("+1 555 123 4567", "inbound"), ("555.123", "inbound"),
    ("doe", "inbound"), ("John DOE", "inbound"), ("kitchen", "note1"), ("INVOICE", "note2"),
    ("7946", "dialed"), ("020 7946", "dialed"), ("nobody here", None),
])
def test_one_search_box_finds_numbers_names_and_notes(site, listener, typed, finds):
    rows = _calls(site)
    expected = {
        "inbound": [r["id"] for r in rows if r["remote_number"] == "5551234567"],
        "dialed": [r["id"] for r in rows if r["dialed"] == "02079460000"],
        "note1": [r["id"] for r in rows if r["note"] == "Quote for the kitchen job"],
        "note2": [r["id"] for r in rows if r["note"] == "asked about the invoice"],
        None: [],
    }[finds]
    page = listener.get("/calls", params={"q": typed})
    assert page.status_code == 200 and _ids_on(page.text) == expected
    assert f'value="{typed}"' in unescape(page.text).replace("&#34;", '"'), "the search is shown back"
    api = listener.get("/api/v1/calls", params={"q": typed})
    assert [c["id"] for c in api.json()["calls"]] == expected


def test_the_api_takes_the_same_parameters(site, listener):
    rows = _calls(site)
    r = listener.get("/api/v1/calls?order=shortest&limit=2")
    assert r.status_code == 200
    first = [c["id"] for c in r.json()["calls"]]
    rest = listener.get(r.json()["next_url"].replace(site.base, "")).json()["calls"]
    assert first + [c["id"] for c in rest] == _ids_on(listener.get("/calls?order=shortest").text)
    assert [c["id"] for c in listener.get("/api/v1/calls?held=1").json()["calls"]] == \
        [r["id"] for r in rows if r["held"]]
    assert {c["id"] for c in listener.get("/api/v1/calls?noted=0").json()["calls"]} == \
        {r["id"] for r in rows if not r["note"]}
    bad = listener.get("/api/v1/calls?sort=longest")
    assert bad.status_code == 400 and bad.json()["field"] == "sort", "an unknown key is still refused"
    doc = listener.get("/api/v1/openapi.json").json()
    params = {p["name"]: p for p in doc["paths"]["/api/v1/calls"]["get"]["parameters"]}
    assert {"q", "noted"} <= set(params)
    assert params["order"]["schema"]["enum"] == ["newest", "oldest", "longest", "shortest"]


def _walk_call_pages(client, url: str, rel: str) -> list[str]:
    seen = []
    while url:
        page = client.get(url)
        assert page.status_code == 200
        seen.append(re.search(r"/calls/([0-9a-f]{10})", url).group(1))
        link = re.search(rf'<a rel="{rel}" id="(?:prev|next)-call" href="([^"]+)"', page.text)
        url = unescape(link.group(1)) if link else None
        assert len(seen) < 20
    return seen


def test_previous_and_next_call_follow_the_search(site, listener):
    plain = _ids_on(listener.get("/calls").text)
    assert _walk_call_pages(listener, f"/calls/{plain[0]}", "next") == plain
    assert _walk_call_pages(listener, f"/calls/{plain[-1]}", "prev") == plain[::-1]
    # From a sorted, filtered list: the links on the list carry the search, the call page keeps it.
    listed = listener.get("/calls?order=longest&status=complete").text
    order = _ids_on(listed)
    first = unescape(re.search(r'<a href="(/calls/[0-9a-f]{10}\?[^"]+)"', listed).group(1))
    assert "order=longest" in first and "status=complete" in first
    assert _walk_call_pages(listener, first, "next") == order
    # The crumb goes back to that list; a search that cannot be read falls back to time order.
    page = listener.get(first).text
    assert re.search(r'class="crumbs"><a href="/calls\?[^"]*order=longest', page)
    assert _walk_call_pages(listener, f"/calls/{plain[0]}?order=sideways", "next") == plain


# -- the ZIP ------------------------------------------------------------------------------------------
def _post_zip(client, data: dict, **kwargs):
    return client.post("/calls/download.zip", data={"csrf_token": client.token_from("/calls"), **data}, **kwargs)


def _members(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.testzip() is None
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist()), "MP3s are stored, not deflated"
        return {name: z.read(name) for name in z.namelist()}


def test_three_calls_as_one_zip_each_audited(site, manager):
    kept = [r for r in _calls(site) if r["path"]]
    assert len(kept) == 3
    db = dbmod.connect(site.data)
    before = audit.entries(db, action="download", limit=1000)
    r = _post_zip(manager, {"what": "selected", "id": [r["id"] for r in kept]})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    assert re.fullmatch(r'attachment; filename="hookline-calls-[0-9-]+\.zip"', r.headers["Content-Disposition"])
    members = _members(r.content)
    assert list(members) == [r["path"].rsplit("/", 1)[1] for r in kept], "the recordings' own names, in order"
    for row in kept:
        assert hashlib.sha256(members[row["path"].rsplit("/", 1)[1]]).hexdigest() == row["sha256"]
    after = audit.entries(db, action="download", limit=1000)
    new = after[:len(after) - len(before)]
    assert sorted(e["target"] for e in new) == sorted(r["id"] for r in kept), "one entry per call"
    assert all(e["user"] == "manager" and e["detail"].get("via") == "zip" for e in new)
    assert audit.verify(db) is None
    db.close()


def test_all_matching_calls_as_one_zip(site, manager):
    rows = _calls(site)
    r = _post_zip(manager, {"what": "all", "line": "1", "limit": "1", "after": "junk"})
    expected = [x["path"].rsplit("/", 1)[1] for x in sorted(rows, key=lambda x: x["started_at"], reverse=True)
                if x["path"] and x["line"] == 1]
    assert r.status_code == 200 and list(_members(r.content)) == expected
    page = manager.get("/calls?line=1").text
    assert 'id="download-all"' in page and "Download all 2 matching" in page


def test_zip_refusals_say_why(site, manager, listener, monkeypatch):
    import web.calls_zip
    r = _post_zip(manager, {"what": "selected"})
    assert r.status_code == 303 and "Tick the calls to download first." in manager.get(r.headers["Location"]).text
    discarded = next(x for x in _calls(site) if x["status"] == "discarded")
    r = _post_zip(manager, {"what": "selected", "id": [discarded["id"], "0000000000"]})
    assert r.status_code == 303 and "None of these calls has a recording" in manager.get(r.headers["Location"]).text
    monkeypatch.setattr(web.calls_zip, "ZIP_CAP", 2)
    r = _post_zip(manager, {"what": "all", "order": "longest"})
    assert r.status_code == 303 and "order=longest" in r.headers["Location"]
    assert "more than 2 calls, and one ZIP holds at most 2" in manager.get(r.headers["Location"]).text
    r = _post_zip(manager, {"what": "all", "date_from": "yesterday"})
    assert r.status_code == 303 and "Enter the start date" in manager.get(r.headers["Location"]).text
    # Only ids reach the catalog: anything else is refused before it is looked up.
    for hostile in ("../hookline.db", "recordings/2026", "a" * 40, "", "x y"):
        r = _post_zip(manager, {"what": "selected", "id": [hostile]})
        assert r.status_code in (400, 303), hostile
        assert b"SQLite" not in r.content
    assert _post_zip(manager, {"what": "everything"}).status_code == 400
    # Without the form's token, or as a listener: refused, and the listener sees no checkboxes.
    assert manager.post("/calls/download.zip", data={"what": "all"}).status_code == 400
    assert _post_zip(listener, {"what": "all"}).status_code == 403
    page = listener.get("/calls").text
    assert 'type="checkbox" name="id"' not in page and "zip-form" not in page and "calls.js" not in page
    assert manager.get("/calls").text.count('type="checkbox" name="id"') == 3


CALLS_IN_BIG_ZIP = 320
SERVER_BUFFER = 16 * 2 ** 20     # waitress's outbuf_high_watermark: what it holds for one connection


def test_a_big_zip_streams_in_flat_memory(tmp_path):
    """320 calls of 256 KiB (80 MiB in all) go out while this process (server and client) never
    holds more than waitress's own per-connection buffer and a little: neither the set nor a
    whole file is ever in memory, so a bigger set takes no more."""
    data = tmp_path / "data"
    db = dbmod.connect(data)
    users.create_user(db, "manager", "manager", wt.PASSWORDS["manager"])
    folder = data / "recordings" / "2026" / "03" / "15"
    folder.mkdir(parents=True)
    sums = {}
    for i in range(CALLS_IN_BIG_ZIP):
        body = hashlib.sha256(str(i).encode()).digest() * (256 * 1024 // 32)
        name = f"2026-03-15T{9 + i // 60:02d}-{i % 60:02d}-00_L1_in_555{i:04d}_c{i:09d}.mp3"
        (folder / name).write_bytes(body)
        sums[name] = hashlib.sha256(body).hexdigest()
        catalog.create_call(db, {"id": f"c{i:09d}", "line": 1, "direction": "inbound", "status": "complete",
                                 "started_at": catalog.iso(1773565200 + i * 60), "duration_s": 60.0,
                                 "remote_number": f"555{i:04d}", "path": f"recordings/2026/03/15/{name}",
                                 "size_bytes": len(body), "sha256": sums[name]})
    db.close()
    server = wt.start(data)
    try:
        manager = wt.login(server.base, "manager")
        token = manager.token_from("/calls")
        out = tmp_path / "all.zip"
        tracemalloc.start()
        try:
            r = manager.post("/calls/download.zip", data={"csrf_token": token, "what": "all"}, stream=True)
            assert r.status_code == 200 and "Content-Length" not in r.headers
            with out.open("wb") as f:
                for chunk in r.iter_content(64 * 1024):
                    f.write(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert out.stat().st_size > CALLS_IN_BIG_ZIP * 256 * 1024
        assert peak < SERVER_BUFFER + 4 * 2 ** 20, f"{peak / 2 ** 20:.1f} MiB at the peak while streaming 80 MiB"
        with zipfile.ZipFile(out) as z:
            assert len(z.namelist()) == CALLS_IN_BIG_ZIP
            for name in z.namelist():
                assert hashlib.sha256(z.read(name)).hexdigest() == sums[name]
        db = dbmod.connect(data)
        assert len(audit.entries(db, action="download", limit=500)) == CALLS_IN_BIG_ZIP
        db.close()
    finally:
        server.close()
    assert threading.active_count() < 50
