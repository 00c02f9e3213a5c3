"""The do-not-record page in Debian's Chromium, on a desktop and at phone size: an admin opens it
from the navigation, adds a number with its label, sees a refused pattern explained beside the
field, and removes the number; the page never runs off the screen. Screenshots are kept in
test-artifacts/screenshots/."""
from __future__ import annotations

import pytest

import webtools as wt
from test_browser import CHROMIUM, _shot, browser  # noqa: F401  (browser: the fixture)
from test_browser_calls import _log_in

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    server = wt.start(wt.make_data(tmp_path_factory.mktemp("browserdnr")))
    yield server
    server.close()


@pytest.mark.parametrize("size", SIZES)
def test_an_admin_adds_and_removes_a_number(browser, site, size):  # noqa: F811
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    _log_in(page, site.base, "admin")

    page.click("nav >> text=Do not record")
    page.wait_for_load_state()
    assert page.url == site.base + "/settings/do-not-record"
    assert "The list is empty" in page.inner_text("main")

    page.fill("#pattern", "+1 (415) 555-0123")
    page.fill("#label", "Doctor")
    page.click("#add-dnr")
    page.wait_for_load_state()
    row = page.locator("tr[data-pattern='+14155550123']")
    assert row.inner_text().split("\t")[:2] == ["(415) 555-0123", "Doctor"]
    page.fill("#pattern", "212 555*")
    page.fill("#label", "Union")
    page.click("#add-dnr")
    page.wait_for_load_state()
    assert page.evaluate(OVERFLOW), f"the do-not-record page scrolls sideways at {size} size"
    _shot(page, f"dnr-{size}")

    page.fill("#pattern", "*")
    page.click("#add-dnr")
    page.wait_for_load_state()
    assert "would match nearly every call" in page.inner_text(".field.invalid")
    assert page.evaluate(OVERFLOW)
    _shot(page, f"dnr-error-{size}")
    assert len(errors) == 1 and "400" in errors[0], errors     # the refused form's answer, nothing else

    for pattern in ("+14155550123", "212555*"):
        page.click(f"tr[data-pattern='{pattern}'] button")
        page.wait_for_load_state()
        assert page.locator(f"tr[data-pattern='{pattern}']").count() == 0
    assert "The list is empty" in page.inner_text("main")
    context.close()
