"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright. A newcomer
sets the first password, finds a call by part of its number, plays it (the audio element
really plays and seeks, which needs HTTP Range), hears one leg alone, downloads it, keeps it,
and deletes another. Screenshots of the main pages are kept in test-artifacts/screenshots/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import simtools as st
import webtools as wt
from appliance.sim import runner, scenario as scenariomod
from appliance.store import audit, catalog, db as dbmod, users

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


@pytest.fixture
def site(tmp_path):
    data = wt.make_data(tmp_path, with_users=False)
    server = wt.start(data)
    yield server
    server.close()


def _shot(page, name: str) -> None:
    """Into the work tree, whole: test runs side by side (parallel sessions) may shoot the same page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    partial = SHOTS / f".{name}.{os.getpid()}.png"
    page.screenshot(path=str(partial), full_page=True)
    os.replace(partial, SHOTS / f"{name}.png")


def _calls(data: Path) -> list[dict]:
    db = dbmod.connect(data)
    try:
        return catalog.list_calls(db)
    finally:
        db.close()


def test_a_newcomer_sets_up_finds_plays_downloads_keeps_and_deletes(browser, site, tmp_path):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    # First start: the box asks for the administrator.
    page.goto(site.base + "/")
    assert page.url.endswith("/setup")
    _shot(page, "01-first-start")
    page.fill("#name", "owner")
    page.fill("#password", "kitchen quote 2026!")
    page.fill("#confirm", "kitchen quote 2026!")
    page.click("button[type=submit]")
    page.wait_for_url(site.base + "/")
    assert "owner" in page.inner_text(".who")
    _shot(page, "02-dashboard")

    # Find yesterday's caller by a part of the number.
    page.click("nav.nav >> text=Calls")
    page.fill("#q", "1234")
    page.click("form.search button[type=submit]")
    page.wait_for_url("**/calls?q=1234**")      # the results page loaded, not only its address
    rows = page.locator("table.call-list tbody tr")
    assert rows.count() == 1 and "(555) 123-4567" in rows.first.inner_text(), "as a number is written in the US"
    _shot(page, "03-search")
    rows.first.locator("a").first.click()
    page.wait_for_selector("#audio")

    # Play: the element really plays, then seeks (the server answers Range requests).
    page.wait_for_function("() => document.getElementById('waveform').getAttribute('data-peaks') === 'loaded'")
    page.evaluate("() => document.getElementById('audio').play()")
    page.wait_for_function("() => { const a = document.getElementById('audio');"
                           " return !a.paused && a.currentTime > 0.2; }", timeout=15000)
    # Seek by clicking the waveform at 60 % of its width.
    box = page.locator("#waveform").bounding_box()
    page.mouse.click(box["x"] + 0.6 * box["width"], box["y"] + box["height"] / 2)
    page.wait_for_function("() => { const a = document.getElementById('audio');"
                           " return !a.seeking && Math.abs(a.currentTime / a.duration - 0.6) < 0.1; }", timeout=15000)
    page.evaluate("() => { document.getElementById('audio').currentTime = 3.0; }")
    page.wait_for_function("() => { const a = document.getElementById('audio');"
                           " return !a.seeking && a.currentTime >= 3.0; }", timeout=15000)
    # One leg alone: the office leg is a 440 Hz tone, the line leg 1000 Hz. Both ears carry
    # the chosen leg only (measured on the page's own output analysers).
    def ears() -> tuple[int, int]:
        return tuple(int(page.get_attribute("#player", f"data-ear-{e}-hz") or 0) for e in ("left", "right"))

    for leg, want in (("near", (440, 440)), ("far", (1000, 1000)), ("both", (440, 1000))):
        page.check(f"input[name=leg][value={leg}]")
        page.wait_for_function(f"() => document.getElementById('player').getAttribute('data-leg') === '{leg}'")
        page.evaluate("() => { const a = document.getElementById('audio'); a.currentTime = 1.5; a.play(); }")
        try:
            page.wait_for_function(
                "([l, r]) => { const p = document.getElementById('player');"
                " const hz = e => Number(p.getAttribute('data-ear-' + e + '-hz') || 0);"
                " return Math.abs(hz('left') - l) < 25 && Math.abs(hz('right') - r) < 25; }",
                arg=list(want), timeout=10000)
        except Exception:
            raise AssertionError(f"{leg}: ears hear {ears()} Hz, wanted {want}") from None
    page.evaluate("() => document.getElementById('audio').pause()")
    _shot(page, "04-call")

    # Download: the very file the catalog describes.
    call = next(c for c in _calls(site.data) if c["remote_number"] == "5551234567")
    with page.expect_download() as info:
        page.click("#download")
    saved = tmp_path / "download.mp3"
    info.value.save_as(saved)
    assert saved.read_bytes() == (site.data / call["path"]).read_bytes()

    # Keep it: the badge shows and deleting is not offered.
    page.click("#hold-button")
    page.wait_for_selector("#held-badge")
    assert page.locator("#delete-link").count() == 0
    assert page.inner_text("#held-why") == "Kept: retention and deletion skip this call. Release the hold to delete it."

    # Delete another call, through the confirmation page.
    other = next(c for c in _calls(site.data) if c["status"] == "complete" and c["id"] != call["id"])
    page.goto(f"{site.base}/calls/{other['id']}")
    page.wait_for_function("() => document.getElementById('waveform').getAttribute('data-peaks') === 'loaded'")
    # Opening a call's page is not listening to it: only the call played above is in the log.
    db = dbmod.connect(site.data)
    listened = [e["target"] for e in audit.entries(db, action="listen", limit=20)]
    db.close()
    assert listened == [call["id"]], listened
    page.click("#delete-link")
    _shot(page, "05-delete-confirm")
    page.click("#confirm-delete")
    page.wait_for_selector("#no-audio")
    assert page.inner_text("#call-status").startswith("Deleted by owner on ")
    assert not (site.data / other["path"]).exists()

    # The other main pages render, for the screenshots and without script errors.
    for path, name in (("/settings", "06-settings"), ("/users", "07-users"), ("/audit", "08-audit"),
                       ("/account", "09-account")):
        page.goto(site.base + path)
        assert page.locator("h1").count() >= 1
        _shot(page, name)
    assert not errors, errors
    context.close()


def test_a_listener_can_play_but_not_download_or_delete(browser, site):
    db = dbmod.connect(site.data)
    users.create_user(db, "admin", "admin", wt.PASSWORDS["admin"])
    users.create_user(db, "temp", "listener", wt.PASSWORDS["listener"])
    db.close()
    page = browser.new_page()
    page.goto(site.base + "/calls/" + next(c["id"] for c in _calls(site.data) if c["status"] == "complete"))
    assert "/login" in page.url
    page.fill("#name", "temp")
    page.fill("#password", wt.PASSWORDS["listener"])
    page.click("button[type=submit]")
    page.wait_for_selector("#audio")
    assert page.locator("#download").count() == 0 and page.locator("#delete-link").count() == 0
    assert page.locator("nav.nav >> text=Settings").count() == 0
    page.close()


LIVE_SCENARIO = """
[appliance]
start = "2026-03-15T09:00:00Z"

