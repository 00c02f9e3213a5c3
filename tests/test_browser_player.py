"""The call page's player in a real browser (Debian's Chromium under Playwright): playback speed
(0.75x to 2x; the time really runs 1.5x faster at 1.5x, and one leg alone still works), skipping
10 s back and forward, the keys for them (never while typing in a field), the speed kept for the
next call, and a phone-size page that does not scroll sideways. Screenshots in
test-artifacts/screenshots/."""
from __future__ import annotations

from contextlib import closing

import pytest

import webtools as wt
from appliance.store import catalog, db as dbmod, users
from test_browser import (  # noqa: F401  (browser: the module's Chromium, a fixture)
    _shot,
    browser as browser,
    pytestmark as pytestmark,
)
from test_peaks import LONG

# test_peaks' one long call (60 s, the office leg a 440 Hz tone) with a 1000 Hz tone on the line
# leg too, to hear one leg alone; long enough to skip around in.
SCENARIO = LONG.replace('far = "silence"', 'far = "tone:1000@-12"')
assert SCENARIO != LONG

AUDIO = "document.getElementById('audio')"


@pytest.fixture(scope="module")
def site(simulated_data):
    data = simulated_data(SCENARIO, name="player")
    with closing(dbmod.connect(data)) as db:
        users.create_user(db, "manager", "manager", wt.PASSWORDS["manager"])
        call = next(c for c in catalog.list_calls(db) if c["status"] == "complete")
    server = wt.start(data)
    server.call = call
    yield server
    server.close()


def _call_page(browser, site, viewport: dict):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site.base}/calls/{site.call['id']}")
    page.fill("#name", "manager")
    page.fill("#password", wt.PASSWORDS["manager"])
    page.click("button[type=submit]")
    page.wait_for_selector("#audio")
    page.wait_for_function("() => document.getElementById('waveform').getAttribute('data-peaks') === 'loaded'")
    return context, page, errors


def _audio(page, prop: str):
    return page.evaluate(f"() => {AUDIO}.{prop}")


def _pressed(page) -> list[str]:
    return page.evaluate("() => Array.from(document.querySelectorAll('button[data-speed][aria-pressed=true]'))"
                         ".map(b => b.getAttribute('data-speed'))")


def _seek(page, at: float) -> None:
    page.evaluate(f"() => {{ {AUDIO}.currentTime = {at}; }}")
    _settle(page, at)


def _settle(page, at: float) -> None:
    """Wait until the element has got to `at` (seconds) and is not seeking."""
    page.wait_for_function(f"() => !{AUDIO}.seeking && Math.abs({AUDIO}.currentTime - {at}) < 0.05", timeout=10000)


RATE_JS = f"""async () => {{
  const a = {AUDIO};
  await new Promise(done => {{ const wait = () => (!a.paused && a.currentTime > 0.3) ? done() : setTimeout(wait, 20); wait(); }});
  const t0 = a.currentTime, w0 = performance.now();
  await new Promise(done => setTimeout(done, 3000));
  return (a.currentTime - t0) / ((performance.now() - w0) / 1000);
}}"""

PLAYHEAD_JS = f"""() => {{
  const c = document.getElementById('waveform'), a = {AUDIO}, r = window.devicePixelRatio || 1;
  const x = Math.round(a.currentTime / a.duration * c.clientWidth);
  return Array.from(c.getContext('2d').getImageData(Math.round((x + 1) * r), 2, 1, 1).data.slice(0, 3));
}}"""


