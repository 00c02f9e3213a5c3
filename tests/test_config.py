"""Hardware config (hookline.toml) and scenario files: good ones load, bad ones are refused with
exit 2 and one line naming the key and the fix, before anything is written.
"""
from __future__ import annotations

import pytest

import simtools as st
from appliance import config as configmod

FIRMWARE_CONFIG = st.REPO / "firmware_config" / "hookline.toml"

GOOD = """
data_dir = "/var/lib/hookline"
status_file = "/run/hookline/status.json"

[audio]
sample_rate = 8000
period_ms = 20
bitrate_kbps = 32

[recording]
preroll_s = 1.0
min_call_s = 2.0

[[line]]
id = 1
capture = "line1"
[line.offhook]
pin = 17

[[line]]
id = 2
capture = "line2"
[line.offhook]
pin = 27
"""


def test_firmware_config_loads():
    if not FIRMWARE_CONFIG.exists():
        pytest.skip("firmware_config/hookline.toml has not been written yet")
    cfg = configmod.load(FIRMWARE_CONFIG)
    assert cfg.sample_rate in (8000, 16000)
    assert cfg.lines, "the shipped config defines at least one line"
    ids = [line.id for line in cfg.lines]
    pins = [line.offhook.pin for line in cfg.lines]
    assert len(set(ids)) == len(ids) and len(set(pins)) == len(pins)
    for line in cfg.lines:
        assert line.capture and line.offhook.source == "gpio"
        assert line.min_call_s < line.max_call_s


def test_good_config_loads_with_defaults(tmp_path):
    path = tmp_path / "hookline.toml"
    path.write_text(GOOD)
    cfg = configmod.load(path)
    assert [line.id for line in cfg.lines] == [1, 2]
    line = cfg.line(2)
    assert line.name == "Line 2" and line.near_channel == "left" and line.playback is None
    assert line.preroll_s == 1.0 and line.min_call_s == 2.0 and line.max_call_s == 4 * 3600
    assert line.offhook.active == "low" and line.offhook.pull == "up" and line.offhook.debounce_ms == 50
    assert not line.offhook.rings
    assert cfg.export.mount_root == configmod.Path("/media/hookline")


def test_export_mount_root_is_configurable(tmp_path):
    path = tmp_path / "hookline.toml"
    path.write_text(GOOD + '\n[export]\nmount_root = "/srv/sticks/"\n')
    assert configmod.load(path).export.mount_root == configmod.Path("/srv/sticks")


def test_a_sense_input_that_sees_rings_holds_levels_longer_than_a_ring_cycle(tmp_path):
    """A ring makes the sense input blink 15-30 times a second: on such a line the debounce
    defaults to one and a half cycles of the slowest ring, so the blinking never starts a call."""
    path = tmp_path / "hookline.toml"
    path.write_text(_variant("pin = 27", "pin = 27\nrings = true").replace("pin = 17", "pin = 17\nrings = true\n"
                                                                            "ring_hz = [40, 60]"))
    first, second = configmod.load(path).lines
    assert (first.offhook.rings, first.offhook.ring_hz, first.offhook.debounce_ms) == (True, (40.0, 60.0), 50)
    assert (second.offhook.rings, second.offhook.ring_hz, second.offhook.debounce_ms) == (True, (15.0, 30.0), 100)


