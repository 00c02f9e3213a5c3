"""Pausing a call from the web page and the API, over real HTTP against the real app, with a
simulated recorder running on the same data folder: managers and admins may, a listener may not;
the forms need their CSRF token (and the API, with a cookie, its X-CSRFToken); every change is
audited and in the call's events; the page and the API say clearly when the recorder is not
running or the line cannot be paused."""
from __future__ import annotations

import json

import pytest

import simtools as st
import webtools as wt
from appliance.store import catalog, db as dbmod, users


@pytest.fixture
def box(tmp_path):
    data = tmp_path / "data"
    db = dbmod.connect(data)
    try:
        for role, password in wt.PASSWORDS.items():
            users.create_user(db, role, role, password)
        tokens = {role: users.create_token(db, role, "test")[1] for role in ("listener", "manager")}
    finally:
        db.close()
    server = wt.start(data)
    yield server, data, tokens
    server.close()


def _line(client, number: int) -> dict:
    return next(ln for ln in client.get("/api/v1/status").json()["lines"] if ln["line"] == number)


def _flash(client, response) -> str:
    assert response.status_code == 303, response.status_code
    page = client.get(response.headers["Location"]).text
    return page[page.index('class="flash'):].split(">", 1)[1].split("<", 1)[0]


def _api(base: str, token: str, path: str):
    return wt.Client(base).post(path, headers={"Authorization": f"Bearer {token}"})


def test_pause_from_the_page_and_the_api_while_the_recorder_runs(box, tmp_path):
    server, data, tokens = box
    manager, listener, admin = (wt.login(server.base, role) for role in ("manager", "listener", "admin"))
    sim = st.start("simulate", st.write_scenario(tmp_path, st.CALL_IN_PROGRESS), "--data", data, "--speed", "realtime")
    try:
        live = st.wait_for_recording(data)
        call_page = f"/calls/{live['call_id']}"
        # A listener may not, by page or API; without its CSRF token a form is refused.
        assert listener.post_form("/lines/1/pause", {}, page="/").status_code == 403
        assert _api(server.base, tokens["listener"], "/api/v1/lines/1/pause").status_code == 403
        assert manager.post("/lines/1/pause", data={}).status_code == 400
        assert manager.post("/api/v1/lines/1/pause").status_code == 400, "a cookie needs the page's CSRF token"
        assert "Pause recording" in manager.get("/").text and "Pause recording" not in listener.get("/").text
        # The manager pauses from the dashboard.
        said = _flash(manager, manager.post_form("/lines/1/pause", {}, page="/"))
        assert said.startswith("Line 1 is paused")
        assert _line(admin, 1)["paused"] is True and _line(admin, 1)["state_text"] == "recording paused"
        page = manager.get(call_page).text
        assert 'id="pause-button"' in page and "Resume recording" in page and "still paused" in page
        assert 'id="pause-button"' not in listener.get(call_page).text
        # The API: resume, resume again (nothing to do), pause, pause again (refused), no such line.
        resumed = _api(server.base, tokens["manager"], "/api/v1/lines/1/resume")
        assert resumed.status_code == 200 and resumed.json()["changed"] is True and resumed.json()["paused"] is False
        again = _api(server.base, tokens["manager"], "/api/v1/lines/1/resume").json()
        assert again["changed"] is False and again["message"] == "line 1 was not paused"
        assert _api(server.base, tokens["manager"], "/api/v1/lines/1/pause").json()["paused"] is True
        refused = _api(server.base, tokens["manager"], "/api/v1/lines/1/pause")
        assert refused.status_code == 409 and refused.json()["code"] == "already-paused"
        assert refused.json()["message"] == "line 1 is already paused"
        assert _api(server.base, tokens["manager"], "/api/v1/lines/7/pause").status_code == 404
        idle = _api(server.base, tokens["manager"], "/api/v1/lines/2/pause")
        assert idle.status_code == 409 and idle.json()["message"] == "line 2 has no call in progress"
        # The admin resumes from the call's page and comes back to it.
        back = admin.post_form("/lines/1/resume", {"call_id": live["call_id"]}, page=call_page)
        assert back.headers["Location"] == call_page and _flash(admin, back) == "Line 1 is recording again."
    finally:
        sim.terminate()             # the recorder stops, keeping the call so far
        sim.communicate(timeout=60)
    stopped = manager.post_form("/lines/1/pause", {}, page="/")
    assert "the recorder is not running" in _flash(manager, stopped)
    down = _api(server.base, tokens["manager"], "/api/v1/lines/1/pause")
    assert down.status_code == 503 and down.json()["code"] == "not-running"
    # Who did what: the audit log and the call's events.
    audit = json.loads(st.check("audit", "--data", data, "--json").stdout)
    changes = [(a["user"], a["action"], a["detail"]["via"]) for a in reversed(audit) if a["action"] in ("pause", "resume")]
    assert changes == [("manager", "pause", "web"), ("manager", "resume", "api"), ("manager", "pause", "api"),
                       ("admin", "resume", "web")]
    db = dbmod.connect(data)
    try:
        events = catalog.list_events(db, call_id=live["call_id"])
    finally:
        db.close()
    assert [(e["kind"], e["detail"]["by"], e["detail"]["user"]) for e in events if e["kind"] in ("paused", "resume")] \
        == [("paused", "web", "manager"), ("resume", "api", "manager"), ("paused", "api", "manager"),
            ("resume", "web", "admin")]
    # The finished call's page lists the two windows, who paused them, and shades them (data-pauses).
    page = admin.get(call_page).text
    assert page.count('class="pause-window"') == 2 and "by manager (web page)" in page
    assert "by manager (API)" in page and "data-pauses='[{" in page


def test_a_line_is_named_by_its_number_in_ascii_digits(box):
    """Line 0, -1, ٣ (an Arabic-Indic 3) or 25 digits: no line, a 404, before the recorder is asked
    (werkzeug's int converter took ٣ as line 3 and 0 as a line)."""
    server, data, tokens = box
    manager = wt.login(server.base, "manager")
    for line in ("0", "-1", "\u0663", "9" * 25, "1.0", "+1"):
        assert manager.post_form(f"/lines/{line}/pause", {}, page="/").status_code == 404, line
        assert _api(server.base, tokens["manager"], f"/api/v1/lines/{line}/resume").status_code == 404, line
    assert manager.post_form("/lines/1/pause", {}, page="/").status_code == 303, "line 1: the recorder is asked"
