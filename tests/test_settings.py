"""Runtime settings: `hookline settings list|get|set|unset`, scenario `settings = {...}` at box and
line level, and what they do to the calls (min_call_s, recording off, max_call_s splits).
"""
from __future__ import annotations

import json

import pytest

import simtools as st
from appliance.store import db as dbmod


def new_catalog(tmp_path):
    """A data folder with an empty catalog (as a recorder's first start makes it, before it
    records the box's lines)."""
    data = tmp_path / "data"
    dbmod.connect(data).close()
    return data


def get(data, name, *extra) -> object:
    return json.loads(st.run("settings", "get", name, *extra, "--data", data, check=True).stdout)


def set_(data, name, value, *extra):
    return st.run("settings", "set", name, value, *extra, "--data", data, check=True)


# -- the command ---------------------------------------------------------------------------------
def test_defaults_on_a_fresh_catalog(tmp_path):
    data = new_catalog(tmp_path)
    assert get(data, "min_call_s") == 2.0
    assert get(data, "max_call_s") == 4 * 3600
    assert get(data, "recording") is True
    listed = json.loads(st.run("settings", "list", "--json", "--data", data, check=True).stdout)
    assert listed["box"]["min_call_s"] == {"value": 2.0, "source": "default"}


@pytest.mark.slow
def test_set_get_unset_box_wide_and_per_line(tmp_path):
    data = tmp_path / "data"
    proc = set_(data, "min_call_s", "5")
    assert proc.stdout == "", "set reports on stderr, not stdout"
    assert proc.stderr.splitlines() == [f"hookline: no catalog in {data} yet: made a new one",
                                        "min_call_s (whole box): now 5 (was 2, the built-in default)"], \
        "settings set on a new box makes its catalog, and says so"
    assert get(data, "min_call_s") == 5.0
    assert get(data, "line.1.min_call_s") == 5.0, "a line without its own value follows the box"

    set_(data, "line.1.min_call_s", "7")
    assert get(data, "line.1.min_call_s") == 7.0
    assert get(data, "min_call_s", "--line", "1") == 7.0
    assert get(data, "min_call_s") == 5.0, "a line value leaves the box value alone"
    assert get(data, "line.2.min_call_s") == 5.0

    set_(data, "recording", "off", "--line", "2")
    assert get(data, "line.2.recording") is False
    assert get(data, "recording") is True

    listed = json.loads(st.run("settings", "list", "--json", "--data", data, check=True).stdout)
    assert listed["box"]["min_call_s"] == {"value": 5.0, "source": "set"}
    assert listed["lines"]["1"]["min_call_s"] == {"value": 7.0, "source": "line"}
    assert listed["lines"]["2"]["recording"] == {"value": False, "source": "line"}
    assert listed["lines"]["2"]["min_call_s"] == {"value": 5.0, "source": "set"}

    text = st.run("settings", "list", "--data", data, check=True).stdout.splitlines()
    assert text[0].split() == ["SETTING", "FOR", "VALUE", "SOURCE", "MEANING"]
    for row in ("min_call_s whole box 5 box setting Shortest call kept (seconds)",
                "min_call_s line 1 7 line setting Shortest call kept (seconds)",
                "recording line 2 off line setting Record calls"):
        assert row.split() in [shown.split() for shown in text], row

    st.run("settings", "unset", "line.1.min_call_s", "--data", data, check=True)
    assert get(data, "line.1.min_call_s") == 5.0
    st.run("settings", "unset", "min_call_s", "--data", data, check=True)
    assert get(data, "line.1.min_call_s") == 2.0
    assert get(data, "min_call_s") == 2.0


