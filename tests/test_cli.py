"""The `hookline` command as a technician uses it: tables with headers, times in the box's zone,
numbers as people write them and lines by name; unknown lines refused; every change said; one
error where there is no catalog; `--json` as docs/cli.md has it; and every command form the
README and docs/cli.md show is one the command knows.

The office is real: `hookline simulate` records its calls, then the box's own `hookline run`
starts on that data folder with a config naming the lines and the time zone, and records them.
"""
from __future__ import annotations

import json
import re
import shutil
import signal

import pytest

import simtools as st
from appliance.cli import main
from appliance.store import audit, db as dbmod

OFFICE = """
line = [{ id = 1, offhook = "gpio", callerid = "modem" }, { id = 2, offhook = "gpio", callerid = "modem" },
        { id = 3, offhook = "gpio" }]
call = [{ line = 1, at = 1.0, direction = "inbound", rings = 1, caller_id = { number = "4155550123", name = "ACME PLUMBING" }, talk = 4.0, near = "tone:440@-14", far = "tone:1000@-18" },
        { line = 2, at = 6.0, direction = "outbound", dial = "4155550199", talk = 5.0, near = "tone:440@-14", far = "tone:660@-18" }]

[appliance]
start = "2026-03-15T14:12:00Z"
"""
QUIET = OFFICE.split("call = [")[0] + 'call = [{ line = 1, at = 1.0, direction = "outbound", talk = 3.0 }]\n' + \
    OFFICE.split("}]")[-1]     # the office's lines, one call on line 1: lines 2 and 3 see nothing

BOX = """
data_dir = "{data}"
status_file = "{data}/run/status.json"
timezone = "America/New_York"
phone_region = "US"
{lines}
"""
LINE = """
[[line]]
id = {id}
name = "{name}"
capture = "hookline_test_unplugged{id}"
[line.offhook]
pin = {pin}
"""
NAMES = {1: "Front desk", 2: "Warehouse", 3: "Back office"}
LINES = "1 Front desk, 2 Warehouse, 3 Back office"
NO_CATALOG = "hookline: no catalog in {}: is this the data folder? (hookline run or hookline demo creates it)"


@pytest.fixture(scope="module")
def office(simulated_data, tmp_path_factory):
    """A data folder with the office's calls, on which the box's recorder has started once."""
    data = simulated_data(OFFICE, name="office")
    config = tmp_path_factory.mktemp("box") / "hookline.toml"
    config.write_text(BOX.format(data=data, lines="".join(LINE.format(id=n, name=name, pin=(17, 27, 22)[n - 1])
                                                          for n, name in NAMES.items())))
    recorder = st.start_recorder(config)
    try:
        st.await_status(recorder, "--config", config, until=lambda lines: len(lines) == 3)
    finally:
        recorder.send_signal(signal.SIGTERM)
        recorder.communicate(timeout=20)
    assert recorder.returncode == 0
    return data


@pytest.fixture
def box(office, tmp_path):
    """A copy of the office's data folder, for a test that changes it."""
    return shutil.copytree(office, tmp_path / "data", ignore=shutil.ignore_patterns("sim"))   # sim: FIFOs


def _table(stdout: str) -> tuple[str, list[str], list[str]]:
    """(the note above the table, the header's columns, the rows)."""
    note, header, *rows = stdout.splitlines()
    return note, header.split(), rows


# -- tables ----------------------------------------------------------------------------------------
def test_calls_table_speaks_the_box_s_language(office):
    note, header, rows = _table(st.check("calls", "--data", office).stdout)
    assert note.startswith("times in America/New_York (")
    assert header == ["CALL", "LINE", "STARTED", "LENGTH", "DIRECTION", "WHO", "STATUS", "FILE"]
    inbound, outbound = rows
    assert re.search(r"  1 Front desk  2026-03-15 10:12:0\d    0:04  inbound    ACME PLUMBING, \(415\) 555-0123  "
                     r"complete  recordings/2026/03/15/\S+\.mp3$", inbound), inbound
    assert re.search(r"  2 Warehouse   2026-03-15 10:12:0\d    0:05  outbound   \(415\) 555-0199  ", outbound), outbound
    columns = [row.index("complete") for row in rows]
    assert len(set(columns)) == 1, "the columns line up"


