"""The dashboard's USB stick section in a real browser (Debian's Chromium under Playwright): a
stick plugged in while the page is open appears by itself with its label and room, a stick the
box cannot export to says why, and an unplugged one goes, all without a reload. The sticks are
real volumes mounted by the test under the mount root of the config the app was started with."""
from __future__ import annotations

import pytest

import sticktools
import web
import webtools as wt
from appliance.export import sticks
from test_browser import (  # noqa: F401  (browser: the module's Chromium, a fixture)
    _shot,
    browser as browser,
    pytestmark as pytestmark,
)
from test_browser_calls import _log_in


@pytest.fixture
def office(tmp_path):
    """(the app's address, the mount root)."""
    data = wt.make_data(tmp_path)
    root = tmp_path / "media"
    server = web.serve_in_thread(data, "127.0.0.1", 0,
                                 config_file=sticktools.write_config(tmp_path / "hookline.toml", root, data))
    try:
        yield f"http://127.0.0.1:{server.port}", root
    finally:
        server.close()


def test_a_stick_plugged_in_shows_up_without_a_reload(browser, office, tmp_path):
    base, root = office
    page = browser.new_page()
    _log_in(page, base, "listener")
    assert page.is_visible("#sticks-empty") and page.inner_text("#sticks-empty") == "No USB stick is plugged in."
    with sticktools.ext4_stick(root, "OFFICE", 80, image=tmp_path / "office.img"):
        page.wait_for_selector("#sticks .stick-label:text-is('OFFICE')")
        [stick] = sticks.find(root)
        assert page.inner_text("#sticks .stick-space") == stick.space_words()
        assert not page.is_visible("#sticks-empty") and not page.is_visible("#sticks .stick-problem-text")
        with sticktools.tmpfs_stick(root, "RAMDISK"):
            page.wait_for_selector("#sticks .stick-label:text-is('RAMDISK')")
            problem = page.locator("#sticks li.stick-problem .stick-problem-text")
            assert problem.is_visible() and problem.inner_text().startswith("The stick's filesystem is tmpfs")
            _shot(page, "dashboard-sticks")
        page.wait_for_function("() => document.querySelectorAll('#sticks li').length === 1")
    page.wait_for_selector("#sticks-empty", state="visible")
    assert not page.is_visible("#sticks")