@pytest.mark.parametrize("args,words", [
    pytest.param(["set", "min_cal_s", "5"], ["unknown setting", "min_cal_s", "min_call_s"], id="unknown name"),
    pytest.param(["get", "bitrate"], ["unknown setting", "bitrate"], id="unknown name on get"),
    pytest.param(["unset", "nothing"], ["unknown setting"], id="unknown name on unset"),
    pytest.param(["set", "line.x.min_call_s", "5"], ["line must be a number"], id="line not a number"),
    pytest.param(["set", "line.1.min_call_s", "5", "--line", "2"], ["line 1", "--line says 2"], id="two lines"),
    pytest.param(["set", "min_call_s", "abc"], ["min_call_s", "abc", "not a number"], id="not a number"),
    pytest.param(["set", "min_call_s", "--", "-1"], ["min_call_s", "out of range"], id="below range"),
    pytest.param(["set", "min_call_s", "601"], ["min_call_s", "out of range"], id="above range"),
    pytest.param(["set", "max_call_s", "9"], ["max_call_s", "out of range", "10"], id="max below 10"),
    pytest.param(["set", "min_call_s", "nan"], ["min_call_s"], id="nan"),
    pytest.param(["set", "recording", "perhaps"], ["recording", "on or off"], id="not on/off"),
    pytest.param(["set", "line.1.max_recordings_gb", "5"], ["max_recordings_gb", "box-wide"], id="size cap for one line"),
    pytest.param(["set", "when_full", "stop-recording", "--line", "1"], ["when_full", "box-wide"],
                 id="when_full with --line"),
    pytest.param(["set", "when_full", "stop"], ["when_full", "delete-oldest, stop-recording"], id="when_full unknown"),
    pytest.param(["set", "line.2.disk_reserve_pct", "10"], ["disk_reserve_pct", "box-wide"],
                 id="disk reserve for one line"),
    pytest.param(["unset", "line.1.disk_reserve_pct"], ["disk_reserve_pct", "box-wide"], id="unset disk reserve for one line"),
    pytest.param(["get", "line.1.max_recordings_gb"], ["max_recordings_gb", "box-wide"], id="get size cap for one line"),
    pytest.param(["set", "retention_days", "3651"], ["retention_days", "out of range", "3650"], id="retention too long"),
    pytest.param(["set", "retention_days", "--", "-1"], ["retention_days", "out of range"], id="retention negative"),
    pytest.param(["set", "retention_days", "1.5"], ["retention_days", "not an integer"], id="retention not whole"),
    pytest.param(["set", "disk_reserve_pct", "0"], ["disk_reserve_pct", "out of range", "1 to 50"], id="reserve 0"),
    pytest.param(["set", "disk_reserve_pct", "51"], ["disk_reserve_pct", "out of range"], id="reserve above 50"),
])
def test_bad_setting_is_refused_with_one_line_and_nothing_changes(tmp_path, args, words):
    data = new_catalog(tmp_path)
    before = st.run("settings", "list", "--json", "--data", data, check=True).stdout
    verb, *rest = args
    proc = st.run("settings", verb, "--data", data, *rest)   # options first: "--" may end them
    assert proc.returncode == 2, proc.stderr
    line = st.one_error_line(proc)
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"
    assert st.run("settings", "list", "--json", "--data", data, check=True).stdout == before


def test_the_disk_settings_are_box_wide_and_the_ages_also_per_line(tmp_path):
    data = new_catalog(tmp_path)
    assert get(data, "retention_days") == 0, "keep forever by default"
    assert get(data, "disk_reserve_pct") == 5
    set_(data, "retention_days", "90")
    set_(data, "disk_reserve_pct", "10")
    assert get(data, "retention_days") == 90 and get(data, "disk_reserve_pct") == 10
    listed = json.loads(st.run("settings", "list", "--json", "--data", data, check=True).stdout)
    assert listed["box"]["retention_days"] == {"value": 90, "source": "set"}
    assert listed["box"]["disk_reserve_pct"] == {"value": 10, "source": "set"}
    set_(data, "min_call_s", "3", "--line", "1")
    listed = json.loads(st.run("settings", "list", "--json", "--data", data, check=True).stdout)
    assert "min_call_s" in listed["lines"]["1"]
    assert "disk_reserve_pct" not in listed["lines"]["1"] and "max_recordings_gb" not in listed["lines"]["1"], \
        "a box-wide setting has no per-line value to show"
    assert listed["lines"]["1"]["retention_days"] == {"value": 90, "source": "set"}, "the ages: per line too"
    rows = [row.split() for row in st.run("settings", "list", "--data", data, check=True).stdout.splitlines()]
    assert ["retention_days", "whole", "box", "90", "box", "setting"] in [row[:6] for row in rows]
    assert [row[:3] for row in rows if row[0] in ("disk_reserve_pct",)] == [
        ["disk_reserve_pct", "whole", "box"]], "box-wide: no row for a line"
    assert ["min_call_s", "line", "1", "3"] in [row[:4] for row in rows]
    st.run("settings", "unset", "retention_days", "--data", data, check=True)
    assert get(data, "retention_days") == 0


