"""The access package page in Debian's Chromium, on a desktop and at phone size: a manager opens
it from the navigation, enters a number written their own way, sees how many calls have it, and
downloads the ZIP, which unpacks into a folder whose `sha256sum -c SHA256SUMS` passes; the page
never runs off the screen. Screenshots are kept in test-artifacts/screenshots/."""
from __future__ import annotations

import subprocess
import zipfile

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
    server = wt.start(wt.make_data(tmp_path_factory.mktemp("browserevidence")))
    yield server
    server.close()


@pytest.mark.parametrize("size", SIZES)
def test_a_manager_finds_a_number_and_downloads_its_package(browser, site, size, tmp_path):  # noqa: F811
    context = browser.new_context(viewport=SIZES[size], accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    _log_in(page, site.base, "manager")

    page.click("nav >> text=Access package")
    page.wait_for_load_state()
    assert page.url == site.base + "/evidence"
    page.fill("#number", "555.123.4567")
    page.click("#evidence-look")
    page.wait_for_load_state()
    assert page.inner_text("#evidence-count") == "1 call with this number, 1 with a recording"
    assert page.locator("#evidence-list tbody tr").count() == 1
    assert page.evaluate(OVERFLOW), f"the access package page scrolls sideways at {size} size"
    _shot(page, f"evidence-{size}")

    with page.expect_download() as info:
        page.click("#evidence-download")
    assert info.value.suggested_filename.startswith("Hookline-access-15551234567-")
    saved = tmp_path / "package.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        archive.extractall(tmp_path / "unzipped")
    [root] = (tmp_path / "unzipped").iterdir()
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=root, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.count(": OK") == 6, check.stdout + check.stderr
    assert len(list(root.rglob("*.mp3"))) == 1
    assert not errors, errors
    context.close()
