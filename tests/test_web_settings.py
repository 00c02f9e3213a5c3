"""The settings page and the audit page over real HTTP: settings in groups with their labels,
each line titled with its name and showing only what applies to its wiring; an admin names a
line (the page, the box's facts and the audit log agree), managers and listeners cannot; the
audit log reads as sentences in the box's zone, links to the calls, and keeps the raw entry for
admins; `hookline audit --json` is as it was."""
from __future__ import annotations

import html
import json
import re

import pytest

import simtools as st
import webtools as wt
from appliance import config as configmod
from appliance.store import audit, box, catalog, db as dbmod, settings as settingsmod

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

# The box as its config says: line 1 on a GPIO hook switch with a modem and a speaker, line 2
# voice-activated with nothing to play a notice on; times in Los Angeles.
CONFIG = {"timezone": "America/Los_Angeles", "line": [
    {"id": 1, "capture": "line1", "playback": "line1_out", "offhook": {"source": "gpio", "pin": 17},
     "callerid": {"port": "/dev/ttyACM0"}},
    {"id": 2, "capture": "line2", "offhook": {"source": "vox"}},
]}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data = wt.make_data(tmp_path_factory.mktemp("websettings"))
    db = dbmod.connect(data)
    cfg = configmod.parse(CONFIG)
    box.record(db, cfg)                      # as the daemon does at start
    settingsmod.record_config_defaults(db, list(cfg.lines))
    db.close()
    server = wt.start(data)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def admin(site):
    return wt.login(site.base, "admin")


@pytest.fixture
def db(site):
    """The catalog as the tests read it, beside the server."""
    conn = dbmod.connect(site.data)
    yield conn
    conn.close()


