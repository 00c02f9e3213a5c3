"""The settings as people meet them: every setting has a label, a group, a unit where it has one
and a line of help; values read with their units; a line's name is a text setting with its own
rules; and a line shows only the settings that apply to its wiring (web/settings_layout.py, fed
the box's facts directly)."""
from __future__ import annotations

import pytest

from appliance import config as configmod
from appliance.store import box, db as dbmod, settings
from web.settings_layout import NO_PLAYBACK, NO_PLAYBACK_BOX, SERIAL_ONLY_BOX, layout

VOX = ("vox_start_dbfs", "vox_stop_dbfs", "vox_hang_s", "vox_min_burst_ms")
NOTICE = ("consent", "beep_interval_s")


def test_every_setting_has_a_label_group_and_one_line_of_help():
    for s in settings.REGISTRY.values():
        assert s.label and s.label[0].isupper() and "_" not in s.label, s.name
        assert s.group in settings.GROUPS, s.name
        assert s.help.endswith(".") and "\n" not in s.help and "_" not in s.help, s.name
        if s.kind in ("int", "float"):
            assert s.unit or s.name == "recording", f"{s.name} has no unit"
        if s.kind == "choice":
            assert len(s.choice_labels) == len(s.choices), s.name
    labels = [s.label for s in settings.REGISTRY.values()]
    assert len(set(labels)) == len(labels), "two settings read the same"
    assert settings.REGISTRY["min_call_s"].label == "Shortest call kept"
    assert {settings.REGISTRY[n].group for n in VOX} == {"Voice activation"}
    assert {settings.REGISTRY[n].group for n in NOTICE} == {"Notice to callers"}
    assert {settings.REGISTRY[n].group for n in settings.RETENTION} == {"Retention"}


@pytest.mark.parametrize("name, value, shown", [
    ("min_call_s", 2.0, "2 seconds"), ("min_call_s", 1.0, "1 second"), ("min_call_s", 3.5, "3.5 seconds"),
    ("max_call_s", 14400.0, "14400 seconds (4 hours)"), ("vox_start_dbfs", -40.0, "-40 dBFS"),
    ("vox_min_burst_ms", 150, "150 milliseconds"), ("retention_days", 90, "90 days"),
    ("retention_days", 1, "1 day"), ("retention_days", 0, "never (keep every call)"),
    ("disk_reserve_pct", 5, "5% of the disk"), ("recording", False, "off"),
    ("consent", "periodic", "a beep at regular intervals"), ("name", "Front desk", "Front desk"),
    ("min_call_s", None, "the default"),
])
def test_values_read_with_their_units(name, value, shown):
    assert settings.REGISTRY[name].shown(value) == shown


@pytest.mark.parametrize("typed, stored", [
    ("Front desk", "Front desk"), ("  Warehouse \n", "Warehouse"), ("Réception 2", "Réception 2"),
    ("x" * 40, "x" * 40),
])
def test_a_line_name_is_trimmed_text(typed, stored):
    assert settings.REGISTRY["name"].parse(typed) == stored


@pytest.mark.parametrize("typed, words", [
    ("", "it is empty"), ("   ", "it is empty"), ("x" * 41, "this has 41"),
    ("Front\tdesk", "no tabs"), ("Front\x00desk", "control characters"), ("a\u202eb", "control characters"),
    (5, "not text"),
])
def test_a_bad_line_name_is_refused_in_plain_words(typed, words):
    with pytest.raises(settings.SettingError, match=words):
        settings.REGISTRY["name"].parse(typed)


def test_a_name_belongs_to_one_line(tmp_path):
    with pytest.raises(settings.SettingError, match="belongs to one line"):
        settings.split_name("name")
    db = dbmod.connect(tmp_path)
    settings.set_value(db, "name", "Front desk", line=1)
    resolved = settings.resolve(db)
    assert "name" not in resolved["box"], "a name has no box-wide value"
    assert resolved["lines"][1]["name"] == ("Front desk", "line")
    assert settings.resolve(db, [2])["lines"][2]["name"] == ("Line 2", "default")
    db.close()


