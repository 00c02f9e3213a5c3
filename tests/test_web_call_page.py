"""A call's page over real HTTP, as each role reads it: the heading and facts with the line's name,
readable numbers and the box's zone named once; the story as sentences; why a call was not kept
or was deleted; who kept it and who wrote its note; and the technical details (device paths,
modem strings, raw caller ID, the file's hash) for administrators only.

The calls come from the real simulator (a caller-ID modem that goes missing for a while, a
recording notice, dialing, a call split in two, a short one discarded); the box is given its
line names and zone as the recorder records them (store.box)."""
from __future__ import annotations

import html
import re
import shutil
import sqlite3
import time

import pytest

import simtools as st
import webtools as wt
from appliance import config as configmod
from appliance.store import box, catalog, db as dbmod, retention, users

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

# A modem on each line (so each hears rings: a call with none before it is outgoing), a notice on
# line 1, parts of 10 s on line 2; the modem of line 1 goes missing for 4 s before the short call.
SCENARIO = """
line = [
  { id = 1, offhook = "gpio", callerid = "modem", settings = { consent = "start" } },
  { id = 2, offhook = "gpio", callerid = "modem", settings = { max_call_s = 10 } },
]
call = [
  { line = 1, at = 0.5, direction = "inbound", rings = 2, talk = 4.0, near = "tone:440@-12", far = "tone:1000@-12", caller_id = { number = "4155550123", name = "ACME PLUMBING" } },
  { line = 2, at = 1.0, direction = "outbound", dial = "4155550199", talk = 14.0, near = "tone:523@-14", far = "tone:660@-16" },
  { line = 1, at = 30.0, direction = "outbound", talk = 1.0, near = "tone:700@-12", far = "silence" },
]
fault = [{ line = 1, at = 20.0, kind = "modem-gone", for = 4.0 }]

[appliance]
start = "2026-03-15T14:12:00Z"
seed = 7
"""

BOX = {"timezone": "America/New_York", "phone_region": "US", "line": [
    {"id": 1, "name": "Front desk", "capture": "line1", "offhook": {"source": "gpio", "pin": 17}},
    {"id": 2, "name": "Warehouse", "capture": "line2", "offhook": {"source": "gpio", "pin": 27}}]}
ZONE = "America/New_York"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("callpage")
    data = tmp / "data"
    st.simulate(st.write_scenario(tmp, SCENARIO), data)
    db = dbmod.connect(data)
    try:
        box.record(db, configmod.parse(BOX))     # what the recorder records at start on a named box
        for role, password in wt.PASSWORDS.items():
            users.create_user(db, role, role, password)
    finally:
        db.close()
    return data


@pytest.fixture(scope="module")
def site(data):
    server = wt.start(data)
    yield server
    server.close()


@pytest.fixture(scope="module")
def clients(site):
    return {role: wt.login(site.base, role) for role in wt.PASSWORDS}


@pytest.fixture(scope="module")
def calls(data):
    db = dbmod.connect(data)
    try:
        rows = catalog.list_calls(db)
    finally:
        db.close()
    return {"inbound": next(r for r in rows if r["remote_number"] == "4155550123"),
            "part1": next(r for r in rows if r["line"] == 2 and r["part"] == 1),
            "part2": next(r for r in rows if r["line"] == 2 and r["part"] == 2),
            "short": next(r for r in rows if r["status"] == "discarded")}


def visible(page: str) -> str:
    """The page's text as a person reads it (tags gone, entities read, spaces squeezed)."""
    main = page[page.index("<main>"):page.index("</main>")]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())


def story(page: str) -> list[str]:
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", "", m)).split())
            for m in re.findall(r'<span class="what">(.*?)</span>', page, re.S)]


