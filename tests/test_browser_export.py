"""The stick's index.html in a real browser (Debian's Chromium under Playwright), opened from
file:// with the network cut off: it shows every exported call in the owner's words, the search
narrows the table, a click on a heading sorts it, and a call's player really plays the MP3 on the
stick. Screenshot in test-artifacts/screenshots/."""
from __future__ import annotations

import shutil

import pytest

import simtools as st
from test_browser import (  # noqa: F401  (browser: the module's Chromium, a fixture)
    _shot,
    browser as browser,
    pytestmark as pytestmark,
)
from test_export import SCENARIO


@pytest.fixture(scope="module")
def stick(tmp_path_factory):
    base = tmp_path_factory.mktemp("export-page")
    data = base / "data"
    st.simulate(st.write_scenario(base, SCENARIO), data)
    (base / "stick").mkdir()
    st.check("export", "--to", base / "stick", "--data", data)
    shutil.rmtree(data)                        # the page needs nothing from the box
    return base / "stick" / "Hookline"


def test_index_opens_offline_sorts_searches_and_plays(browser, stick):
    context = browser.new_context(offline=True)
    asked = []
    context.route("**/*", lambda route: (asked.append(route.request.url), route.abort())
                  if not route.request.url.startswith("file://") else route.continue_())
    page = context.new_page()
    page.goto((stick / "index.html").as_uri())
    rows = page.locator("#calls tbody tr")
    assert rows.count() == 3
    text = page.locator("#calls").inner_text()
    assert "(415) 555-0123" in text and "ACME PLUMBING" in text and "2026-03-14 23:59:53" in text
    assert page.locator("#incomplete").count() == 0

    page.fill("#search", "674155550999")
    assert page.locator("#calls tbody tr:not([hidden])").count() == 1
    assert page.locator("#shown").inner_text() == "1"
    page.fill("#search", "")

    page.get_by_role("columnheader", name="Length").click()
    page.get_by_role("columnheader", name="Length").click()          # longest first
    assert page.locator("#calls tbody tr").first.inner_text().count("0:2") == 1   # the 20 s call
    _shot(page, "export-index")

    first = page.locator("#calls tbody tr audio").first
    played = first.evaluate("""a => new Promise((ok, fail) => {
        a.addEventListener('timeupdate', () => { if (a.currentTime > 0.3) ok(a.currentTime); });
        a.addEventListener('error', () => fail('error ' + (a.error && a.error.code)));
        a.play().catch(e => fail(String(e)));
    })""")
    assert played > 0.3
    assert asked == []                     # nothing was fetched from anywhere but the stick
    context.close()
