"""Exporting to the USB stick from the web pages and the API, over real HTTP against the real app,
with the box's own recorder (`hookline run`) running on the same data folder: its export runner
copies onto a real ext4 volume (a loop device) mounted under the config's mount root. What an
owner would notice: which calls are on the stick afterwards (a search, ticked calls, everything
new), what the page says while it copies and when it is done (safe to remove, cancelled), the
clear errors for bad choices; and that a listener can do none of it, and who did what is audited."""
from __future__ import annotations

import csv
import html
import io
import signal
from pathlib import Path

import pytest

import exporttools as et
import simtools as st
import webtools as wt
from appliance.store import audit, call_query, db as dbmod, users

pytestmark = [pytest.mark.xdist_group("export-runner"),
              pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")]

BOX = """
data_dir = "{data}"
status_file = "{data}/run/status.json"
timezone = "UTC"
phone_region = "US"

[export]
mount_root = "{media}"

[[line]]
id = 1
capture = "hookline_test_unplugged1"
[line.offhook]
pin = 17

[[line]]
id = 2
capture = "hookline_test_unplugged2"
[line.offhook]
pin = 27
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """webtools' office and its users: three kept calls, oldest first (a call dialed on line 2, one
    from (555) 123-4567 on line 1, one more on line 2), and one not kept."""
    data = wt.make_data(tmp_path_factory.mktemp("webexport"))
    kept = sorted((r for r in st.calls(data) if r["status"] == "complete"), key=lambda r: r["started_at"])
    assert [r["line"] for r in kept] == [2, 1, 2]
    return data, kept


class Box:
    """The data folder, its calls, the recorder running on it, the web app, the mount root."""

    def __init__(self, data: Path, rows: list[dict], media: Path, recorder, server: wt.Server) -> None:
        self.data, self.rows, self.media, self.recorder, self.server = data, rows, media, recorder, server

    def tokens(self) -> dict[str, str]:
        db = dbmod.connect(self.data)
        try:
            return {role: users.create_token(db, role, "test")[1] for role in ("listener", "manager")}
        finally:
            db.close()


@pytest.fixture
def box(template, tmp_path):
    data = et.copy_box(template[0], tmp_path / "data")
    media = tmp_path / "media"
    media.mkdir()
    config = tmp_path / "hookline.toml"
    config.write_text(BOX.format(data=data, media=media))
    recorder = st.start_recorder(config)
    server = None
    try:
        st.await_status(recorder, "--config", config, until=lambda lines: len(lines) == 2)
        server = wt.start(data, config)        # the dashboard finds sticks under its mount root
        yield Box(data, template[1], media, recorder, server)
    finally:
        if server:
            server.close()
        recorder.send_signal(signal.SIGTERM)
        recorder.communicate(timeout=30)


def said(client) -> dict:
    answer = client.get("/export/progress")
    assert answer.status_code == 200, answer.status_code
    return answer.json()


def finished(client) -> dict:
    return st.wait_for(lambda: (s := said(client))["outcome"] and not s["running"] and s)


def flash(client, response) -> str:
    assert response.status_code == 303, (response.status_code, response.text[:300])
    page = client.get(response.headers["Location"]).text
    return page[page.index('class="flash'):].split(">", 1)[1].split("<", 1)[0]


def on_stick(usb) -> list[str]:
    """The call ids the stick's index lists (plugged in again to read it)."""
    with usb.mounted_again() as hookline:
        with open(hookline / "index.csv", encoding="utf-8-sig", newline="") as f:
            return [r["call_id"] for r in csv.DictReader(io.StringIO(f.read()))]


