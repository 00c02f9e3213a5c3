"""A call's page in a real browser (Debian's Chromium), on a desktop and at phone size (390x844):
the story reads as sentences, the technical details are a closed section an administrator opens
(and a listener never gets), and nothing runs off a phone's screen. Screenshots are kept in
test-artifacts/screenshots/."""
from __future__ import annotations

import pytest

import webtools as wt
from test_browser import CHROMIUM, _shot, browser  # noqa: F401  (browser: the fixture)
from test_web_call_page import calls, data  # noqa: F401  (fixtures: the simulated office)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def site(data):  # noqa: F811
    server = wt.start(data)
    yield server
    server.close()


def _open_as(browser, site, role: str, size: str, path: str):  # noqa: F811
    context = browser.new_context(viewport=SIZES[size], is_mobile=size == "phone")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site.base + "/login?next=" + path)
    page.fill("#name", role)
    page.fill("#password", wt.PASSWORDS[role])
    page.click("button[type=submit]")
    page.wait_for_selector("#events")
    return context, page, errors


def _fits(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("size", SIZES)
def test_an_administrator_reads_the_story_and_opens_the_technical_details(browser, site, calls, size):  # noqa: F811
    call = calls["inbound"]
    context, page, errors = _open_as(browser, site, "admin", size, f"/calls/{call['id']}")
    assert page.inner_text("h1") == "Call from ACME PLUMBING, (415) 555-0123 on Front desk"
    rows = page.locator("#events li .what").all_inner_texts()
    assert rows == ["Rang twice", "Caller ID: ACME PLUMBING, (415) 555-0123", "Answered",
                    "Recording notice played", "Hung up after 0:04"]
    # Closed at first: the hash and the modem's strings are there, but not on the screen.
    assert page.locator("#technical").get_attribute("open") is None
    assert not page.get_by_text(call["sha256"]).is_visible()
    assert _fits(page), "the page runs off the screen"
    _shot(page, f"call-page-{size}")
    page.click("#technical summary")
    assert page.get_by_text(call["sha256"]).is_visible()
    assert page.locator("#raw-events").get_by_text("AT+VCID=1").first.is_visible()
    assert _fits(page), "the technical details run off the screen"
    _shot(page, f"call-page-technical-{size}")
    assert not errors, errors
    context.close()


@pytest.mark.parametrize("size", SIZES)
def test_a_listener_reads_why_a_call_was_not_kept_and_no_technical_details(browser, site, calls, size):  # noqa: F811
    context, page, errors = _open_as(browser, site, "listener", size, f"/calls/{calls['short']['id']}")
    assert page.inner_text("#no-audio") == \
        "This call was not kept. Too short to keep: 1 second of talk, the minimum is 2 seconds."
    rows = page.locator("#events li .what").all_inner_texts()
    assert rows[:2] == ["The caller-ID modem stopped responding", "The caller-ID modem is ready again"]
    assert page.locator("#technical").count() == 0 and "/dev/" not in page.content()
    assert _fits(page)
    _shot(page, f"call-page-discarded-{size}")
    assert not errors, errors
    context.close()
