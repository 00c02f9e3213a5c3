"""The dashboard's own parts, over real HTTP against the real app: the recording time left in
words, today's calls (on the page, and the /today rows its script polls) in the box's time zone
with readable numbers and line names, and the line cards named as the box names its lines.

How the cards follow the recorder (live, stopped, gone) is in tests/test_web_page.py; the page
keeping itself current in a browser is in tests/test_browser_dashboard.py."""
from __future__ import annotations

import json
import shutil
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

import webtools as wt
from appliance.present.time_left import time_left
from appliance.store import box as boxmod, catalog, db as dbmod, users
from appliance.store.kinds import Event, Status
from test_web_page import Page

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

ZONE = "America/New_York"
DAY = 86400


# -- the time left, in words ---------------------------------------------------------------------
@pytest.mark.parametrize("days, words", [
    (0, "less than a day"), (0.4, "less than a day"), (0.99, "less than a day"),
    (1, "about a day"), (1.4, "about a day"), (1.5, "about 2 days"), (12, "about 12 days"),
    (12.5, "about 13 days"), (44.4, "about 44 days"),
    (45, "about a month"), (150, "about 5 months"), (364, "about 12 months"), (547, "about 18 months"),
    (548, "about 2 years"), (1100, "about 3 years"), (3652, "about 10 years"),
    (3653, "more than 10 years"), (162943, "more than 10 years"), (float("inf"), "more than 10 years"),
    (-2, "less than a day"),
])
def test_time_left_reads_as_a_person_says_it(days, words):
    assert time_left(days) == words


# -- a box with a name for each line, in New York, with calls today -----------------------------
def _box_config() -> SimpleNamespace:
    """What appliance.store.box.record reads of a Config: the zone, the region, the lines."""
    def line(line_id: int, name: str) -> SimpleNamespace:
        return SimpleNamespace(id=line_id, name=name, offhook=SimpleNamespace(source="gpio"), callerid=None,
                               playback=None)
    return SimpleNamespace(timezone=ZONE, phone_region="US", lines=[line(1, "Front desk"), line(2, "Warehouse")])


def _new_box(folder: Path) -> Path:
    data = folder / "data"
    db = dbmod.connect(data)
    try:
        boxmod.record(db, _box_config())
        for role in ("admin", "listener"):
            users.create_user(db, role, role, wt.PASSWORDS[role])
    finally:
        db.close()
    return data


def _call(db, started: float, **row) -> str:
    call_id = catalog.new_call_id()
    catalog.create_call(db, {"id": call_id, "line": 1, "started_at": catalog.iso(started), "status": Status.COMPLETE,
                             **row})
    return call_id


@pytest.fixture(scope="module")
def today(tmp_path_factory):
    """A box in New York with three calls today (one still recording, one not kept) and one
    from yesterday there."""
    data = _new_box(tmp_path_factory.mktemp("dashboard"))
    now = time.time()
    midnight = datetime.now(ZoneInfo(ZONE)).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    ago = min(30.0, (now - midnight) / 2)         # today there, even just after midnight
    with closing(dbmod.connect(data)) as db:
        ids = {
            "yesterday": _call(db, midnight - 60, direction="inbound", remote_number="4155550100", duration_s=30),
            "acme": _call(db, now - ago, direction="inbound", remote_number="4155550123",
                          remote_name="ACME PLUMBING", duration_s=252.4),
            "london": _call(db, now - ago * 2 / 3, line=2, direction="outbound", dialed="+442079460958",
                            status=Status.RECORDING),
            "short": _call(db, now - ago / 3, remote_withheld=1, duration_s=1.0, status=Status.DISCARDED),
        }
        catalog.log_event(db, 1, Event.DISCARD, now - ago / 3, call_id=ids["short"],
                          reason="shorter than min_call_s (1.00 s < 2 s)")
    server = wt.start(data)
    server.ids = ids
    yield server
    server.close()


def test_todays_calls_in_the_box_zone_with_names_and_readable_numbers(today):
    client = wt.login(today.base, "listener")
    doc = client.get("/today").json()
    ids = today.ids
    assert doc["count"] == 3
    rows = {r["id"]: r for r in doc["calls"]}
    assert [r["id"] for r in doc["calls"]] == [ids["short"], ids["london"], ids["acme"]]   # newest first
    acme = rows[ids["acme"]]
    db = dbmod.connect(today.data)
    started = catalog.get_call(db, ids["acme"])["started_at"]
    db.close()
    in_new_york = datetime.fromisoformat(started.replace("Z", "+00:00")).astimezone(ZoneInfo(ZONE))
    assert acme["time"] == in_new_york.strftime("%H:%M")
    assert acme["what"] == "Front desk · incoming · ACME PLUMBING, (415) 555-0123 · 4:12"
    assert (acme["status"], acme["url"], acme["reason"]) == ("complete", f"/calls/{ids['acme']}", None)
    # Still recording: no length yet, and the badge says so.
    assert rows[ids["london"]]["what"] == "Warehouse · outgoing · +44 20 7946 0958"
    assert rows[ids["london"]]["status"] == "recording"
    short = rows[ids["short"]]
    assert short["what"] == "Front desk · direction not known · number withheld · 0:01"
    assert (short["status"], short["status_text"]) == ("discarded", "not kept")
    assert "short" in short["reason"]

    # The page draws the very same rows.
    page = Page(client.get("/").text)
    assert "Today: 3 calls" in page.text
    drawn = [a["data-call"] for a in page.find("li") if "data-call" in a and a["data-call"]]
    assert drawn == [r["id"] for r in doc["calls"]]
    for row in doc["calls"]:
        assert f"{row['time']} {row['what']}" in page.text
        assert page.find("a", href=row["url"])
    badges = {a["class"]: a for a in page.find("span") if (a.get("class") or "").startswith("badge status-")}
    assert "hidden" in badges["badge status-complete"]                     # a finished call needs no badge
    assert "hidden" not in badges["badge status-recording"]
    assert badges["badge status-discarded"]["title"] == short["reason"]
    assert "hidden" in page.find("p", id="today-empty")[0]