def test_a_search_ticked_calls_and_everything_new_go_onto_the_stick(box):
    manager = wt.login(box.server.base, "manager")
    ids = [r["id"] for r in box.rows]
    # No stick yet: the page says so, the dashboard has no link to it, a start is refused in words.
    assert "No USB stick is plugged in" in said(manager)["stick"]
    assert '<p id="export-link" hidden>' in manager.get("/").text
    refused = manager.post_form("/export", {"what": "new"}, page="/export")
    assert flash(manager, refused) == ("The export did not start: No USB stick is plugged in: plug one into "
                                       "the box and try again.")
    # A search on the calls page (a number): its call, and only that one.
    with et.usb_stick(box.media, "SEARCH") as usb:
        assert '<p id="export-link"><a href="/export">Export to the stick</a>' in manager.get("/").text
        page = "/calls?q=555-123-4567"
        assert 'id="export-search"' in manager.get(page).text
        started = manager.post_form("/export", {"what": "search", "q": "555-123-4567"}, page=page)
        assert started.headers["Location"] == "/export"
        done = finished(manager)
        assert done["outcome_kind"] == "ok" and "safe to remove" in done["outcome"], done
        assert "safe to remove" in manager.get("/export").text
        assert on_stick(usb) == [ids[1]]
    # Ticked calls: the two ticked.
    with et.usb_stick(box.media, "PICKED") as usb:
        manager.post_form("/export", {"what": "selected", "id": [ids[0], ids[2]]}, page="/calls")
        assert finished(manager)["outcome"].startswith("Done: 2 recordings copied and verified")
        assert on_stick(usb) == [ids[0], ids[2]]
    # A search by days and a line goes as days and a line (no cap on the count).
    with et.usb_stick(box.media, "LINE2") as usb:
        search = {"what": "search", "line": "2", "date_from": "2026-03-15", "match": "contains", "order": "oldest"}
        manager.post_form("/export", search, page="/calls?line=2")
        finished(manager)
        assert on_stick(usb) == [ids[0], ids[2]]
    # Everything new, from the export page: all three; again: nothing new.
    with et.usb_stick(box.media, "NEWSTUFF") as usb:
        manager.post_form("/export", {"what": "new"}, page="/export")
        assert "3 recordings copied and verified" in finished(manager)["outcome"]
        assert sorted(on_stick(usb)) == sorted(ids)
        usb.plug()
        before = said(manager)["outcome"]
        manager.post_form("/export", {"what": "new"}, page="/export")
        st.wait_for(lambda: said(manager)["outcome"] != before)
        assert finished(manager)["outcome"].startswith("Nothing new to copy")
    # Two sticks: the page lists both and the manager chooses; a path that is no stick is refused.
    with et.usb_stick(box.media, "ONE"), et.usb_stick(box.media, "TWO") as two:
        assert said(manager)["stick"] == "2 USB sticks are plugged in: choose the one to export to."
        assert [c["path"] for c in said(manager)["choices"]] == [str(box.media / "ONE"), str(two.point)]
        wrong = manager.post_form("/export", {"what": "new", "target": "/etc"}, page="/export")
        assert flash(manager, wrong) == "That stick is not plugged in (any more): choose one of those listed."
        manager.post_form("/export", {"what": "days", "line": "1", "target": str(two.point)}, page="/export")
        finished(manager)
        assert on_stick(two) == [ids[1]]
    # Each export is audited by the recorder's job, in the manager's name and from where.
    db = dbmod.connect(box.data)
    try:
        entries = audit.entries(db, action="export", limit=10)
    finally:
        db.close()
    assert [(e["user"], e["remote_addr"], e["detail"]["copied"]) for e in reversed(entries)] == [
        ("manager", "127.0.0.1", 1), ("manager", "127.0.0.1", 2), ("manager", "127.0.0.1", 2),
        ("manager", "127.0.0.1", 3), ("manager", "127.0.0.1", 0), ("manager", "127.0.0.1", 1)]
    assert {e["detail"]["via"] for e in entries} == {"web"}
    by_line = entries[-3]["detail"]["selection"]       # the search by day and line went as those
    assert (by_line["since"], by_line["line"], by_line.get("chosen_calls")) == ("2026-03-15", 2, None)
    assert entries[-1]["detail"]["selection"]["chosen_calls"] == 1     # the number search: as its call


def test_bad_choices_get_clear_errors_and_a_listener_cannot_export(box):
    manager, listener = wt.login(box.server.base, "manager"), wt.login(box.server.base, "listener")
    days = lambda **f: manager.post_form("/export", {"what": "days", **f}, page="/export")     # noqa: E731
    for fields, error in ((dict(since="2026-03-15", until="2026-03-01"), "The last day (2026-03-01) is before the "
                                                                         "first (2026-03-15): swap them."),
                          (dict(since="15/03/2026"), "Write the first day as YYYY-MM-DD, for example 2026-03-04."),
                          (dict(line="9"), "Line 9 has no calls to export."),
                          (dict(line="x"), "Choose a line from 1 to 64."),
                          (dict(number="call me"), "Give the phone number's digits (at least 3)")):
        answer = days(**fields)
        assert answer.status_code == 400 and error in html.unescape(answer.text), (fields, answer.text[-2000:])
        assert 'aria-invalid="true"' in answer.text
    ticked = lambda ids: manager.post_form("/export", {"what": "selected", "id": ids}, page="/calls")   # noqa: E731
    assert flash(manager, ticked([])) == "Tick the calls to export first."
    assert "not calls of this box" in flash(manager, ticked(["../etc"]))
    assert "1 of the ticked calls is not in the catalog" in flash(manager, ticked([box.rows[0]["id"], "0000000000"]))
    too_short = manager.post_form("/export", {"what": "search", "q": "x"}, page="/calls")
    assert flash(manager, too_short) == call_query.MESSAGES["q"]
    assert manager.post("/export", data={"what": "new"}).status_code == 400, "no CSRF token"
    # A listener sees no export page, no buttons, and is refused at every door.
    assert listener.get("/export").status_code == 403 and listener.get("/export/progress").status_code == 403
    assert 'id="export-search"' not in listener.get("/calls").text and ">Export<" not in listener.get("/").text
    assert 'id="export-link"' not in listener.get("/").text
    assert listener.post_form("/export", {"what": "new"}, page="/account").status_code == 403
    assert listener.post_form("/export/cancel", {}, page="/account").status_code == 403
    # The recorder stopped: the page says so plainly.
    box.recorder.send_signal(signal.SIGTERM)
    box.recorder.communicate(timeout=30)
    page = manager.get("/export").text
    assert "The recorder is not running, so nothing can be exported now" in page


