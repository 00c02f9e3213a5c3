"""A paused call's page in a real browser (Debian's Chromium): the pause window is listed (when,
how long, who) and shaded on the waveform over exactly its stretch of the call; a screenshot is
kept in test-artifacts/screenshots/."""
from __future__ import annotations

import pytest

import simtools as st
import webtools as wt
from appliance.store import db as dbmod, users
from test_browser import CHROMIUM, _shot, browser  # noqa: F401  (browser: the fixture)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

SCENARIO = """
    [[line]]
    id = 1

    [[call]]
    line = 1
    at = 1.0
    direction = "outbound"
    talk = 10.0
    near = "noise@-24"
    far = "noise@-24"

    [[action]]
    line = 1
    at = 4.0
    kind = "pause-button"

    [[action]]
    line = 1
    at = 7.0
    kind = "resume-button"
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("pause-page")
    data = base / "data"
    st.simulate(st.write_scenario(base, SCENARIO), data)
    db = dbmod.connect(data)
    try:
        users.create_user(db, "manager", "manager", wt.PASSWORDS["manager"])
    finally:
        db.close()
    server = wt.start(data)
    yield server
    server.close()


def test_the_pause_window_is_listed_and_shaded_on_the_waveform(browser, site):  # noqa: F811
    [call] = st.calls(site.data)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site.base}/login?next=/calls/{call['id']}")
    page.fill("#name", "manager")
    page.fill("#password", wt.PASSWORDS["manager"])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.wait_for_selector("#waveform[data-peaks=loaded]")
    assert page.inner_text("#pauses") == "at 0:04 for 0:03, by the line's pause button"
    # The file: 1 s of pre-roll, then 10 s of talk; paused from 3 s to 6 s of talk (4 s to 7 s in it),
    # drawn on the decoded file's timeline (the codec's delay later, as the waveform and the player).
    lead = st.CODEC_DELAY / 8000
    peaks = page.evaluate("() => fetch(document.getElementById('player').dataset.peaksUrl).then(r => r.json())")
    total = len(peaks["near"]) / peaks["per_s"]
    top_row = page.evaluate("""() => {
        const c = document.getElementById('waveform'), ctx = c.getContext('2d');
        const row = ctx.getImageData(0, 2, c.width, 1).data, out = [];
        for (let x = 0; x < c.width; x++) { out.push(row[4 * x] - row[4 * x + 2]); }   // red minus blue
        return out;
    }""")
    width = len(top_row)
    shaded = [x for x, warm in enumerate(top_row) if warm > 30 and x > 2]     # (the playhead at 0)
    assert shaded, "no band on the waveform"
    assert abs(shaded[0] - (4.0 + lead) / total * width) <= 3 and abs(shaded[-1] - (7.0 + lead) / total * width) <= 3
    # And the waveform under it is flat: the silence the pause put in the file.
    levels = peaks["near"][round((4.0 + lead + 0.1) * peaks["per_s"]):round((7.0 + lead - 0.1) * peaks["per_s"])]
    assert max(levels) <= 1 and min(peaks["near"][round(2 * peaks["per_s"]):round(3.5 * peaks["per_s"])]) > 10
    assert len(shaded) == shaded[-1] - shaded[0] + 1, "one band, unbroken"
    _shot(page, "call-page-paused")
    assert not errors, errors
    context.close()
