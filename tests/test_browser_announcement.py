"""The announcement page in Debian's Chromium: an admin finds it from the settings page, uploads
a WAV, plays back what callers will hear (the audio element really plays it), and is told why a
file that is too quiet is refused. Screenshots are kept in test-artifacts/screenshots/."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

import webtools as wt
from test_browser import CHROMIUM, _shot, browser  # noqa: F401  (browser: the fixture)
from test_browser_calls import _log_in

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]
OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def site(tmp_path):
    with wt.serving(wt.make_data(tmp_path)) as server:
        yield server


def _wav(path, level: float):
    t = np.arange(3 * 44100) / 44100
    mono = level * np.sin(2 * np.pi * 500 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    soundfile.write(str(path), np.stack([mono, mono], axis=1), 44100, subtype="PCM_16")
    return str(path)


def test_an_admin_uploads_the_announcement_and_hears_it(browser, site, tmp_path):  # noqa: F811
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    _log_in(page, site.base, "admin")
    page.goto(site.base + "/settings")
    page.click("#announcement-link")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Announcement to callers"
    assert "No announcement is uploaded" in page.inner_text("#announcement-none")

    page.set_input_files("#file", _wav(tmp_path / "Our notice.wav", 0.4))
    page.click("#upload-announcement")
    page.wait_for_load_state()
    facts = page.inner_text("#announcement-now")
    assert "Our notice.wav" in facts and "3 s" in facts and "WAV, 44100 Hz, 2 channels" in facts
    assert "callers now hear" in page.inner_text(".flash")
    played = page.evaluate("""async () => {
        const a = document.getElementById('announcement-audio');
        await a.play();
        await new Promise(r => setTimeout(r, 400));
        return {time: a.currentTime, duration: a.duration};
    }""")
    assert played["time"] > 0 and abs(played["duration"] - 3.0) < 0.05, played
    _shot(page, "announcement")

    page.set_input_files("#file", _wav(tmp_path / "whisper.wav", 0.01))
    page.click("#upload-announcement")
    page.wait_for_load_state()
    said = page.inner_text("#announcement-error")
    assert "too quiet for a phone line" in said and "dBFS" in said
    assert "Our notice.wav" in page.inner_text("#announcement-now"), "the one before stays"
    assert page.evaluate(OVERFLOW)
    _shot(page, "announcement-refused")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(OVERFLOW), "the page scrolls sideways at phone size"
    assert len(errors) == 1 and "400" in errors[0], errors     # the refused upload's answer, nothing else