def test_the_config_name_is_the_default_and_box_facts_agree(tmp_path):
    db = dbmod.connect(tmp_path)
    cfg = configmod.parse({"line": [{"id": 1, "name": "Front desk", "capture": "l1",
                                     "offhook": {"source": "gpio", "pin": 17}},
                                    {"id": 2, "capture": "l2", "offhook": {"source": "vox"}}]})
    box.record(db, cfg)
    settings.record_config_defaults(db, list(cfg.lines))
    assert settings.resolve(db)["lines"][1]["name"] == ("Front desk", "config")
    assert settings.resolve(db)["lines"][2]["name"] == ("Line 2", "config")
    settings.set_value(db, "line.2.name", "  Warehouse ")
    assert settings.resolve(db)["lines"][2]["name"] == ("Warehouse", "line")
    assert box.facts(db).line_name(2) == "Warehouse" and box.facts(db).line_name(1) == "Front desk"
    settings.clear_value(db, "name", line=2)
    assert box.facts(db).line_name(2) == "Line 2"
    db.close()


# -- what the page shows for each wiring ---------------------------------------------------------------
def _facts(*lines: box.LineFacts) -> box.BoxFacts:
    return box.BoxFacts(lines={line.id: line for line in lines})


def _page(facts: box.BoxFacts, lines: list[int]):
    inherited = {n: {s.name: (s.default_for(n), "default") for s in settings.REGISTRY.values() if s.per_line}
                 for n in lines}
    return {scope.key: scope for scope in layout(facts, lines, {}, inherited)}


def _shown(scope) -> set[str]:
    return {f.setting.name for f in scope.fields()}


def _notes(scope) -> dict[str, str]:
    return {g.title: g.note for g in scope.groups if g.note}


def test_each_line_shows_only_what_applies_to_its_wiring():
    facts = _facts(box.LineFacts(1, "Front desk", "gpio", callerid=True, playback=True),
                   box.LineFacts(2, "Warehouse", "vox", playback=False),
                   box.LineFacts(3, "Fax", "serial", playback=True))
    page = _page(facts, [1, 2, 3])
    gpio, vox, serial = page["line-1"], page["line-2"], page["line-3"]
    assert not _shown(gpio) & set(VOX), "VOX thresholds on a line that does not use them"
    assert set(NOTICE) <= _shown(gpio)
    assert set(VOX) <= _shown(vox) and not _shown(vox) & set(NOTICE)
    assert _notes(vox)["Notice to callers"] == NO_PLAYBACK
    assert set(VOX) <= _shown(serial) and "monitor is silent" in _notes(serial)["Voice activation"]
    for line in (gpio, vox, serial):
        assert "name" in _shown(line) and not _shown(line) & (set(settings.RETENTION) - set(settings.AGES)), \
                "box-wide stays box-wide"
    # Each line is titled with its name and says how it is wired.
    assert (gpio.title, vox.title) == ("Front desk", "Warehouse")
    assert gpio.about == "line 1 · hook switch on a GPIO input · caller-ID modem"
    assert "no playback device" in vox.about and "voice-activated" in vox.about
    whole = page["box"]
    assert "name" not in _shown(whole) and set(settings.RETENTION) | set(VOX) | set(NOTICE) <= _shown(whole)


def test_the_whole_box_shows_what_some_line_uses():
    page = _page(_facts(box.LineFacts(1, "A", "gpio"), box.LineFacts(2, "B", "gpio")), [1, 2])
    whole = page["box"]
    assert not _shown(whole) & (set(VOX) | set(NOTICE))
    assert _notes(whole) == {"Notice to callers": NO_PLAYBACK_BOX}
    card_payments = {s.name for s in settings.REGISTRY.values() if s.group == "Card payments"}
    assert {"recording", "min_call_s", "max_call_s", "dnr_keep_number", *settings.RETENTION,
            *card_payments} == _shown(whole)
    page = _page(_facts(box.LineFacts(1, "A", "serial", playback=True)), [1])
    assert set(VOX) <= _shown(page["box"]) and _notes(page["box"])["Voice activation"] == SERIAL_ONLY_BOX


def test_a_line_whose_wiring_is_not_known_shows_everything():
    page = _page(box.BoxFacts(), [1, 2])
    per_line = {s.name for s in settings.REGISTRY.values() if s.per_line}
    assert _shown(page["line-1"]) == per_line and page["line-1"].title == "Line 1" and page["line-1"].about == ""
    assert _shown(page["box"]) == {s.name for s in settings.REGISTRY.values() if not s.line_only}