def test_json_keeps_the_catalog_s_own_values(office):
    """docs/cli.md's --json is checked from outside: UTC ISO times, digits as stored."""
    calls = json.loads(st.check("calls", "--data", office, "--json").stdout)
    assert [(c["line"], c["started_at"][:16], c["remote_number"], c["dialed"]) for c in calls] == [
        (1, "2026-03-15T14:12", "4155550123", None), (2, "2026-03-15T14:12", None, "4155550199")]
    assert all(c["started_at"].endswith("Z") for c in calls)
    events = json.loads(st.check("events", "--data", office, "--json", "--line", "1").stdout)
    assert {"line", "call_id", "at", "kind", "detail"} == set(events[0]) and events[0]["at"].endswith("Z")


def test_events_table_has_names_local_times_and_readable_numbers(office):
    note, header, rows = _table(st.check("events", "--data", office, "--line", "1").stdout)
    assert note.startswith("times in America/New_York") and header == ["TIME", "LINE", "CALL", "EVENT", "WHAT", "DETAIL"]
    assert all(row.startswith("2026-03-15 10:12:0") or " device-error " in row for row in rows)
    assert all("  1 Front desk  " in row for row in rows)
    callerid = next(row for row in rows if " callerid " in row)
    assert "Caller ID: ACME PLUMBING, (415) 555-0123" in callerid, "what happened, in words"
    assert "number=(415) 555-0123" in callerid and "name=ACME PLUMBING" in callerid, "and the raw detail"


def test_settings_users_tokens_and_audit_tables(box):
    rows = st.check("settings", "list", "--data", box).stdout.splitlines()
    assert rows[0].split() == ["SETTING", "FOR", "VALUE", "SOURCE", "MEANING"]
    assert ["recording", "line", "2", "Warehouse", "on", "built-in", "default", "Record", "calls"] in \
        [row.split() for row in rows]
    st.check("users", "add", "ann", "--role", "manager", "--password-stdin", "--data", box,
             input="a long enough passphrase\n")
    note, header, rows = _table(st.check("users", "list", "--data", box).stdout)
    assert note.startswith("times in America/New_York") and header == ["NAME", "ROLE", "STATE", "CREATED"]
    assert rows[0].split()[:3] == ["ann", "manager", "enabled"]
    st.check("tokens", "create", "--user", "ann", "--label", "nightly export", "--data", box)
    note, header, rows = _table(st.check("tokens", "list", "--data", box).stdout)
    assert header == ["ID", "USER", "TOKEN", "LABEL", "CREATED", "STATE"]
    assert re.match(r" *1  ann   hl_\S+…  nightly export  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  never used$", rows[0]), rows
    note, header, rows = _table(st.check("audit", "--data", box).stdout)
    assert header == ["ID", "TIME", "WHO", "ACTION", "WHAT", "FROM"]
    assert [re.search(r" (token-create|user-add) ", row).group(1) for row in rows] == ["token-create", "user-add"]
    assert "(at the console)" in rows[0] and "Created API token 'nightly export' for ann" in rows[0], rows


def test_empty_listings_say_so(tmp_path):
    data = tmp_path / "data"
    dbmod.connect(data).close()
    for args, said in [(("calls",), "no calls"), (("events",), "no events"),
                       (("users", "list"), "no users yet (add one with: hookline users add NAME --role admin)"),
                       (("tokens", "list"), "no API tokens (make one with: hookline tokens create --user NAME)"),
                       (("audit",), "no audit entries")]:
        proc = st.check(*args, "--data", data)
        assert proc.stdout == "" and proc.stderr.strip() == said, args


# -- lines -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("settings", "set", "recording", "off", "--line", "7"),
    ("settings", "set", "line.7.recording", "off"),
    ("settings", "unset", "recording", "--line", "7"),
    ("settings", "get", "min_call_s", "--line", "7"),
    ("calls", "--line", "7"), ("calls", "--line", "7", "--json"),
    ("events", "--line", "7"), ("events", "--line", "7", "--json"),
], ids=lambda args: " ".join(args))
def test_a_line_the_box_does_not_have_is_refused(box, args):
    before = st.check("settings", "list", "--json", "--data", box).stdout
    proc = st.run(*args, "--data", box)
    assert proc.returncode == 2 and proc.stdout == ""
    assert st.one_error_line(proc) == f"hookline: there is no line 7 (lines: {LINES})"
    assert st.check("settings", "list", "--json", "--data", box).stdout == before
    assert audit.entries(dbmod.connect(box)) == [], "nothing changed, nothing audited"


