"""The dashboard keeps itself current in a real browser (Debian's Chromium under Playwright),
next to the real daemon recording simulated lines in real time: a call appears in today's list
while it is recorded and its "recording" badge gives way when it ends; a stopped recorder turns
the line cards grey, "recorder not running", and they come back by themselves when it starts
again. Never a reload. Screenshots at desktop and phone size in test-artifacts/screenshots/."""
from __future__ import annotations

import time
from datetime import datetime

import simtools as st
import webtools as wt
from appliance.sim import runner, scenario as scenariomod
from appliance.store import db as dbmod, users
from test_browser import (  # noqa: F401  (browser: the module's Chromium, a fixture)
    LIVE_SCENARIO,
    _calls,
    _shot,
    browser as browser,
    pytestmark as pytestmark,
)
from web.formatting import duration

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# test_browser's live office: two lines, a modem on line 1. Alone, or with its call given a
# caller's name and long enough to be seen while it is recorded.
LINES = LIVE_SCENARIO[:LIVE_SCENARIO.index("[[call]]")]
A_CALL = LIVE_SCENARIO.replace('{ number = "5550001111" }', '{ number = "4155550123", name = "ACME PLUMBING" }') \
    .replace("talk = 3.0", "talk = 6.0")
assert "ACME" in A_CALL and "talk = 6.0" in A_CALL


class Office:
    """The real daemon on simulated lines, in real time from now (so its calls are today's), with
    the web server on the same data folder; start() and stop() as often as a test likes."""

    def __init__(self, tmp_path, scenario: str) -> None:
        self.scenario = scenariomod.load(st.write_scenario(tmp_path, scenario))
        self.data = tmp_path / "data"
        self.running = None
        self.data.mkdir()
        db = dbmod.connect(self.data)
        users.create_user(db, "owner", "manager", wt.PASSWORDS["manager"])
        db.close()
        self.server = wt.start(self.data)

    def start(self) -> None:
        daemon, hw = runner.build_daemon(self.scenario, self.data, realtime=True, forever=True, start=time.time())
        hw.start()
        daemon.start()
        self.running = (daemon, hw)

    def stop(self) -> None:
        if self.running:
            daemon, hw = self.running
            hw.stop()
            daemon.stop()
            self.running = None

    def close(self) -> None:
        self.stop()
        self.server.close()


def _dashboard(browser, office: Office, viewport: dict):
    page = browser.new_page(viewport=viewport)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(office.server.base + "/login")
    page.fill("#name", "owner")
    page.fill("#password", wt.PASSWORDS["manager"])
    page.click("button[type=submit]")
    page.wait_for_selector("#line-cards")
    return page, errors


ROWS_JS = """() => Array.from(document.querySelectorAll('#today-list > li')).map(li => {
  const badge = li.querySelector('.badge');
  return [li.getAttribute('data-call'), li.querySelector('a').getAttribute('href'),
          li.querySelector('time').getAttribute('datetime'), li.innerText.replace(/\\s+/g, ' ').trim(),
          badge.className, badge.hidden, badge.getAttribute('title')];
})"""


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), \
        page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")


def test_a_call_appears_in_todays_list_while_it_is_recorded(browser, tmp_path):
    office = Office(tmp_path, A_CALL)
    try:
        page, errors = _dashboard(browser, office, DESKTOP)
        loaded = page.evaluate("() => performance.timeOrigin")
        assert page.is_visible("#today-empty") and not page.is_visible("#today-list")
        assert page.inner_text("#today-title") == "Today: 0 calls"
        office.start()
        # The call shows up while it is recorded: its row, and a visible "recording" badge.
        page.wait_for_selector("#today-list > li .badge.status-recording:visible", timeout=20000)
        assert page.inner_text("#today-title") == "Today: 1 call"
        assert not page.is_visible("#today-empty")
        row = page.inner_text("#today-list > li")
        assert "Line 1 · incoming · ACME PLUMBING, (415) 555-0123" in row and "recording now" in row
        page.wait_for_selector("#line-1.state-recording")
        _shot(page, "20-dashboard-live-call")
        # When it ends the badge gives way to the final status (complete: no badge) and the row
        # gets the call's length.
        page.wait_for_selector("#today-list > li .badge.status-complete", state="attached", timeout=20000)
        assert not page.is_visible("#today-list > li .badge")
        call = _calls(office.data)[0]
        assert call["status"] == "complete"
        assert page.inner_text("#today-list > li .what") == \
            f"Line 1 · incoming · ACME PLUMBING, (415) 555-0123 · {duration(call['duration_s'])}"
        page.wait_for_selector("#line-1.state-idle")
        assert page.evaluate("() => performance.timeOrigin") == loaded, "the page reloaded"
        # What the script drew is what the server draws.
        live_rows = page.evaluate(ROWS_JS)
        page.reload()
        assert page.evaluate(ROWS_JS) == live_rows
        started = datetime.fromisoformat(live_rows[0][2].replace("Z", "+00:00"))   # the box's zone: UTC here
        assert live_rows[0][3].startswith(started.strftime("%H:%M ")), live_rows
        assert not errors, errors
        page.close()

        phone, errors = _dashboard(browser, office, PHONE)
        _no_sideways_scroll(phone)
        _shot(phone, "21-dashboard-phone")
        assert not errors, errors
        phone.close()
    finally:
        office.close()


def test_a_stopped_recorder_shows_on_the_cards_and_they_come_back(browser, tmp_path):
    office = Office(tmp_path, LINES)
    try:
        office.start()
        page, errors = _dashboard(browser, office, PHONE)
        loaded = page.evaluate("() => performance.timeOrigin")
        page.wait_for_selector("#line-1.state-idle")
        page.wait_for_selector("#line-2.state-idle")
        assert page.is_visible("#line-1 .levels")

        office.stop()           # it says it stopped in its last status: at the next poll
        for line in (1, 2):
            page.wait_for_selector(f"#line-{line}.state-stopped", timeout=10000)
            assert page.inner_text(f"#line-{line} .state-text") == "recorder not running"
            assert not page.is_visible(f"#line-{line} .levels")
            assert page.inner_text(f"#line-{line} .call-time") == ""
        assert page.inner_text("#warnings li.warning-recorder") == "The recorder is stopped: no calls are being recorded."
        # Grey, not the green of a live idle line.
        colors = page.evaluate("() => ['line-1', 'line-2'].map(id => getComputedStyle("
                               "document.getElementById(id)).borderLeftColor)")
        assert colors[0] == colors[1] != "rgb(26, 127, 55)", colors
        _no_sideways_scroll(page)
        _shot(page, "22-dashboard-recorder-stopped-phone")

        # A page opened while it is stopped says so from the start.
        fresh, fresh_errors = _dashboard(browser, office, DESKTOP)
        assert fresh.inner_text("#line-1 .state-text") == "recorder not running"
        assert not fresh.is_visible("#line-1 .levels")
        _shot(fresh, "23-dashboard-recorder-stopped")

        office.start()          # back by itself
        for p in (page, fresh):
            for line in (1, 2):
                p.wait_for_selector(f"#line-{line}.state-idle", timeout=15000)
                assert p.inner_text(f"#line-{line} .state-text") == "idle"
                assert p.is_visible(f"#line-{line} .levels")
        page.wait_for_selector("#warnings li.warning-recorder", state="detached")
        assert page.evaluate("() => performance.timeOrigin") == loaded, "the page reloaded"
        assert not errors and not fresh_errors, errors + fresh_errors
        page.close()
        fresh.close()
    finally:
        office.close()
