"""The settings and audit pages in Debian's Chromium, on a desktop and at phone size (390x844): an
admin names a line on the settings page and reads the change in the audit log in plain words;
neither page runs off the screen. Screenshots are kept in test-artifacts/screenshots/."""
from __future__ import annotations

import pytest

import webtools as wt
from appliance import config as configmod
from appliance.store import box, db as dbmod, settings as settingsmod
from test_browser import CHROMIUM, _shot, browser  # noqa: F401  (browser: the fixture)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

# Three lines wired three ways, so the page shows each kind of section.
CONFIG = {"timezone": "Europe/London", "phone_region": "GB", "line": [
    {"id": 1, "capture": "line1", "playback": "line1_out", "offhook": {"source": "gpio", "pin": 17},
     "callerid": {"port": "/dev/ttyACM0"}},
    {"id": 2, "name": "Warehouse", "capture": "line2", "offhook": {"source": "vox"}},
    {"id": 3, "capture": "line3", "playback": "line3_out", "offhook": {"source": "serial", "port": "/dev/ttyUSB0"}},
]}
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def site(tmp_path):
    data = wt.make_data(tmp_path)
    db = dbmod.connect(data)
    cfg = configmod.parse(CONFIG)
    box.record(db, cfg)
    settingsmod.record_config_defaults(db, list(cfg.lines))
    db.close()
    server = wt.start(data)
    yield server
    server.close()


@pytest.mark.parametrize("size", SIZES)
def test_an_admin_names_a_line_and_reads_it_in_the_audit_log(browser, site, size):  # noqa: F811
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site.base + "/login")
    page.fill("#name", "admin")
    page.fill("#password", wt.PASSWORDS["admin"])
    page.click("button[type=submit]")
    page.wait_for_url(site.base + "/")

    page.goto(site.base + "/settings")
    assert page.evaluate(OVERFLOW), f"the settings page scrolls sideways at {size} size"
    assert page.inner_text("#line-2 .scope-title") == "Warehouse"
    assert page.locator("#line-1 [name='line.1.vox_start_dbfs']").count() == 0
    assert page.locator("#line-2 [name='line.2.vox_start_dbfs']").is_visible()
    assert "no playback device" in page.inner_text("#line-2")
    assert "line monitor is silent" in page.inner_text("#line-3")
    _shot(page, f"settings-{size}")

    page.fill("[name='line.1.name']", "Front desk")
    page.fill("[name='line.1.min_call_s']", "5")
    page.click("#save-settings")
    page.wait_for_url(site.base + "/settings")
    assert "Named line 1 'Front desk'" in page.inner_text(".flash")
    assert page.inner_text("#line-1 .scope-title") == "Front desk"
    # A wrong value is shown next to its field, and the page still fits.
    page.fill("[name='line.3.vox_hang_s']", "half a minute")
    page.click("#save-settings")
    page.wait_for_selector("#settings-errors")
    assert "is not a number" in page.inner_text("#line-3 .setting.invalid")
    assert page.evaluate(OVERFLOW), f"the settings page with an error scrolls sideways at {size} size"
    assert len(errors) == 1 and "400" in errors[0], errors     # the refused form's answer, nothing else
    errors.clear()
    _shot(page, f"settings-error-{size}")

    page.goto(site.base + "/audit")
    assert page.evaluate(OVERFLOW), f"the audit page scrolls sideways at {size} size"
    said = page.inner_text("table.audit")
    assert "Set Shortest call kept on Front desk to 5 seconds" in said and "Named line 1 'Front desk'" in said
    assert "changes=" not in said
    page.click("table.audit tr >> nth=1 >> details.raw summary")
    assert "line.1.name" in page.inner_text("table.audit tr >> nth=1 >> details.raw code")
    assert page.evaluate(OVERFLOW), f"the audit page with an entry opened scrolls sideways at {size} size"
    _shot(page, f"audit-{size}")
    assert not errors, errors
    context.close()