def _text(page: str) -> str:
    """What a person reads: the page without its tags, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _section(page: str, key: str) -> str:
    """One scope of the settings page (box, line-1, ...)."""
    match = re.search(rf'<details class="settings-scope" id="{key}".*?</details>', page, re.S)
    assert match, f"no section {key}"
    return match.group(0)


def _fields(section: str) -> set[str]:
    return {name.split(".")[-1] for name in re.findall(r'name="((?:box|line\.\d+)\.[a-z_]+)"', section)}


def test_settings_are_grouped_with_labels_units_and_help(site, admin):
    page = admin.get("/settings").text
    whole = _text(_section(page, "box"))
    for words in ("Recording", "Shortest call kept", "seconds", "Notice to callers", "Voice activation",
                  "Sound that starts a call", "dBFS", "Retention", "Delete calls after", "days",
                  "Free space to keep", "% of the disk", "Calls with less talk time than this are discarded"):
        assert words in whole, words
    assert not re.search(r">\s*(min_call_s|vox_start_dbfs|retention_days)\s*<", page), "an internal name shows"


def test_each_line_is_titled_with_its_name_and_shows_what_its_wiring_uses(site, admin):
    page = admin.get("/settings").text
    gpio, vox = _section(page, "line-1"), _section(page, "line-2")
    vox_settings = {"vox_start_dbfs", "vox_stop_dbfs", "vox_hang_s", "vox_min_burst_ms"}
    assert not _fields(gpio) & vox_settings and {"consent", "beep_interval_s"} <= _fields(gpio)
    assert vox_settings <= _fields(vox) and not _fields(vox) & {"consent", "beep_interval_s"}
    assert "This line has no playback device, so no notice can be played on it." in _text(vox)
    assert "voice-activated" in _text(vox) and "hook switch on a GPIO input" in _text(gpio)
    for line in (gpio, vox):
        assert not _fields(line) & {"max_recordings_gb", "disk_reserve_pct"}, "box-wide settings stay box-wide"
        assert {"retention_days", "min_age_days"} <= _fields(line), "the ages: per line too"
    assert "name" not in _fields(_section(page, "box"))


def test_an_admin_names_a_line_and_everything_agrees(site, admin, db):
    r = admin.post_form("/settings", {"line.1.name": "  Front desk "})
    assert r.status_code == 303
    page = admin.get("/settings").text
    assert re.search(r'<h2 class="scope-title">Front desk</h2>', _section(page, "line-1"))
    assert 'value="Front desk"' in _section(page, "line-1")
    assert box.facts(db).line_name(1) == "Front desk"
    entry = audit.entries(db, action="settings", limit=1)[0]
    assert entry["user"] == "admin"
    assert entry["detail"]["changes"] == {"line.1.name": {"before": None, "after": "Front desk"}}
    # Emptied, the line is called what the config calls it again.
    assert admin.post_form("/settings", {"line.1.name": ""}).status_code == 303
    assert box.facts(db).line_name(1) == "Line 1"
    assert re.search(r'<h2 class="scope-title">Line 1</h2>', _section(admin.get("/settings").text, "line-1"))


@pytest.mark.parametrize("name, words", [
    ("x" * 41, "use 1 to 40 characters (this has 41)"),
    ("Front\tdesk", "no tabs, line breaks or control characters"),
])
def test_a_bad_name_is_refused_next_to_its_field_and_nothing_is_saved(site, admin, name, words, db):
    before = settingsmod.resolve(db)
    r = admin.post_form("/settings", {"line.2.name": name, "line.2.min_call_s": "4"})
    assert r.status_code == 400
    assert re.search(rf'<p class="error" id="line\.2\.name-error">[^<]*{re.escape(html.escape(words))}', r.text)
    assert "Nothing was saved" in r.text and settingsmod.resolve(db) == before


@pytest.mark.parametrize("role", ["manager", "listener"])
def test_managers_and_listeners_cannot_name_a_line(site, role, db):
    client = wt.login(site.base, role)
    token = client.token_from("/account")          # a valid CSRF token of their own
    r = client.post("/settings", data={"csrf_token": token, "line.2.name": "Mine now"})
    assert r.status_code == 403 and client.get("/settings").status_code == 403
    assert box.facts(db).line_name(2) == "Line 2"


def test_the_console_names_a_line_as_the_page_does(site, admin, db):
    st.check("settings", "set", "name", "Warehouse", "--line", "2", "--data", site.data)
    assert box.facts(db).line_name(2) == "Warehouse"
    entry = audit.entries(db, action="settings", limit=1)[0]
    assert entry["detail"]["changes"] == {"line.2.name": {"before": None, "after": "Warehouse"}}
    assert re.search(r'<h2 class="scope-title">Warehouse</h2>', _section(admin.get("/settings").text, "line-2"))
    proc = st.run("settings", "set", "name", "Warehouse", "--data", site.data)
    assert proc.returncode == 2 and "--line" in st.one_error_line(proc)
    st.check("settings", "unset", "name", "--line", "2", "--data", site.data)


def test_the_audit_log_speaks_plainly(site, admin, db):
    call = next(c for c in catalog.list_calls(db) if c["remote_number"] == "5551234567")
    manager = wt.login(site.base, "manager")
    assert admin.post_form("/settings", {"line.1.name": "Front desk", "line.1.min_call_s": "2"}).status_code == 303
    assert admin.post_form("/settings", {"line.1.min_call_s": "5"}).status_code == 303
    assert manager.post_form(f"/calls/{call['id']}/hold", {"held": "1"}, page=f"/calls/{call['id']}").status_code == 303
    assert manager.get(f"/calls/{call['id']}/download").status_code == 200
    assert manager.post_form("/account/tokens", {"label": "nightly export"}, page="/account").status_code == 200
    wt.Client(site.base).post_form("/login", {"name": "manager", "password": "not it"})

    page = manager.get("/audit").text
    said = _text(page)
    # The call started 2026-03-15 14:12:00 UTC: 07:12 in Los Angeles.
    for words in ("Changed Shortest call kept on Front desk from 2 to 5 seconds",
                  "Kept the call from (555) 123-4567 of 15 Mar 07:12",
                  "Downloaded the call from (555) 123-4567 of 15 Mar 07:12",
                  "Created API token 'nightly export' for manager", "Logged in",
                  "Failed login as 'manager' (wrong name or password)", "When (America/Los_Angeles"):
        assert words in said, words
    assert "changes=" not in said and "{'" not in said and "min_call_s" not in said
    # Entries about a call link to it; the raw entry is for admins only.
    link = re.search(r'<a href="/calls/([0-9a-f]+)"><span class="said">Kept the call', page)
    assert link and link.group(1) == call["id"]
    assert 'class="raw"' not in page
    raw = admin.get("/audit?action=settings").text
    assert 'class="raw"' in raw and \
        '"line.1.min_call_s": {"after": 5.0, "before": 2.0}' in html.unescape(raw)
    # The filter names the actions in words and still filters by the stored action.
    assert '<option value="hold">Kept calls</option>' in page
    assert "Downloaded" not in _text(manager.get("/audit?action=hold").text.split("<table", 1)[1])


def test_the_command_prints_the_log_as_it_was(site):
    listed = json.loads(st.check("audit", "--json", "--limit", "1000", "--data", site.data).stdout)
    assert listed and set(listed[0]) == {"id", "at", "user", "action", "target", "detail", "remote_addr",
                                         "prev_hash", "hash"}
    changes = [e["detail"]["changes"] for e in listed if e["action"] == "settings"]
    assert {"line.1.name": {"before": None, "after": "  Front desk ".strip()}} in changes
