"""The erasure page and the settings page's confirmation in Debian's Chromium: a manager erases
a number and reads what was refused; an admin is told what a shorter maximum age would delete
before it is saved. Screenshots are kept in test-artifacts/screenshots/."""
from __future__ import annotations

import pytest

import webtools as wt
from appliance.store import catalog, settings as settingsmod
from test_browser import CHROMIUM, _shot, browser  # noqa: F401  (browser: the fixture)
from test_browser_calls import _log_in
from test_erasure import box, template  # noqa: F401  (the fixtures: calls with one number, old and young)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
    pytest.mark.xdist_group("erasure"),
]


@pytest.fixture
def site(box):  # noqa: F811
    data, db, calls = box
    server = wt.start(data)
    yield server, db, calls
    server.close()


def _login(browser, base: str, role: str):  # noqa: F811
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _log_in(page, base, role)
    return page, errors


def test_a_manager_erases_a_number_and_reads_what_was_refused(browser, site):  # noqa: F811
    server, db, calls = site
    page, errors = _login(browser, server.base, "manager")
    page.click("nav >> text=Erasure")
    page.wait_for_load_state()
    page.fill("#number", "+1 (415) 555-0123")
    page.click("#erase-look")
    page.wait_for_load_state()
    assert page.inner_text("#erase-count") == "4 calls with this number: 2 will be erased, 2 cannot be"
    rows = page.locator("#erase-list tbody tr")
    assert rows.count() == 4 and page.locator("#erase-list tr.refused").count() == 2
    assert "minimum age of 30 days" in page.inner_text("#erase-list")
    _shot(page, "erase-confirm")
    page.click("#erase-confirm")
    page.wait_for_load_state()
    assert page.inner_text("#erase-result").startswith("Erased 2 calls.")
    assert "on hold" in page.inner_text("#erase-list")
    _shot(page, "erase-done")
    for name in ("old_in", "old_out"):
        assert catalog.get_call(db, calls[name]["id"])["status"] == "deleted"
    assert catalog.get_call(db, calls["new_in"]["id"])["status"] == "complete"
    assert errors == []


def test_an_admin_is_told_what_a_shorter_maximum_age_deletes_before_saving(browser, site):  # noqa: F811
    server, db, calls = site
    page, errors = _login(browser, server.base, "admin")
    page.goto(server.base + "/settings")
    page.fill("[name='box.retention_days']", "50")
    page.click("#save-settings")
    page.wait_for_load_state()
    warning = page.inner_text("#settings-deletes")
    assert "This will delete 3 calls from before" in warning and "(maximum age: 3)" in warning
    assert page.inner_text("#save-settings") == "Save and delete"
    assert page.input_value("[name='box.retention_days']") == "50", "what was typed stays"
    assert settingsmod.stored_value(db, "retention_days") is None, "nothing saved yet"
    _shot(page, "settings-confirm-deletes")
    page.click("#save-settings")
    page.wait_for_load_state()
    assert settingsmod.stored_value(db, "retention_days") == 50
    assert "Saved." in page.inner_text(".flash")
    assert errors == []