def test_the_api_starts_follows_and_cancels_an_export(box):
    tokens = box.tokens()
    api = wt.Client(box.server.base)
    as_ = lambda role: {"Authorization": f"Bearer {tokens[role]}"}      # noqa: E731
    assert api.get("/api/v1/export", headers=as_("listener")).status_code == 403
    assert api.post("/api/v1/export", json={"new": True}, headers=as_("listener")).status_code == 403
    bad = api.post("/api/v1/export", json={"new": "yes"}, headers=as_("manager"))
    assert bad.status_code == 400 and bad.json()["message"] == "Send new as true or false."
    bad = api.post("/api/v1/export", json={"call_ids": ["0000000000"]}, headers=as_("manager"))
    assert bad.status_code == 400 and bad.json()["field"] == "call_ids"
    none = api.post("/api/v1/export", json={"new": True}, headers=as_("manager"))
    assert none.status_code == 409 and none.json()["code"] == "no-stick"
    trickle = et.Trickle(box.data, box.rows[1])         # the second recording waits for the test
    try:
        with et.usb_stick(box.media, "OFFICE") as usb:
            started = api.post("/api/v1/export", json={"new": True}, headers=as_("manager"))
            assert started.status_code == 202 and started.json()["export"]["state"] == "copying"
            trickle.feed()
            status = st.wait_for(lambda: (s := api.get("/api/v1/export", headers=as_("manager")).json())
                                 ["export"]["files_done"] == 1 and s)
            assert status["said"]["running"] and status["said"]["progress"].startswith("Copying 2 of 3 recordings")
            assert 0 < status["said"]["fraction"] < 1
            manager = wt.login(box.server.base, "manager")
            page = manager.get("/export").text
            assert 'id="export-cancel"' in page and "<progress" in page and 'id="export-days-form"' not in page
            assert flash(manager, manager.post_form("/export/cancel", {}, page="/export")).startswith(
                "The export is stopping")
            again = api.post("/api/v1/export/cancel", headers=as_("manager"))
            assert again.status_code == 200 and again.json() == {"changed": False}
            trickle.feed()
            trickle.close()
            done = finished(manager)
            assert done["outcome_kind"] == "warning" and done["outcome"].startswith("Cancelled: 1 recording copied")
            assert usb.point.is_mount() and len(list((usb.point / "Hookline").rglob("*.mp3"))) == 1
    finally:
        trickle.close()
    db = dbmod.connect(box.data)
    try:
        cancels = audit.entries(db, action="export-cancel", limit=5)
    finally:
        db.close()
    assert [(e["user"], e["detail"]["via"]) for e in cancels] == [("manager", "web")]


def test_a_recording_that_no_longer_matches_its_hash_is_named_on_the_page(box):
    with open(box.data / box.rows[0]["path"], "r+b") as f:      # changed behind the catalog's back
        f.seek(2000)
        f.write(b"\x00\x01\x02")
    manager = wt.login(box.server.base, "manager")
    with et.usb_stick(box.media, "OFFICE") as usb:
        manager.post_form("/export", {"what": "new"}, page="/export")
        done = finished(manager)
        assert done["outcome_kind"] == "warning" and "safe to remove" in done["outcome"], done
        [named] = done["mismatched"]
        assert named == f"the call of 2026-03-15 14:12 on Line 2 ({Path(box.rows[0]['path']).name})"
        page = html.unescape(manager.get("/export").text)
        assert named in page and "no longer matches the checksum" in page
        assert on_stick(usb) == [r["id"] for r in box.rows[1:]]