def test_the_cards_use_the_box_names_of_its_lines(today):
    status_file = today.data / "run" / "status.json"
    status_file.parent.mkdir(parents=True, exist_ok=True)
    line = {"state": "idle", "call_s": None, "level_near_dbfs": -60.0, "level_far_dbfs": -61.0}
    status_file.write_text(json.dumps({"updated_at": time.time() + 3600, "running": True, "clock_synced": True,
                                       "lines": [{**line, "line": 1, "name": "Line 1"},
                                                 {**line, "line": 2, "name": "Line 2"}]}))
    try:
        client = wt.login(today.base, "listener")
        page = Page(client.get("/").text)
        assert "Front desk idle" in page.text and "Warehouse idle" in page.text
        assert [ln["name"] for ln in client.get("/api/v1/status").json()["lines"]] == ["Front desk", "Warehouse"]
    finally:
        status_file.unlink()


def test_no_calls_today_says_so(tmp_path):
    server = wt.start(_new_box(tmp_path))
    try:
        client = wt.login(server.base, "listener")
        assert client.get("/today").json() == {"count": 0, "calls": []}
        page = Page(client.get("/").text)
        assert "Today: 0 calls" in page.text and "No calls yet today." in page.text
        assert "hidden" in page.find("ul", id="today-list")[0]
        assert "hidden" not in page.find("p", id="today-empty")[0]
    finally:
        server.close()


# -- storage: how long the disk lasts ------------------------------------------------------------
@pytest.mark.parametrize("days, words, warning", [
    (None, None, None),
    (0.5, "less than a day", "At the current rate the disk is full in less than a day."),
    (12, "about 12 days", "At the current rate the disk is full in about 12 days."),
    (150, "about 5 months", None),
    (1100, "about 3 years", None),
    (162943, "more than 10 years", None),       # the figure that used to read "about 162943 days"
])
def test_storage_says_how_long_the_disk_lasts_in_words(tmp_path, days, words, warning):
    data = _new_box(tmp_path)
    if days is not None:        # an hour-old box that recorded free/days bytes: free/days a day
        db = dbmod.connect(data)
        _call(db, time.time() - 3600, duration_s=60, size_bytes=round(shutil.disk_usage(data).free / days))
        db.close()
    server = wt.start(data)
    try:
        client = wt.login(server.base, "admin")
        text = " ".join(Page(client.get("/").text).text.split())
        disk = client.get("/api/v1/status").json()["disk"]
        assert disk["time_left"] == words
        if words is None:
            assert disk["days_left"] is None
            assert "nothing recorded in the last week to estimate how long it lasts." in text
        else:
            assert f"{words} of recording left at the recent rate" in text
        assert (warning in text) if warning else ("disk is full in" not in text)
    finally:
        server.close()


def test_a_failing_device_is_told_plainly_and_only_technicians_see_its_path(today):
    status_file = today.data / "run" / "status.json"
    status_file.parent.mkdir(parents=True, exist_ok=True)
    error = "cannot open capture device 'line1': No such device (check the interface is plugged in)"
    line = {"line": 1, "name": "Line 1", "state": "device-missing", "call_s": None, "level_near_dbfs": None,
            "level_far_dbfs": None, "device_error": error,
            "sources": {"callerid": {"healthy": False, "device": "/dev/serial/by-id/usb-modem"}}}
    status_file.write_text(json.dumps({"updated_at": time.time() + 3600, "running": True, "clock_synced": True,
                                       "lines": [line]}))
    try:
        owner = Page(wt.login(today.base, "listener").get("/").text).text
        assert "Front desk: the audio interface is missing or not working. Check that it is plugged in." in owner
        assert "Front desk: the caller-ID modem is not answering." in owner
        assert "/dev/" not in owner and "line1" not in owner
        admin = wt.login(today.base, "admin")
        said = {w["kind"]: w["message"] for w in admin.get("/api/v1/status").json()["warnings"]}
        assert error in said["device"] and "/dev/serial/by-id/usb-modem" in said["modem"]
    finally:
        status_file.unlink()


def test_a_recorder_that_stopped_recording_for_a_full_disk_says_so(today):
    status_file = today.data / "run" / "status.json"
    status_file.parent.mkdir(parents=True, exist_ok=True)
    line = {"line": 1, "name": "Line 1", "state": "idle", "call_s": None, "level_near_dbfs": -70.0,
            "level_far_dbfs": -70.0, "device_error": None, "sources": {}}
    reason = "not recorded: the disk is below its free-space floor (5%) and the box is set to stop recording when full"
    status_file.write_text(json.dumps({"updated_at": time.time() + 3600, "running": True, "clock_synced": True,
                                       "disk_full": reason, "lines": [line]}))
    try:
        page = Page(wt.login(today.base, "listener").get("/").text).text
        assert "New calls are not being recorded: the disk is below its free-space floor" in page
        said = {w["kind"] for w in wt.login(today.base, "admin").get("/api/v1/status").json()["warnings"]}
        assert "disk-full" in said
    finally:
        status_file.unlink()
