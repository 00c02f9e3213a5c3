"""The calls list in a real browser (Debian's Chromium): a manager ticks three calls, downloads
them as one ZIP and finds each recording in it byte for byte; sorts by duration and walks the
list with the call page's previous/next links; a wrong date is explained next to its field; and
at phone size (390x844) the list reads as cards without scrolling sideways. Screenshots are
kept in test-artifacts/screenshots/."""
from __future__ import annotations

import hashlib
import zipfile

import pytest

import webtools as wt
from appliance.store import audit, db as dbmod, users
from test_browser import CHROMIUM, _calls, _shot, browser, site  # noqa: F401  (fixtures)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]


def _log_in(page, base: str, name: str) -> None:
    page.goto(base + "/login")
    page.fill("#name", name)
    page.fill("#password", wt.PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


@pytest.fixture
def people(site):  # noqa: F811
    db = dbmod.connect(site.data)
    for role in ("manager", "listener"):
        users.create_user(db, role, role, wt.PASSWORDS[role])
    db.close()
    return site


def test_a_manager_downloads_three_calls_as_one_zip(browser, people, tmp_path):  # noqa: F811
    server = people
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    _log_in(page, server.base, "manager")
    page.goto(server.base + "/calls")
    kept = [c for c in _calls(server.data) if c["path"]]
    assert page.is_disabled("#download-selected"), "nothing ticked yet"
    for call in kept:
        page.check(f"#call-{call['id']} input[name=id]")
    assert page.inner_text("#download-selected") == "Download selected (3)"
    page.click("#pick-all")
    assert page.inner_text("#download-selected") == "Download selected", "every box unticked"
    page.click("#pick-all")
    assert page.inner_text("#download-selected") == "Download selected (3)"
    _shot(page, "11-calls-selected")
    with page.expect_download() as info:
        page.click("#download-selected")
    saved = tmp_path / "calls.zip"
    info.value.save_as(saved)
    assert info.value.suggested_filename.startswith("hookline-calls-")
    with zipfile.ZipFile(saved) as z:
        assert sorted(z.namelist()) == sorted(c["path"].rsplit("/", 1)[1] for c in kept)
        for call in kept:
            assert hashlib.sha256(z.read(call["path"].rsplit("/", 1)[1])).hexdigest() == call["sha256"]
    db = dbmod.connect(server.data)
    assert sorted(e["target"] for e in audit.entries(db, action="download", limit=10)) == \
        sorted(c["id"] for c in kept)
    db.close()
    assert not errors, errors
    context.close()


def test_sort_by_duration_and_walk_with_previous_and_next(browser, people):  # noqa: F811
    server = people
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _log_in(page, server.base, "listener")
    page.goto(server.base + "/calls")
    assert page.locator("input[name=id]").count() == 0, "a listener has nothing to tick"
    page.select_option("#order", "longest")
    page.click("form.search button[type=submit]")
    page.wait_for_url("**order=longest**")
    listed = [i.replace("call-", "") for i in page.eval_on_selector_all("table.call-list tbody tr", "rs => rs.map(r => r.id)")]
    longest = sorted(_calls(server.data), key=lambda c: c["duration_s"], reverse=True)
    assert listed == [c["id"] for c in longest]
    page.locator("table.call-list tbody tr").first.locator("a").first.click()
    page.wait_for_load_state()       # a click waits for the new address, not for the page under it
    walked = [page.url.split("/calls/")[1].split("?")[0]]
    assert page.locator("#prev-call").count() == 0
    _shot(page, "12-call-prev-next")
    while page.locator("#next-call").count():
        page.click("#next-call")
        page.wait_for_load_state()
        walked.append(page.url.split("/calls/")[1].split("?")[0])
    assert walked == listed
    page.click("#prev-call")
    page.wait_for_load_state()
    assert page.url.split("/calls/")[1].split("?")[0] == listed[-2]
    # Back to the list it came from, then a date the box cannot read: said next to the field.
    page.click(".crumbs a")
    page.wait_for_load_state()
    assert "order=longest" in page.url
    page.goto(server.base + "/calls?date_from=15.03.2026")
    assert page.inner_text("#date_from-error") == "Enter the start date as YYYY-MM-DD, e.g. 2026-03-04."
    assert page.get_attribute("#date_from", "aria-invalid") == "true"
    _shot(page, "13-calls-bad-date")
    page.close()


@pytest.mark.parametrize("role", ["manager", "listener"])
def test_the_calls_list_at_phone_size(browser, people, role):  # noqa: F811
    server = people
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    _log_in(page, server.base, role)
    for url, name in (("/calls", f"14-calls-phone-{role}"), ("/calls?q=doe", f"15-calls-phone-search-{role}")):
        page.goto(server.base + url)
        wide = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert wide[0] <= wide[1], f"{url}: the page scrolls sideways ({wide})"
        # Each call is a card: its cells stacked, the number and time readable at full size.
        rows = page.locator("table.call-list tbody tr")
        assert rows.count() >= 1
        first = rows.first.bounding_box()
        assert first["width"] <= 390 and first["height"] > 80
        cell = rows.first.locator("td[data-label=Number]").bounding_box()
        assert cell["x"] >= 0 and cell["x"] + cell["width"] <= 390
        _shot(page, name)
    context.close()
