"""The do-not-record list's parts: patterns checked with clear messages, the same number matched
in its other forms, a listed call's audio gone from the line's memory, `hookline dnr`, and the
scenario key."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

import simtools as st
from appliance.audio.preroll import PrerollBuffer
from appliance.line.policy import RecordPolicy
from appliance.sim import scenario as scenariomod
from appliance.store import audit, catalog, db as dbmod, dnr
from test_line_parts import Bench, s


# -- patterns ----------------------------------------------------------------------------------
@pytest.mark.parametrize("typed, stored", [
    ("+1 (415) 555-0123", "+14155550123"), ("555*", "555*"), ("415.555.????", "415555????"),
    ("*67 555 0123", "*675550123"), ("911", "911"), ("#123#", "#123#"),
])
def test_patterns_are_stored_without_punctuation(typed, stored):
    assert dnr.clean_pattern(typed) == stored


@pytest.mark.parametrize("typed, says", [
    ("", "the number is empty"), ("  - ", "the number is empty"),
    ("*", "would match nearly every call"), ("+1*", "would match nearly every call"),
    ("??????????", "would match nearly every call"), ("12a4", "'a' cannot be in a number"),
    ("555+0123", "a + may only begin the number"), ("4155550123x12", "'x' cannot be in a number"),
    ("1" * 25, "too long"), ("٤١٥٥٥٥", "cannot be in a number"),
])
def test_bad_patterns_are_refused_with_a_reason(typed, says):
    with pytest.raises(dnr.DnrError, match=re.escape(says)):
        dnr.clean_pattern(typed)


def test_labels_are_plain_short_text():
    assert dnr.clean_label("  Doctor ") == "Doctor" and dnr.clean_label(None) == ""
    for bad, says in (("a\nb", "plain text"), ("x" * 41, "too long")):
        with pytest.raises(dnr.DnrError, match=says):
            dnr.clean_label(bad)


# -- matching ----------------------------------------------------------------------------------
def _listed(*patterns: str, region: str = "US") -> dnr.Listed:
    return dnr.Listed([dnr.Entry(dnr.clean_pattern(p), f"L{i}", "", None) for i, p in enumerate(patterns)], region)


@pytest.mark.parametrize("number", ["4155550123", "14155550123", "+14155550123", "(415) 555-0123",
                                    "011 1 415 555 0123"])
def test_the_same_number_in_any_form_matches(number):
    for pattern in ("+1 415 555 0123", "4155550123", "1-415-555-0123"):
        assert _listed(pattern).match(number) is not None, (pattern, number)


@pytest.mark.parametrize("number", ["4155550124", "415555012", "41555501234", "+44 415 555 0123",
                                    "94155550123", "", None])
def test_other_numbers_do_not_match(number):
    assert _listed("+1 415 555 0123").match(number) is None


def test_prefixes_and_wildcards():
    listed = _listed("(212) 555-*", "+1 650 555 ????")
    assert listed.match("2125550199").label == "L0" and listed.match("1212555").label == "L0"
    assert listed.match("121255") is None, "not yet: the prefix is not all dialed"
    assert listed.match("6505551234").label == "L1" and listed.match("16505551234").label == "L1"
    assert listed.match("650555123") is None and listed.match("65055512345") is None


def test_matching_reads_numbers_in_the_box_region():
    listed = _listed("020 7946 0958", region="GB")
    for number in ("02079460958", "+442079460958", "00442079460958"):
        assert listed.match(number) is not None, number
    assert _listed("+44 20 7946 0958").match("011442079460958") is not None, "from a US box"


def test_an_outside_line_nine_is_listed_as_dialed():
    assert _listed("9 1 415 555 0123").match("914155550123") is not None
    assert _listed("9 1 415 555 0123").match("4155550123") is None


@pytest.mark.parametrize("dialed", ["*674155550123", "*6714155550123", "*82 415 555 0123", "4155550123#"])
def test_a_listed_number_dialed_with_a_star_code_or_a_closing_hash_still_matches(dialed):
    """*67 before the number (hide my caller ID) or # after it (dial now) do not make a listed
    number, or a listed prefix, any less listed; a star code itself is still listed as keyed."""
    assert _listed("+1 415 555 0123").match(dialed) is not None
    assert _listed("(415) 555-*").match(dialed) is not None
    assert _listed("*67 415 555 0123").match("*674155550123") is not None
    assert _listed("+1 415 555 0123").match("*6741555501234") is None


def test_hidden_caller_id_leaves_out_the_number_name_and_modem_lines():
    report = {"number": "4155550123", "name": "DR SMITH", "raw": ["NMBR = 4155550123"], "withheld": False}
    assert dnr.hidden_caller_id(report, _listed("+14155550123")) == {"withheld": False, "hidden": "do-not-record"}
    assert dnr.hidden_caller_id(report, _listed("+14155550999")) == report
    kept = dnr.Listed([dnr.Entry("+14155550123", "", "", None)], "US", keep_number=True)
    assert dnr.hidden_caller_id(report, kept) == report


# -- the line's memory ---------------------------------------------------------------------------
def test_forget_silences_held_frames_across_the_ring_buffer_edge():
    buf = PrerollBuffer(100)
    buf.append(np.ones((150, 2), dtype=np.int16))          # holds 50..150, wrapped
    assert buf.forget(20, 130) == 130
    assert not buf.read(50, 130).any() and buf.read(130, 150).all()


def test_a_listed_call_leaves_no_audio_in_the_line_memory(tmp_path):
    policy = RecordPolicy()
    policy.do_not_record.listed = _listed("555*")
    bench = Bench(tmp_path / "data", policy=policy)
    bench.run(2.0)
    start = bench.pos - s(1.0)                              # its pre-roll begins here
    bench.offhook()
    for digit in "1555":     # the line's thread stores no digit after the match (heard.py)
        bench.run(0.2)
        assert bench.audio.read(start, bench.pos).any(), "recorded until the prefix is dialed"
        bench.session.digit(bench.pos, digit)
    bench.run(1.5)
    assert not bench.audio.read(max(start, bench.audio.start), bench.audio.end).any()
    bench.onhook()
    bench.run(0.5)                                          # the next frames are kept again
    assert np.abs(bench.audio.read(bench.pos - s(0.4), bench.pos)).mean() > 1000
    [call] = bench.calls()
    assert call["status"] == "discarded" and call["dialed"] is None
    assert not [e for e in catalog.list_events(bench.db) if e["kind"] == "digit"]
    assert not list((tmp_path / "data").rglob("*.part")) and not list((tmp_path / "data").rglob("*.mp3"))
    bench.db.close()


def test_a_key_that_waited_for_the_pause_code_is_not_stored_once_the_call_is_listed(tmp_path):
    """A key that may begin the pause code waits (keyed.py) and only later turns out to be an
    ordinary key; by then the call may have been listed: it is not stored, nor named in its row."""
    policy = RecordPolicy()
    policy.do_not_record.listed = _listed("555*")
    bench = Bench(tmp_path / "data", policy=policy)
    bench.offhook()
    for digit in "1555":
        bench.run(0.2)
        bench.session.digit(bench.pos, digit)
    bench.run(0.5)
    bench.session.digit(bench.pos, "*")                    # keyed before the match, let go after it
    bench.run(0.5)
    bench.onhook()
    [call] = bench.calls()
    assert call["status"] == "discarded" and call["dialed"] is None
    assert not [e for e in catalog.list_events(bench.db) if e["kind"] == "digit"]
    bench.db.close()


def test_a_caller_on_the_list_is_never_in_the_line_memory(tmp_path):
    policy = RecordPolicy()
    policy.do_not_record.listed = _listed("+1 415 555 0123")
    bench = Bench(tmp_path / "data", policy=policy)
    bench.run(2.0)
    bench.offhook(who={"direction": "inbound", "remote_number": "4155550123", "remote_name": "DR SMITH"})
    bench.run(2.0)
    assert not bench.audio.read(bench.audio.start, bench.audio.end).any(), "pre-roll and call silenced"
    bench.onhook()
    [call] = bench.calls()
    assert call["status"] == "discarded" and (call["remote_number"], call["remote_name"]) == (None, None)
    assert not list((tmp_path / "data").rglob("*.part")) and not list((tmp_path / "data").rglob("*.mp3"))
    bench.db.close()


# -- hookline dnr ----------------------------------------------------------------------------------
def test_dnr_add_list_remove(tmp_path):
    data = tmp_path / "data"
    added = st.check("dnr", "add", "+1 (415) 555-0123", "--label", "Doctor", "--data", data)
    assert "added +14155550123 (Doctor) to the do-not-record list" in added.stderr and added.stdout == ""
    st.check("dnr", "add", "555*", "--data", data)
    listed = json.loads(st.check("dnr", "list", "--json", "--data", data).stdout)
    assert [(e["pattern"], e["label"], e["added_by"]) for e in listed] == \
        [("+14155550123", "Doctor", "console:" + listed[0]["added_by"].split(":", 1)[1]), ("555*", "", listed[1]["added_by"])]
    assert all(e["added_at"].endswith("Z") and e["added_by"].startswith("console:") for e in listed)
    table = st.check("dnr", "list", "--data", data).stdout
    assert "+14155550123  Doctor" in table and table.splitlines()[1].split() == ["PATTERN", "LABEL", "ADDED", "BY"]
    again = st.run("dnr", "add", "415-555-0123", "--data", data)
    assert again.returncode == 2 and "on the list already, as +14155550123 (Doctor)" in again.stderr
    broad = st.run("dnr", "add", "*", "--data", data)
    assert broad.returncode == 2 and "would match nearly every call" in broad.stderr
    removed = st.check("dnr", "remove", "4155550123", "--data", data)
    assert "removed +14155550123 (Doctor)" in removed.stderr
    gone = st.run("dnr", "remove", "4155550123", "--data", data)
    assert gone.returncode == 2 and "not on the do-not-record list" in gone.stderr
    assert [e["pattern"] for e in json.loads(st.check("dnr", "list", "--json", "--data", data).stdout)] == ["555*"]
    db = dbmod.connect(data)
    try:
        entries = audit.entries(db)
    finally:
        db.close()
    assert [(e["action"], e["target"]) for e in reversed(entries)] == \
        [("dnr-add", "+14155550123"), ("dnr-add", "555*"), ("dnr-remove", "+14155550123")]
    assert all(e["user"].startswith("console:") for e in entries)
    assert "Added (415) 555-0123 to the do-not-record list (Doctor)" in st.check("audit", "--data", data).stdout


def test_dnr_list_and_remove_need_a_catalog(tmp_path):
    for args in (("list",), ("remove", "555*")):
        proc = st.run("dnr", *args, "--data", tmp_path / "none")
        assert proc.returncode == 2 and "no catalog in" in proc.stderr
    assert not (tmp_path / "none").exists()


def test_an_empty_list_says_so(tmp_path):
    st.check("dnr", "add", "555*", "--data", tmp_path)
    st.check("dnr", "remove", "555*", "--data", tmp_path)
    assert st.check("dnr", "list", "--json", "--data", tmp_path).stdout.strip() == "[]"
    assert "the do-not-record list is empty" in st.check("dnr", "list", "--data", tmp_path).stderr


# -- the scenario key -------------------------------------------------------------------------------
def test_scenario_dnr_is_checked_like_the_command():
    line = [{"id": 1}]
    doc = {"appliance": {"dnr": [{"pattern": "+1 415 555 0123", "label": "Doctor"}, {"pattern": "555*"}]}, "line": line}
    assert scenariomod.parse(doc).dnr == (("+14155550123", "Doctor"), ("555*", ""))
    for bad, where in (([{"pattern": "*"}], "appliance.dnr[1]"), ([{"pattern": "555*", "who": "x"}], "appliance.dnr[1]"),
                       (["555*"], "appliance.dnr[1]"), ("555*", "appliance.dnr")):
        with pytest.raises(scenariomod.ScenarioError, match=where.replace("[", r"\[")):
            scenariomod.parse({"appliance": {"dnr": bad}, "line": line})


# -- words -------------------------------------------------------------------------------------------
def test_the_reason_and_the_hidden_caller_id_read_as_sentences():
    from appliance.present.events import caller_id
    from appliance.present.reasons import why_not_kept
    assert why_not_kept("discard", {"rule": "do-not-record", "label": "Doctor"}) == \
        "Not recorded: do-not-record list, Doctor"
    assert why_not_kept("discard", {"rule": "do-not-record", "label": ""}) == "Not recorded: do-not-record list"
    assert caller_id({"withheld": False, "hidden": "do-not-record"}, "US") == \
        "Caller ID: a number on the do-not-record list (not stored)"