def _variant(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


# (id, config text, words the one error line must contain)
BAD_CONFIGS = [
    ("unknown key", _variant('capture = "line1"', 'captur = "line1"'),
     ["line[1].captur", "unknown key", "did you mean 'capture'"]),
    ("unknown top-level table", _variant("[audio]", "[audoi]"), ["audoi", "did you mean 'audio'"]),
    ("wrong type", _variant("sample_rate = 8000", 'sample_rate = "8000"'), ["audio.sample_rate", "int"]),
    ("sample rate not allowed", _variant("sample_rate = 8000", "sample_rate = 44100"), ["audio.sample_rate", "44100"]),
    ("bool for a number", _variant("preroll_s = 1.0", "preroll_s = true"), ["recording.preroll_s"]),
    ("pin out of range", _variant("pin = 27", "pin = 40"), ["line[2].offhook.pin", "out of range"]),
    ("same pin twice", _variant("pin = 27", "pin = 17"), ["line[2].offhook.pin", "GPIO17"]),
    ("duplicate line id", _variant("id = 2", "id = 1"), ["line[2].id", "twice"]),
    ("missing capture", _variant('capture = "line2"\n', ""), ["line[2].capture", "missing"]),
    ("missing offhook", _variant("[line.offhook]\npin = 27\n", ""), ["line[2].offhook", "missing"]),
    ("offhook source unknown", _variant("pin = 17", 'pin = 17\nsource = "pigeon"'),
     ["line[1].offhook.source", "pigeon"]),
    ("serial offhook without a port", _variant("pin = 17", 'source = "serial"'),
     ["line[1].offhook.port", "missing"]),
    ("line monitor pattern not a regex",
     _variant("pin = 17", 'source = "serial"\nport = "/dev/ttyUSB0"\nonhook_pattern = "(ON"'),
     ["line[1].offhook.onhook_pattern", "regular expression"]),
    ("modem init not AT commands", _variant('capture = "line1"', 'capture = "line1"\ncallerid = { port = "/dev/ttyACM0", init = ["VCID"] }'),
     ["line[1].callerid.init", "AT"]),
    ("bitrate too high for 8 kHz", _variant("bitrate_kbps = 32", "bitrate_kbps = 128"), ["audio.bitrate_kbps", "128"]),
    ("min above max", _variant('capture = "line1"', 'capture = "line1"\nmin_call_s = 30\nmax_call_s = 20'),
     ["line[1]", "max_call_s"]),
    ("sense rings not true or false", _variant("pin = 17", 'pin = 17\nrings = "yes"'), ["line[1].offhook.rings", "bool"]),
    ("ring band upside down", _variant("pin = 17", "pin = 17\nrings = true\nring_hz = [30, 15]"),
     ["line[1].offhook.ring_hz", "not a frequency band", "[15, 30]"]),
    ("debounce too short for sense rings", _variant("pin = 17", "pin = 17\nrings = true\ndebounce_ms = 50"),
     ["line[1].offhook.debounce_ms", "rings down to 15 Hz", "at least 100"]),
    ("unknown export key", GOOD + '\n[export]\nmount_rot = "/media/x"\n', ["export.mount_rot", "did you mean 'mount_root'"]),
    ("relative mount root", GOOD + '\n[export]\nmount_root = "media"\n', ["export.mount_root", "absolute path"]),
    ("mount root not a string", GOOD + '\n[export]\nmount_root = 3\n', ["export.mount_root", "str"]),
    ("no lines", GOOD.split("[[line]]")[0], ["line", "no lines"]),
    ("invalid TOML", _variant("[audio]", "[audio"), ["hookline.toml", "TOML"]),
]


@pytest.mark.parametrize("text,words", [pytest.param(t, w, id=i) for i, t, w in BAD_CONFIGS])
def test_bad_config_is_refused_with_one_line_and_nothing_written(tmp_path, text, words):
    path = tmp_path / "hookline.toml"
    path.write_text(text)
    data = tmp_path / "data"
    proc = st.run("run", "--config", path, "--data", data, timeout=20)
    assert proc.returncode == 2, proc.stderr
    line = st.one_error_line(proc)
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"
    assert proc.stdout == ""
    assert not (data / "hookline.db").exists(), "a refused config must not create the catalog"
    assert not data.exists() or not any(data.iterdir()), f"refused config wrote {list(data.iterdir())}"


def test_missing_config_file_is_refused(tmp_path):
    data = tmp_path / "data"
    proc = st.run("run", "--config", tmp_path / "nope.toml", "--data", data, timeout=20)
    assert proc.returncode == 2
    line = st.one_error_line(proc)
    assert "nope.toml" in line and "not found" in line
    assert not data.exists()


# -- scenarios -------------------------------------------------------------------------------------
SCENARIO = """
[appliance]
start = "2026-03-15T14:12:00Z"
sample_rate = 8000

[[line]]
id = 1
offhook = "gpio"
callerid = "none"

[[call]]
line = 1
at = 1.0
direction = "outbound"
talk = 3.0
near = "tone:440"
far = "silence"
"""


def _sc(old: str, new: str) -> str:
    assert old in SCENARIO, old
    return SCENARIO.replace(old, new, 1)


BAD_SCENARIOS = [
    ("offhook unknown source", _sc('offhook = "gpio"', 'offhook = "pigeon"'), ["line[1].offhook", "pigeon"]),
    ("modem fault on a line without a modem",
     SCENARIO + '\n[[fault]]\nline = 1\nat = 1.0\nkind = "modem-hang"\nfor = 5.0\n', ["fault[1].kind", "no modem"]),
    ("monitor fault on a line without a monitor",
     SCENARIO + '\n[[fault]]\nline = 1\nat = 1.0\nkind = "monitor-gone"\nfor = 5.0\n', ["fault[1].kind", "monitor"]),
    ("audio outage past the loop", _sc("sample_rate = 8000", "sample_rate = 8000\nloop_s = 20")
     + '\n[[fault]]\nline = 1\nat = 15.0\nkind = "audio-gone"\nfor = 5.0\n', ["fault[1].for", "loop_s"]),
    ("caller id not a number", _sc('callerid = "none"', 'callerid = "modem"').replace(
        'line = 1\nat', 'line = 1\ncaller_id = { number = "CALL ME" }\nat', 1), ["caller_id.number"]),
    ("bad source", _sc('near = "tone:440"', 'near = "tone:abc"'), ["call[1].near", "tone:abc"]),
    ("tone above 0 dBFS", _sc('near = "tone:440"', 'near = "tone:440@3"'), ["call[1].near"]),
    ("missing wav", _sc('far = "silence"', 'far = "file:nothere.wav"'), ["call[1].far", "nothere.wav"]),
    ("call on unknown line", _sc("line = 1\nat", "line = 3\nat"), ["call[1].line", "3"]),
    ("bad start", _sc('start = "2026-03-15T14:12:00Z"', 'start = "yesterday"'), ["appliance.start"]),
    ("duplicate lines", SCENARIO.replace("[[call]]", '[[line]]\nid = 1\noffhook = "gpio"\n\n[[call]]'),
     ["line", "same id"]),
    ("overlapping calls", SCENARIO + '\n[[call]]\nline = 1\nat = 2.0\ndirection = "outbound"\ntalk = 3.0\n',
     ["call[2].at", "busy"]),
    ("outage of no length", SCENARIO + '\n[[fault]]\nline = 1\nat = 2.0\nkind = "audio-gone"\nfor = 0\n',
     ["fault[1].for"]),
    ("invalid TOML", _sc("[appliance]", "[appliance"), ["scenario.toml", "TOML"]),
    ("unknown setting", _sc("sample_rate = 8000", "sample_rate = 8000\nsettings = { min_cal_s = 5 }"),
     ["appliance.settings", "min_cal_s"]),
    ("setting out of range", _sc('callerid = "none"', 'callerid = "none"\nsettings = { max_call_s = 5 }'),
     ["line[1].settings", "max_call_s", "out of range"]),
]


# These go through the checks shared with the hardware config (config._check_keys/_get); at
# commit 63bef24 they escaped `hookline simulate` as a ConfigError traceback with exit 1.
BAD_SCENARIOS += [
    ("offhook unknown", _sc('offhook = "gpio"', 'offhook = "magic"'), ["line[1].offhook", "magic"]),
    ("unknown call key", _sc("talk = 3.0", "tlak = 3.0"), ["call[1].tlak", "did you mean 'talk'"]),
    ("rate not allowed", _sc("sample_rate = 8000", "sample_rate = 44100"), ["appliance.sample_rate", "44100"]),
    ("wrong type", _sc("talk = 3.0", 'talk = "3"'), ["call[1].talk", "float"]),
    ("missing at", _sc("at = 1.0\n", ""), ["call[1].at", "missing"]),
    ("noise above 0 dBFS", _sc('callerid = "none"', 'callerid = "none"\nnoise_dbfs = 6'), ["line[1].noise_dbfs"]),
    ("sense rings without a sense input", _sc('offhook = "gpio"', 'offhook = "vox"\nrings = "sense"'),
     ["line[1].rings", "gpio"]),
    ("rings from nowhere", _sc('offhook = "gpio"', 'offhook = "gpio"\nrings = "bells"'), ["line[1].rings", "bells"]),
    ("unknown time zone", _sc("sample_rate = 8000", 'sample_rate = 8000\ntimezone = "Mars/Olympus"'),
     ["appliance.timezone", "Mars/Olympus"]),
    ("unknown phone region", _sc("sample_rate = 8000", 'sample_rate = 8000\nphone_region = "XX"'),
     ["appliance.phone_region", "two-letter"]),
]


@pytest.mark.parametrize("text,words", [pytest.param(t, w, id=i) for i, t, w in BAD_SCENARIOS])
def test_bad_scenario_is_refused_with_one_line(tmp_path, text, words):
    path = st.write_scenario(tmp_path, text)
    data = tmp_path / "data"
    proc = st.run("simulate", path, "--data", data, timeout=30)
    assert proc.returncode == 2, proc.stderr
    line = st.one_error_line(proc)
    assert line.startswith("hookline: scenario error:"), line
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"
    assert not (data / "hookline.db").exists(), "a refused scenario must not create the catalog"


def test_missing_scenario_file_is_refused(tmp_path):
    proc = st.run("simulate", tmp_path / "nope.toml", "--data", tmp_path / "data", timeout=30)
    assert proc.returncode == 2
    line = st.one_error_line(proc)
    assert "nope.toml" in line and "not found" in line


def test_simulate_without_data_is_refused(tmp_path):
    path = st.write_scenario(tmp_path, SCENARIO)
    proc = st.run("simulate", path, timeout=30)
    assert proc.returncode == 2
    assert "--data" in st.one_error_line(proc)


def test_refused_scenario_changes_no_settings(tmp_path):
    """A scenario refused for a bad line setting must not leave its good box-wide settings applied."""
    data = tmp_path / "data"
    text = _sc("sample_rate = 8000", "sample_rate = 8000\nsettings = { min_call_s = 5 }")
    text = text.replace('callerid = "none"', 'callerid = "none"\nsettings = { recording = "perhaps" }', 1)
    proc = st.run("simulate", st.write_scenario(tmp_path, text), "--data", data, timeout=30)
    assert proc.returncode == 2
    assert "line[1].settings" in st.one_error_line(proc)
    got = st.run("settings", "get", "min_call_s", "--data", data)
    applied = got.stdout.strip() != "2.0" and "no catalog in" not in got.stderr    # no catalog: nothing written
    assert not applied, f"the refused scenario's appliance settings were applied anyway: {got.stdout}{got.stderr}"


def test_one_sided_range_error_names_a_usable_range(tmp_path):
    text = _sc('callerid = "none"', 'callerid = "none"\nnoise_dbfs = 6')
    proc = st.run("simulate", st.write_scenario(tmp_path, text), "--data", tmp_path / "data", timeout=30)
    assert proc.returncode == 2
    line = st.one_error_line(proc)
    assert "line[1].noise_dbfs" in line
    assert "None" not in line, line
