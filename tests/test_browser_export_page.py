"""The export page in a real browser (Debian's Chromium), with the box's recorder running and a
USB stick (an ext4 volume on a loop device) under its mount root: a manager starts "everything
new", the progress bar moves as the recordings come in (the page polls without reloading),
then the page says the stick is safe to remove. Screenshots go to test-artifacts/screenshots/."""
from __future__ import annotations

import pytest

import exporttools as et
import webtools as wt
from test_browser import CHROMIUM, _shot, browser  # noqa: F401  (browser: the fixture)
from test_web_export import box, template  # noqa: F401  (fixtures: the recorder, the web app, the calls)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("export-runner"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

BAR = "(document.getElementById('export-bar') ? document.getElementById('export-bar').value : -1)"


def _pour(trickle: et.Trickle) -> None:
    """The rest of a trickling recording, then its end."""
    while trickle.sent < len(trickle.real):
        trickle.feed(64 * 1024)
    trickle.close()


def test_the_progress_bar_moves_and_the_page_says_safe_to_remove(browser, box):  # noqa: F811
    # The second and the third of three recordings wait for the test: the export stops at each.
    second, third = et.Trickle(box.data, box.rows[1]), et.Trickle(box.data, box.rows[2])
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        with et.usb_stick(box.media, "OFFICE") as usb:
            page.goto(f"{box.server.base}/login")
            page.fill("#name", "manager")
            page.fill("#password", wt.PASSWORDS["manager"])
            page.click("button[type=submit]")
            page.wait_for_load_state()
            page.click("#export-link a")            # the dashboard shows the stick, and the way to export
            page.wait_for_load_state()
            assert page.inner_text("#export-stick").startswith("“OFFICE” is plugged in: ")
            page.click("#export-new")
            page.wait_for_load_state()
            second.feed()
            page.wait_for_selector("#export-progress:has-text('Copying 2 of 3 recordings')")
            first = page.evaluate(f"() => {BAR}")
            assert first > 0, "the first recording is on the stick"
            assert page.is_visible("#export-cancel") and not page.is_visible("#export-new")
            _shot(page, "export-copying")
            page.evaluate("() => { window.sameDocument = true; }")
            _pour(second)
            third.feed()
            page.wait_for_selector("#export-progress:has-text('Copying 3 of 3 recordings')")
            assert page.evaluate(f"() => {BAR}") > first
            assert page.evaluate("() => window.sameDocument === true"), "the bar moved without a reload"
            _pour(third)
            page.wait_for_selector("#export-outcome:has-text('safe to remove')", timeout=30000)
            outcome = page.inner_text("#export-outcome")
            assert outcome.startswith("Done: 3 recordings copied and verified"), outcome
            assert page.is_visible("#export-new") and not page.is_visible("#export-job")
            _shot(page, "export-done")
            page.set_viewport_size({"width": 390, "height": 844})
            _shot(page, "export-done-phone")
            page.set_viewport_size({"width": 1100, "height": 900})
            # From the calls list: the ticked call goes (it is on the stick already: said so).
            usb.plug()
            page.goto(f"{box.server.base}/calls")
            page.check(f"#call-{box.rows[0]['id']} input[name=id]")
            assert page.inner_text("#export-selected") == "Export selected (1) to the USB stick"
            _shot(page, "export-from-calls")
            page.click("#export-selected")
            page.wait_for_load_state()
            page.wait_for_selector("#export-outcome:has-text('1 already there')", timeout=30000)
    finally:
        second.close()
        third.close()
        context.close()
    assert errors == []