def test_a_real_line_with_nothing_says_so(box, simulated_data):
    proc = st.check("calls", "--line", "3", "--data", box)
    assert proc.stdout == "" and proc.stderr.strip() == "no calls on line 3 Back office"
    assert st.check("calls", "--line", "3", "--json", "--data", box).stdout.strip() == "[]"
    quiet = simulated_data(QUIET, name="quiet")
    proc = st.check("events", "--line", "3", "--data", quiet)
    assert proc.stdout == "" and proc.stderr.strip() == "no events on line 3"
    assert st.run("events", "--line", "4", "--data", quiet).stderr.strip() == "hookline: there is no line 4 (lines: 1, 2, 3)"


def test_lines_of_a_catalog_no_recorder_has_started_on(tmp_path):
    """Nothing to check a line against: say so, and take the line as given."""
    data = tmp_path / "data"
    dbmod.connect(data).close()
    proc = st.check("settings", "set", "recording", "off", "--line", "2", "--data", data)
    assert proc.stderr.splitlines() == [
        "hookline: note: no recorder has started with this catalog yet, so its lines are not known; "
        "line 2 is taken as given",
        "line 2 recording: now off (was on, the built-in default)"]
    proc = st.check("calls", "--line", "2", "--data", data)
    assert proc.stderr.strip() == ("no calls on line 2 (no recorder has started with this catalog yet, so its "
                                   "lines are not known)")
    for args in (("calls", "--line", "0"), ("settings", "set", "recording", "off", "--line", "0")):
        proc = st.run(*args, "--data", data)
        assert proc.returncode == 2 and st.one_error_line(proc) == "hookline: there is no line 0 (lines are " \
                                                                   "numbered from 1)"


# -- changes are said ------------------------------------------------------------------------------
def said(*args, data, **kw) -> str:
    return st.check(*args, "--data", data, **kw).stderr.strip()


def test_every_change_says_what_it_did(box):
    assert said("settings", "set", "recording", "off", "--line", "2", data=box) == \
        "line 2 (Warehouse) recording: now off (was on, the built-in default)"
    assert said("settings", "set", "line.2.recording", "off", data=box) == \
        "line 2 (Warehouse) recording: already off, nothing changed"
    assert said("settings", "unset", "recording", "--line", "2", data=box) == \
        "line 2 (Warehouse) recording: back to the default (on; was off)"
    assert said("settings", "unset", "line.2.recording", data=box) == \
        "line 2 (Warehouse) recording: nothing was set, still on (the built-in default)"
    assert said("settings", "set", "min_call_s", "5", data=box) == "min_call_s (whole box): now 5 (was 2, the " \
                                                                   "built-in default)"
    assert said("settings", "set", "min_call_s", "3", "--line", "1", data=box) == \
        "line 1 (Front desk) min_call_s: now 3 (was 5, the box setting)"
    assert said("settings", "unset", "min_call_s", "--line", "1", data=box) == \
        "line 1 (Front desk) min_call_s: back to the box setting (5; was 3)"
    assert said("settings", "unset", "min_call_s", data=box) == "min_call_s (whole box): back to the default (2; was 5)"

    secret = "a long enough passphrase\n"
    assert said("users", "add", "root", "--role", "admin", "--password-stdin", data=box, input=secret) == \
        "added root (admin)"
    assert said("users", "add", "ann", "--role", "listener", "--password-stdin", data=box, input=secret) == \
        "added ann (listener)"
    assert said("users", "role", "ann", "manager", data=box) == "changed ann's role to manager (was listener)"
    token = st.check("tokens", "create", "--user", "ann", "--data", box).stdout.strip()
    assert said("users", "passwd", "ann", "--password-stdin", data=box, input="another long passphrase\n") == \
        "ann: password changed, any lockout cleared; web sessions ended: 0, API tokens revoked: 1"
    assert token not in st.check("audit", "--data", box).stdout
    assert said("users", "disable", "ann", data=box) == \
        "disabled ann: they cannot log in; their sessions have ended and their API tokens are revoked for good"
    assert said("users", "enable", "ann", data=box) == \
        "enabled ann: they can log in again (their old API tokens stay revoked)"
    st.check("tokens", "create", "--user", "ann", "--label", "export", "--data", box)
    assert said("tokens", "revoke", "2", data=box) == "revoked token 2 of ann (export)"
    assert said("users", "remove", "ann", data=box) == "removed ann (manager) and their API tokens"
    assert said("recover", data=box) == ""