def test_a_scenario_cannot_set_the_disk_floor_for_one_line(tmp_path):
    scenario = st.write_scenario(tmp_path, """
[appliance]
start = "2026-03-15T14:12:00Z"
""" + _lines(1, {1: "{ disk_reserve_pct = 5 }"}))
    data = tmp_path / "data"
    proc = st.run("simulate", scenario, "--data", data)
    assert proc.returncode == 2
    line = st.one_error_line(proc)
    assert "line[1].settings" in line and "disk_reserve_pct" in line and "box-wide" in line


def test_a_minimum_age_above_the_maximum_is_refused_naming_the_scope(tmp_path):
    data = new_catalog(tmp_path)
    set_(data, "retention_days", "90")
    set_(data, "min_age_days", "60", "--line", "2")
    proc = st.run("settings", "set", "line.2.retention_days", "30", "--data", data)
    assert proc.returncode == 2
    line = last_line(proc)
    assert "retention_days" in line and "line 2" in line and "above the maximum age" in line
    assert "min_age_days set for line 2" in line and "retention_days set for line 2" in line
    proc = st.run("settings", "set", "min_age_days", "100", "--data", data)
    assert proc.returncode == 2 and "the whole box" in last_line(proc)
    assert get(data, "min_age_days") == 0 and get(data, "retention_days", "--line", "2") == 90, "nothing changed"
    set_(data, "retention_days", "0")                     # no maximum: any minimum goes
    set_(data, "min_age_days", "100")
    proc = st.run("settings", "set", "retention_days", "99", "--data", data)
    assert proc.returncode == 2 and "min_age_days box-wide" in last_line(proc)


def last_line(proc) -> str:
    """The refusal: the last line on stderr (a catalog no recorder has started on adds a note first)."""
    return proc.stderr.strip().splitlines()[-1]


# -- settings in scenarios -----------------------------------------------------------------------
def _lines(n: int, settings: dict[int, str]) -> str:
    out = ""
    for i in range(1, n + 1):
        out += f'\n[[line]]\nid = {i}\noffhook = "gpio"\n'
        if i in settings:
            out += f"settings = {settings[i]}\n"
    return out


def test_box_and_line_settings_from_the_scenario_take_effect(tmp_path):
    scenario = st.write_scenario(tmp_path, """
[appliance]
start = "2026-03-15T14:12:00Z"
settings = { min_call_s = 3 }
""" + _lines(3, {2: "{ min_call_s = 5 }", 3: '{ recording = "off" }'}) + """
[[call]]
line = 1
at = 0.5
direction = "outbound"
talk = 4.0
near = "tone:440"

[[call]]
line = 1
at = 6.0
direction = "outbound"
talk = 2.5
near = "tone:440"

[[call]]
line = 2
at = 0.5
direction = "outbound"
talk = 4.0
near = "tone:440"

[[call]]
line = 3
at = 0.5
direction = "outbound"
talk = 4.0
near = "tone:440"
""")
    data = tmp_path / "data"
    st.simulate(scenario, data)
    rows = st.calls(data)
    evs = st.events(data)
    by = {(r["line"], round(st.ts(r["started_at"]) - st.ts("2026-03-15T14:12:00Z"))): r for r in rows}
    assert len(rows) == 4

    def reason(row):
        return [e["detail"].get("reason", "") for e in evs if e["call_id"] == row["id"] and e["kind"] == "discard"]

    kept = by[(1, 0)]     # 4 s on line 1: above the box-wide 3 s
    assert kept["status"] == "complete" and (data / kept["path"]).is_file()
    assert reason(kept) == []

    short = by[(1, 6)]    # 2.5 s on line 1: above the built-in 2 s, below the scenario's 3 s
    assert short["status"] == "discarded" and short["path"] is None
    assert len(reason(short)) == 1 and "min_call_s" in reason(short)[0] and "3" in reason(short)[0]

    line2 = by[(2, 0)]    # 4 s on line 2: below that line's own 5 s
    assert line2["status"] == "discarded" and line2["path"] is None
    assert len(reason(line2)) == 1 and "min_call_s" in reason(line2)[0] and "5" in reason(line2)[0]

    line3 = by[(3, 0)]    # recording is off on line 3: logged, not kept
    assert line3["status"] == "discarded" and line3["path"] is None
    assert line3["duration_s"] == pytest.approx(4.0, abs=0.1)
    assert reason(line3) and reason(line3)[0].startswith("recording is off")
    line3_kinds = [e["kind"] for e in evs if e["line"] == 3]
    assert line3_kinds == ["offhook", "onhook", "discard"], "the unrecorded call is still in the events log"
    assert [e["at"] for e in evs if e["line"] == 3][:2] == [line3["started_at"], line3["ended_at"]]

    files = list((data / "recordings").rglob("*.mp3"))
    assert [f.name for f in files] == [kept["path"].rsplit("/", 1)[1]], "only the kept call has a file"

    # the scenario's settings stay in the catalog, where `hookline settings` shows them
    assert get(data, "min_call_s") == 3.0
    assert get(data, "line.2.min_call_s") == 5.0
    assert get(data, "line.3.recording") is False