def fact(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(dd|p|h1)>', page, re.S)
    assert match, element_id
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", match[1])).split())


def test_an_answered_call_reads_as_a_story(clients, calls):
    page = clients["listener"].get(f"/calls/{calls['inbound']['id']}").text
    assert fact(page, "call-heading") == "Call from ACME PLUMBING, (415) 555-0123 on Front desk"
    assert fact(page, "call-line") == "Front desk" and fact(page, "call-caller") == "ACME PLUMBING, (415) 555-0123"
    assert story(page) == ["Rang twice", "Caller ID: ACME PLUMBING, (415) 555-0123", "Answered",
                           "Recording notice played", "Hung up after 0:04"]
    text = visible(page)
    assert "Started 2026-03-15 10:12:" in text, "in the box's zone, not the server's (UTC)"
    assert text.count(ZONE) == 1, "the zone is named once"
    assert f"{ZONE} (EDT)" in text, "as it was that day, whatever the season now"
    assert not re.search(r"\w=\S|None|direction|preroll|withheld|4155550123", text)


def test_a_dialed_call_split_in_two_says_where_it_goes_on(clients, calls):
    first = clients["listener"].get(f"/calls/{calls['part1']['id']}").text
    assert fact(first, "call-heading") == "Call to (415) 555-0199 from Warehouse"
    assert fact(first, "call-dialed") == "(415) 555-0199"
    assert story(first) == ["Picked up to make a call", "Dialed (415) 555-0199",
                            "Recording split: continues in part 2 (a recording is cut every 10 seconds)"]
    second = clients["listener"].get(f"/calls/{calls['part2']['id']}").text
    assert story(second) == ["Part 2 begins: the call goes on from the part before (a recording is cut every 10 seconds)",
                             "Hung up, 0:04 into part 2"]


def test_the_modem_going_missing_is_told_without_its_device_path(clients, calls):
    page = clients["manager"].get(f"/calls/{calls['short']['id']}").text
    # Hung up before dialing anything: nobody was on the other end to hear the notice.
    assert story(page) == ["The caller-ID modem stopped responding", "The caller-ID modem is ready again",
                           "Picked up to make a call", "Hung up after 0:01",
                           "Too short to keep: 1 second of talk, the minimum is 2 seconds"]
    assert fact(page, "no-audio") == \
        "This call was not kept. Too short to keep: 1 second of talk, the minimum is 2 seconds."
    assert fact(page, "call-status") == "Not kept"


def _technical(row: dict) -> list[str]:
    """What only a technician should read on this call's page."""
    return [s for s in (row.get("sha256"), row.get("path"), "Technical details", "AT+VCID", "NMBR =", "/sim/",
                        "device_kind", "preroll_s", row["id"] + "</dd>") if s]


@pytest.mark.parametrize("which", ["inbound", "short", "part1"])
def test_technical_details_are_for_administrators_only(clients, calls, which):
    row = calls[which]
    admin = clients["admin"].get(f"/calls/{row['id']}").text
    section = admin[admin.index('<details class="technical"'):admin.index("</details>")]
    for secret in _technical(row):
        if secret in ("AT+VCID", "NMBR =") and which != "inbound":
            continue
        assert secret in section, secret
    top = admin[:admin.index('<details class="technical"')]
    if row.get("sha256"):
        assert row["sha256"] not in top, "the hash is no longer among the top facts"
    for role in ("manager", "listener"):
        page = clients[role].get(f"/calls/{row['id']}").text
        assert "<details" not in page
        for secret in _technical(row):
            assert secret not in page, (role, secret)


def test_keeping_noting_and_deleting_join_the_story(tmp_path, data, calls):
    copy = tmp_path / "data"
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("sim"))     # sim/ holds FIFOs
    server = wt.start(copy)
    try:
        manager, admin = wt.login(server.base, "manager"), wt.login(server.base, "admin")
        page_url = f"/calls/{calls['inbound']['id']}"
        assert manager.post_form(f"{page_url}/hold", {"held": "1"}, page_url).status_code == 303
        kept = manager.get(page_url).text
        assert fact(kept, "held-why") == "Kept: retention and deletion skip this call. Release the hold to delete it."
        assert 'id="delete-link"' not in kept
        assert manager.post_form(f"{page_url}/note", {"note": "Quote for the kitchen job"}, page_url).status_code == 303
        noted = admin.get(page_url).text
        assert re.fullmatch(r"Written by manager, 2026-\d\d-\d\d \d\d:\d\d", fact(noted, "note-by"))
        assert story(noted)[-2:] == ["Kept by manager: retention and deletion skip this call",
                                     "Note written by manager"]
        assert admin.post_form(f"{page_url}/hold", {"held": "0"}, page_url).status_code == 303
        confirm = admin.get(f"{page_url}/delete").text
        assert re.fullmatch(r"Call from ACME PLUMBING, \(415\) 555-0123 on Front desk, 2026-03-15 10:12:\d\d "
                            r"America/New_York \(EDT\), 0:04 long\.", fact(confirm, "delete-what"))
        assert admin.post_form(f"{page_url}/delete", {}, f"{page_url}/delete").status_code == 303
        gone = manager.get(page_url).text
        assert re.fullmatch(r"Deleted by admin on 2026-\d\d-\d\d \d\d:\d\d:\d\d", fact(gone, "call-status"))
        assert story(gone)[-2:] == ["Hold released by admin: the call follows the retention settings again",
                                    "Deleted by admin"]
        # Retention words its own deletions the same way, on the page and in the calls list.
        db = dbmod.connect(copy)
        try:
            deleted = retention.sweep(db, copy, {"retention_days": 1}, time.time() + 400 * 86400, lambda: (1, 1))
            assert {calls["part1"]["id"], calls["part2"]["id"]} <= set(deleted)
        finally:
            db.close()
        expired = manager.get(f"/calls/{calls['part1']['id']}").text
        assert fact(expired, "call-status").startswith("Deleted by retention: older than 1 day on ")
        listed = visible(manager.get("/calls?line=2").text)
        assert listed.count("Deleted by retention: older than 1 day") == 2 and "older than 1 days" not in listed
    finally:
        server.close()


def _served_copy(tmp_path, data, change: str, params: list) -> wt.Server:
    """The office's catalog copied, one UPDATE made to it, and served."""
    copy = tmp_path / "data"
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("sim"))     # sim/ holds FIFOs
    conn = sqlite3.connect(copy / "hookline.db")
    with conn:
        conn.execute(change, params)
    conn.close()
    return wt.start(copy)


def test_todays_list_says_why_a_call_was_not_kept(tmp_path, data, calls):
    # The short call, as if it had come in a second ago.
    server = _served_copy(tmp_path, data, "UPDATE calls SET started_at = ? WHERE id = ?",
                          [catalog.iso(time.time() - 1), calls["short"]["id"]])
    try:
        page = wt.login(server.base, "listener").get("/").text
        badge = re.search(r'<span class="badge status-discarded"([^>]*)>', page)
        assert badge and 'title="Too short to keep: 1 second of talk, the minimum is 2 seconds"' in badge[1]
    finally:
        server.close()


def test_a_call_being_recorded_cannot_be_deleted_and_says_why(tmp_path, data, calls):
    # As the catalog has it while the recorder is still writing the call.
    server = _served_copy(tmp_path, data, "UPDATE calls SET status = 'recording' WHERE id = ?", [calls["inbound"]["id"]])
    try:
        page = wt.login(server.base, "manager").get(f"/calls/{calls['inbound']['id']}").text
        assert 'id="delete-link"' not in page
        assert fact(page, "recording-why") == "The call is being recorded: it can be deleted once it has ended."
    finally:
        server.close()