def test_the_player_plays_at_speed_skips_and_answers_keys(browser, site):
    context, page, errors = _call_page(browser, site, {"width": 1280, "height": 900})
    assert _pressed(page) == ["1"] and _audio(page, "playbackRate") == 1
    # The keys are told: a hint under the player, and each button's title.
    assert "Space" in page.inner_text("#player-keys") and page.is_visible("#player-keys")
    assert "left arrow" in page.get_attribute("#skip-back", "title")
    assert "]" in page.get_attribute("button[data-speed='1.5']", "title")

    # 1.5x: the element's rate, and its time runs 1.5x the wall clock.
    page.click("button[data-speed='1.5']")
    assert _audio(page, "playbackRate") == 1.5 and _pressed(page) == ["1.5"]
    page.click("#play-pause")
    assert page.inner_text("#play-pause") == "Pause"
    ratio = page.evaluate(RATE_JS)
    assert 1.3 < ratio < 1.7, f"at 1.5x the audio ran {ratio:.2f}x the wall clock"
    # One leg alone still works at that speed (the Web Audio graph after the element).
    page.check("input[name=leg][value=near]")
    page.evaluate(f"() => {{ {AUDIO}.currentTime = 2; {AUDIO}.play(); }}")
    page.wait_for_function("() => { const p = document.getElementById('player');"
                           " const hz = e => Number(p.getAttribute('data-ear-' + e + '-hz') || 0);"
                           " return Math.abs(hz('left') - 440) < 25 && Math.abs(hz('right') - 440) < 25; }",
                           timeout=10000)
    page.check("input[name=leg][value=both]")
    page.click("#play-pause")
    assert _audio(page, "paused") and page.inner_text("#play-pause") == "Play"

    # Skip 10 s back and forward; never before the start or past the end; the playhead follows.
    total = _audio(page, "duration")
    _seek(page, 12)
    page.click("#skip-forward")
    _settle(page, 22)
    assert page.evaluate(PLAYHEAD_JS) == [180, 35, 24]        # the red playhead where the time now is
    page.click("#skip-back")
    _settle(page, 12)
    page.click("#skip-back")
    page.click("#skip-back")
    _settle(page, 0)
    _seek(page, total - 3)
    page.click("#skip-forward")
    _settle(page, total)
    _shot(page, "24-call-player")

    # Keys, with nothing focused: space plays and pauses, arrows skip, [ ] < > change speed.
    _seek(page, 5)
    page.click("h1")
    page.keyboard.press("ArrowRight")
    _settle(page, 15)
    page.keyboard.press("ArrowLeft")
    _settle(page, 5)
    speeds = []
    for key in ("]", "]", "[", "<", "<", "<", ">"):
        page.keyboard.press(key)
        speeds.append(_audio(page, "playbackRate"))
    assert speeds == [2, 2, 1.5, 1.25, 1, 0.75, 1]
    page.keyboard.press("Space")
    page.wait_for_function(f"() => !{AUDIO}.paused")
    page.keyboard.press("Space")
    page.wait_for_function(f"() => {AUDIO}.paused")
    assert page.evaluate("() => window.scrollY") == 0          # the space bar did not scroll the page

    # Not while typing: in the note the keys are letters.
    at = _audio(page, "currentTime")
    page.click("#note")
    page.keyboard.type("call back ] [ ")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowLeft")
    assert page.input_value("#note") == "call back ] [  "
    assert _audio(page, "paused") and _audio(page, "playbackRate") == 1 and _audio(page, "currentTime") == at
    # On the audio element's own controls a key acts once, not twice.
    page.focus("#audio")
    page.keyboard.press("Space")
    page.wait_for_timeout(300)
    assert not _audio(page, "paused")
    page.keyboard.press("Space")
    page.wait_for_timeout(300)
    assert _audio(page, "paused")
    # Space on a focused button presses that button only.
    page.focus("button[data-speed='1.25']")
    page.keyboard.press("Space")
    assert _audio(page, "playbackRate") == 1.25 and _audio(page, "paused")

    # The next call's page starts at the speed chosen last.
    page.reload()
    page.wait_for_selector("#audio")
    assert _audio(page, "playbackRate") == 1.25 and _pressed(page) == ["1.25"]
    assert not errors, errors
    context.close()


def test_the_player_at_phone_size(browser, site):
    context, page, errors = _call_page(browser, site, {"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), \
        page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    for control in ("#skip-back", "#play-pause", "#skip-forward", "button[data-speed='2']"):
        box = page.locator(control).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (control, box)
    page.click("button[data-speed='2']")
    page.click("#play-pause")
    page.wait_for_function(f"() => !{AUDIO}.paused && {AUDIO}.currentTime > 0.5", timeout=15000)
    assert _audio(page, "playbackRate") == 2
    page.click("#play-pause")
    _shot(page, "25-call-player-phone")
    assert not errors, errors
    context.close()