def test_max_call_s_splits_a_long_call_into_linked_parts(tmp_path):
    scenario = st.write_scenario(tmp_path, """
[appliance]
start = "2026-03-15T14:12:00Z"
""" + _lines(2, {1: "{ max_call_s = 10 }"}) + """
[[call]]
line = 1
at = 1.5
direction = "outbound"
talk = 25.0
near = "tone:440"
far = "tone:1000@-20"

[[call]]
line = 2
at = 0.5
direction = "outbound"
talk = 12.0
near = "tone:600"
""")
    data = tmp_path / "data"
    st.simulate(scenario, data)
    rows = st.calls(data)
    line1 = [r for r in rows if r["line"] == 1]
    line2 = [r for r in rows if r["line"] == 2]
    assert len(line2) == 1 and line2[0]["duration_s"] == pytest.approx(12.0, abs=0.1), \
        "max_call_s set on line 1 only"

    assert len(line1) == 3, [(r["duration_s"], r["status"]) for r in line1]
    p1, p2, p3 = line1
    assert [r["status"] for r in line1] == ["complete"] * 3
    assert [r.get("part") for r in line1] == [1, 2, 3]
    assert p1.get("previous_id") is None
    assert p2["previous_id"] == p1["id"] and p3["previous_id"] == p2["id"]
    assert [r["duration_s"] for r in line1] == pytest.approx([10.0, 10.0, 5.0], abs=0.1)
    assert sum(r["duration_s"] for r in line1) == pytest.approx(25.0, abs=0.05)
    assert p2["started_at"] == p1["ended_at"] and p3["started_at"] == p2["ended_at"], "parts follow without a gap"
    assert st.ts(p3["ended_at"]) - st.ts(p1["started_at"]) == pytest.approx(25.0, abs=0.1)
    assert p1["preroll_s"] == pytest.approx(1.0, abs=0.01)
    assert p2["preroll_s"] == 0 and p3["preroll_s"] == 0

    names = [r["path"] for r in line1]
    assert len(set(names)) == 3
    total = 0.0
    for row in line1:
        audio, rate = st.decode(data, row)
        seconds = (len(audio) - st.CODEC_DELAY) / rate
        assert seconds == pytest.approx(row["preroll_s"] + row["duration_s"], abs=0.1), row["path"]
        total += seconds - row["preroll_s"]
        mid = audio[len(audio) // 2 - 2000: len(audio) // 2 + 2000]
        assert st.dominant_hz(mid[:, 0], rate) == pytest.approx(440, abs=15)
    assert total == pytest.approx(25.0, abs=0.3), "the parts hold the whole call"

    splits = [e for e in st.events(data) if e["kind"] == "split"]
    assert [e["call_id"] for e in splits] == [p2["id"], p3["id"]]
    assert all("max_call_s" in e["detail"].get("reason", "") for e in splits)


def test_unrecorded_call_events_all_carry_its_id(tmp_path):
    scenario = st.write_scenario(tmp_path, """
[appliance]
start = "2026-03-15T14:12:00Z"
""" + _lines(1, {1: '{ recording = "off" }'}) + """
[[call]]
line = 1
at = 0.5
direction = "outbound"
talk = 3.0
""")
    data = tmp_path / "data"
    st.simulate(scenario, data)
    [row] = st.calls(data)
    assert row["status"] == "discarded"
    mine = json.loads(st.run("events", "--data", data, "--json", "--call", row["id"], check=True).stdout)
    assert [e["kind"] for e in mine] == ["offhook", "onhook", "discard"]


def test_refused_setting_on_a_new_folder_creates_no_catalog(tmp_path):
    data = tmp_path / "typo"
    proc = st.run("settings", "set", "bogus", "1", "--data", data)
    assert proc.returncode == 2
    st.one_error_line(proc)
    assert not (data / "hookline.db").exists(), "a refused `settings set` created a catalog"