[[line]]
id = 1
offhook = "gpio"
callerid = "modem"

[[line]]
id = 2
offhook = "gpio"

[[call]]
line = 1
at = 2.0
direction = "inbound"
rings = 1
caller_id = { number = "5550001111" }
talk = 3.0
near = "tone:440@-10"
far = "tone:1000@-10"
"""


def test_the_dashboard_follows_a_call_live(browser, tmp_path):
    """The real daemon records in real time next to the web server; the open dashboard shows
    the line ringing, then recording with its time and levels, then idle — without a reload.
    The page is opened before the recorder starts, so its line cards appear by themselves."""
    sc = scenariomod.load(st.write_scenario(tmp_path, LIVE_SCENARIO))
    data = tmp_path / "data"
    daemon, hw = runner.build_daemon(sc, data, realtime=True)
    db = dbmod.connect(data)
    users.create_user(db, "owner", "manager", wt.PASSWORDS["manager"])
    db.close()
    server = wt.start(data)
    page = browser.new_page()
    started = False
    try:
        page.goto(server.base + "/login")
        page.fill("#name", "owner")
        page.fill("#password", wt.PASSWORDS["manager"])
        page.click("button[type=submit]")
        page.wait_for_selector("#line-cards .empty")
        assert page.locator("#line-1").count() == 0
        loaded = page.evaluate("() => performance.timeOrigin")
        hw.start()
        daemon.start()
        started = True
        page.wait_for_selector("#line-1")
        assert page.locator("#line-cards .empty").count() == 0
        assert page.inner_text("#line-2 .line-name") == "Line 2"
        page.wait_for_selector("#line-1.state-ringing", timeout=15000)
        page.wait_for_selector("#line-1.state-recording", timeout=15000)
        page.wait_for_function("() => document.querySelector('#line-1 .call-time').textContent.trim() !== ''")
        page.wait_for_function("() => document.querySelector('#line-1 .level-near').value > -30")
        # The recorder's stream clock counts as synced: no clock warning while it runs.
        assert page.locator(".warning-clock").count() == 0
        _shot(page, "10-dashboard-recording")
        page.wait_for_selector("#line-1.state-idle", timeout=15000)
        assert page.evaluate("() => performance.timeOrigin") == loaded, "the page reloaded"
        assert page.inner_text("#line-2 .state-text") == "idle"
    finally:
        page.close()
        if started:
            hw.stop()
            daemon.stop()
        server.close()