# -- no catalog ------------------------------------------------------------------------------------
NEEDS_A_CATALOG = [
    ("calls",), ("calls", "--json"), ("events",), ("events", "--json", "--line", "1"),
    ("settings", "list"), ("settings", "list", "--json"), ("settings", "get", "min_call_s"),
    ("settings", "unset", "min_call_s"),
    ("users", "list"), ("users", "list", "--json"), ("users", "passwd", "ann", "--password-stdin"),
    ("users", "role", "ann", "admin"), ("users", "disable", "ann"), ("users", "enable", "ann"),
    ("users", "remove", "ann"),
    ("tokens", "create", "--user", "ann"), ("tokens", "list"), ("tokens", "list", "--json"), ("tokens", "revoke", "1"),
    ("audit",), ("audit", "--json"), ("audit", "--verify"), ("audit", "verify"),
    ("retention", "sweep"), ("retention", "sweep", "--dry-run", "--json"), ("recover",),
]


@pytest.mark.parametrize("args", NEEDS_A_CATALOG, ids=lambda args: " ".join(args))
def test_every_command_gives_the_same_error_where_there_is_no_catalog(tmp_path, args):
    data = tmp_path / "typo"
    proc = st.run(*args, "--data", data, input="a long enough passphrase\n")
    assert proc.returncode == 2 and proc.stdout == ""
    assert st.one_error_line(proc) == NO_CATALOG.format(data)
    assert not data.exists(), "looking creates nothing"


@pytest.mark.parametrize("args", [("settings", "set", "consent", "start"),
                                  ("users", "add", "root", "--role", "admin", "--password-stdin")])
def test_setting_up_a_new_box_makes_its_catalog_and_says_so(tmp_path, args):
    data = tmp_path / "new-box"
    proc = st.check(*args, "--data", data, input="a long enough passphrase\n")
    assert proc.stderr.splitlines()[0] == f"hookline: no catalog in {data} yet: made a new one"
    assert (data / "hookline.db").exists()
    assert "made a new one" not in st.check("settings", "set", "consent", "off", "--data", data).stderr


# -- the docs show only forms the command knows ----------------------------------------------------
def _forms(text: str) -> list[str]:
    """Every `hookline ...` command form in backticks or in a sh block."""
    forms = re.findall(r"`(?:[^`]*\|\s*)?(hookline [^`]+)`", text)     # also `echo ... | hookline ...`
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        forms += [line.split("#")[0].strip() for line in block.splitlines() if line.startswith("hookline ")]
    return forms


def _check_form(form: str) -> None:
    """The command path resolves (each of `add|list|...`), and every --option written after it is
    one that it (or one of those alternatives) takes."""
    import click
    words = form.replace("\\|", "|").split()[1:]
    ctx = click.Context(main)
    commands = [main]
    for word in words:
        if not all(isinstance(c, click.Group) for c in commands) or word.startswith(("-", "[")):
            break
        found = [c.get_command(ctx, name.strip("[]")) for c in commands for name in word.split("|")]
        assert None not in found, f"{form}: no command {word!r}"
        commands = found
    known = {opt for c in commands for param in c.params for opt in param.opts + param.secondary_opts}
    for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", " ".join(words)):
        assert option in known | {"--help"}, f"{form}: {option} is not an option of it"


@pytest.mark.parametrize("doc", ["README.md", "docs/cli.md"])
def test_every_command_form_in_the_docs_is_one_the_command_knows(doc):
    forms = _forms((st.REPO / doc).read_text())
    assert len(forms) > 10
    for form in forms:
        if form.startswith("hookline export"):    # listed in docs/cli.md as not built yet
            continue
        _check_form(form)


def test_the_readme_says_how_its_commands_work_as_typed_and_make_demo_reminds_you():
    readme, makefile = (st.REPO / "README.md").read_text(), (st.REPO / "Makefile").read_text()
    assert "```sh\n. .venv/bin/activate\nhookline calls --data demo-data\n```" in readme
    demo_recipe = makefile.split("\ndemo:")[1].split("\n\n")[0]
    assert ". $(VENV)/bin/activate" in demo_recipe and "VENV := .venv" in makefile
    activated = st.subprocess.run(["bash", "-c", ". .venv/bin/activate && hookline --help"], cwd=st.REPO,
                                  capture_output=True, text=True, env=st.clean_env())
    assert activated.returncode == 0 and "calls" in activated.stdout
