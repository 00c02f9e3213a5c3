"""The box's facts as people read them: times in the configured zone, numbers in its region,
line names; and the config keys that set them."""
from __future__ import annotations

import pytest

from appliance import config as configmod
from appliance.present import numbers, zone
from appliance.store import box, db as dbmod

LINE = {"id": 1, "capture": "line1", "offhook": {"source": "gpio", "pin": 17}}


@pytest.mark.parametrize("raw, region, shown", [
    ("4155550123", "US", "(415) 555-0123"),
    ("+14155550123", "US", "(415) 555-0123"),
    ("+442079460958", "US", "+44 20 7946 0958"),
    ("02079460958", "GB", "020 7946 0958"),
    ("4155550123", "GB", "4155550123"),       # not a number in GB: left as it came
    ("*69", "US", "*69"),
    ("", "US", ""),
])
def test_numbers_read_as_written_in_the_region(raw, region, shown):
    assert numbers.readable(raw, region) == shown


@pytest.mark.parametrize("typed, digits", [
    ("(415) 555-01", "41555501"), ("+1 415 555", "415555"), ("+44 20 7946", "44207946"), ("555.12", "55512"),
])
def test_a_number_typed_any_way_searches_as_stored_digits(typed, digits):
    assert numbers.search_digits(typed, "US") == digits


def test_times_show_in_the_configured_zone_and_json_keeps_the_offset():
    new_york = zone.box_zone("America/New_York")
    assert zone.local("2026-03-15T14:12:00.500Z", new_york) == "2026-03-15 10:12:00"
    assert zone.local("2026-01-15T14:12:00Z", new_york, "%H:%M") == "09:12"
    assert zone.iso_local("2026-03-15T14:12:00.500Z", new_york) == "2026-03-15T10:12:00.500-04:00"
    assert zone.local(None, new_york) == "—"
    assert zone.zone_label(new_york).startswith("America/New_York (E")


def test_config_takes_a_zone_and_a_region_and_refuses_unknown_ones():
    cfg = configmod.parse({"timezone": "Europe/London", "phone_region": "gb", "line": [LINE]})
    assert (cfg.timezone, cfg.phone_region) == ("Europe/London", "GB")
    default = configmod.parse({"line": [LINE]})
    assert (default.timezone, default.phone_region) == (None, "US")
    with pytest.raises(configmod.ConfigError, match="timezone.*IANA name"):
        configmod.parse({"timezone": "Mars/Olympus", "line": [LINE]})
    with pytest.raises(configmod.ConfigError, match="phone_region.*two-letter"):
        configmod.parse({"phone_region": "XX", "line": [LINE]})


def test_box_facts_come_from_the_config_and_a_runtime_name_wins(tmp_path):
    db = dbmod.connect(tmp_path)
    assert box.facts(db) == box.BoxFacts()          # never started: the defaults
    assert box.facts(db).line_name(2) == "Line 2"
    cfg = configmod.parse({"timezone": "America/Chicago", "line": [
        {**LINE, "name": "Front desk", "playback": "line1_out", "callerid": {"port": "/dev/ttyACM0"}},
        {"id": 2, "capture": "line2", "offhook": {"source": "vox"}}]})
    box.record(db, cfg)
    facts = box.facts(db)
    assert facts.timezone == "America/Chicago" and facts.phone_region == "US"
    assert facts.lines[1] == box.LineFacts(1, "Front desk", "gpio", callerid=True, playback=True)
    assert facts.lines[2] == box.LineFacts(2, "Line 2", "vox")
    db["settings"].insert({"scope": "line.2", "name": "name", "value": '"Warehouse"',
                           "updated_at": "2026-03-15T14:12:00Z"})
    assert box.facts(db).line_name(2) == "Warehouse"
    db.close()
