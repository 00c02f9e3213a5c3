"""The do-not-record list on simulated calls, through the real daemon: a listed caller (in any
form of the number) and a listed number dialed (matched mid-dialing) leave no audio anywhere in
the data folder, no number in their rows or events, and a reason on their call page; a call not
on the list is recorded as always."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import soundfile

import simtools as st
import webtools as wt
from appliance.sim.office import DIAL_START_S, DTMF_OFF_S, DTMF_ON_S
from appliance.store import db as dbmod, dnr, users
from test_live_settings import _stream_s

SCENARIO = """
    [appliance]
    start = "2026-03-15T14:12:00Z"
    dnr = [{{ pattern = "+1 415 555 0123", label = "Doctor" }}, {{ pattern = "(212) 555-*", label = "Union" }}]
    settings = {{ dnr_keep_number = {keep} }}

    [[line]]
    id = 1
    offhook = "gpio"
    callerid = "modem"

    [[call]]                           # listed, as the modem gives it
    line = 1
    at = 1.0
    direction = "inbound"
    rings = 1
    caller_id = {{ number = "4155550123", name = "DR SMITH" }}
    talk = 6.0
    near = "tone:620@-12"
    far = "tone:1560@-12"

    [[call]]                           # a listed prefix, dialed
    line = 1
    at = 14.0
    direction = "outbound"
    dial = "12125550199"
    talk = 8.0
    near = "tone:820@-12"
    far = "tone:1760@-12"

    [[call]]                           # not listed
    line = 1
    at = 26.0
    direction = "inbound"
    rings = 1
    caller_id = {{ number = "4155550999", name = "ACME" }}
    talk = 6.0
    near = "tone:440@-12"
    far = "tone:700@-12"

    [[call]]                           # listed, with the trunk prefix
    line = 1
    at = 38.0
    direction = "inbound"
    rings = 1
    caller_id = {{ number = "14155550123" }}
    talk = 6.0
    near = "tone:1020@-12"
    far = "tone:1900@-12"
"""
LISTED_HZ = (620, 1560, 820, 1760, 1020, 1900)
LISTED_DIGITS = ("4155550123", "2125550199", "5550199", "DR SMITH")
DIAL_END_S = DIAL_START_S + len("12125550199") * (DTMF_ON_S + DTMF_OFF_S)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dnr")
    data = directory / "data"
    st.check("simulate", st.write_scenario(directory, SCENARIO.format(keep="false")), "--data", data)
    return data


def _by_start(data) -> list[dict]:
    return sorted(st.calls(data), key=lambda c: c["started_at"])


def test_listed_calls_leave_no_audio_anywhere_in_the_data_folder(site):
    doctor, union, acme, doctor_again = _by_start(site)
    kept = {acme["path"]}
    audio_files = [p for p in site.rglob("*") if p.is_file() and p.name.endswith((".mp3", ".part", ".wav"))]
    assert {str(p.relative_to(site)) for p in audio_files} == kept, audio_files
    for call in (doctor, union, doctor_again):
        assert call["status"] == "discarded" and call["path"] is None
        assert not any(call["id"] in p.name for p in site.rglob("*")), "no file names the call"
    # The kept call's file holds its own tones and nothing of the listed calls' voices.
    for path in audio_files:
        audio, rate = soundfile.read(path, dtype="float64", always_2d=True)
        for leg in (0, 1):
            own = max(st.band_db(audio[:, leg], rate, hz) for hz in (440, 700))
            for hz in LISTED_HZ:
                assert st.band_db(audio[:, leg], rate, hz) < own - 40, (path.name, leg, hz)


def test_a_call_not_on_the_list_is_recorded_as_always(site):
    acme = _by_start(site)[2]
    assert acme["status"] == "complete" and acme["remote_number"] == "4155550999" and acme["remote_name"] == "ACME"
    audio, rate = st.decode(site, acme)
    talk = audio[int((acme["preroll_s"] + 1) * rate):int((acme["preroll_s"] + 5) * rate)]
    assert st.dominant_hz(talk[:, 0], rate) == pytest.approx(440, abs=5)
    assert st.dominant_hz(talk[:, 1], rate) == pytest.approx(700, abs=5)


def test_listed_calls_keep_no_number_in_rows_or_events(site):
    doctor, union, _, doctor_again = _by_start(site)
    for call in (doctor, union, doctor_again):
        assert (call["remote_number"], call["remote_name"], call["dialed"]) == (None, None, None)
    events = st.events(site)
    stored = json.dumps(events) + json.dumps(st.calls(site))
    for digits in LISTED_DIGITS:
        assert digits not in stored
    assert not [e for e in events if e["call_id"] == union["id"] and e["kind"] == "digit"], \
        "the digits dialed before and after the match are gone"
    hidden = [e for e in events if e["kind"] == "callerid" and e["detail"].get("hidden")]
    assert len(hidden) == 2 and all("number" not in e["detail"] and "raw" not in e["detail"] for e in hidden)
    shown = [e for e in events if e["kind"] == "callerid" and e["detail"].get("number")]
    assert [e["detail"]["number"] for e in shown] == ["4155550999"]


def test_each_listed_call_is_logged_with_the_reason_and_its_label(site):
    doctor, union, _, doctor_again = _by_start(site)
    events = st.events(site)
    for call, label in ((doctor, "Doctor"), (union, "Union"), (doctor_again, "Doctor")):
        [discard] = [e for e in events if e["call_id"] == call["id"] and e["kind"] == "discard"]
        assert discard["detail"] == {"rule": "do-not-record", "label": label,
                                     "reason": f"not recorded: do-not-record list, {label}"}
    # The inbound calls match at the answer; the dialed one mid-dialing (at '1212555' of
    # '12125550199'), before the dialing ended.
    [offhook] = [e for e in events if e["call_id"] == union["id"] and e["kind"] == "offhook"]
    [discard] = [e for e in events if e["call_id"] == union["id"] and e["kind"] == "discard"]
    assert 0 < st.ts(discard["at"]) - st.ts(offhook["at"]) < DIAL_END_S - 4 * (DTMF_ON_S + DTMF_OFF_S)
    assert [e["detail"].get("recording") for e in events if e["call_id"] == doctor["id"] and e["kind"] == "offhook"] \
        == [False], "matched before the answer: never recorded at all"


def test_the_call_page_says_why_there_is_no_recording(site):
    doctor = _by_start(site)[0]
    db = dbmod.connect(site)
    try:
        if users.get_user_by_name(db, "admin") is None:
            users.create_user(db, "admin", "admin", wt.PASSWORDS["admin"])
    finally:
        db.close()
    server = wt.start(site)
    try:
        page = wt.login(server.base, "admin").get(f"/calls/{doctor['id']}").text
    finally:
        server.close()
    assert "Not recorded: do-not-record list, Doctor" in page
    assert "555-0123" not in page and "DR SMITH" not in page


def test_dnr_keep_number_keeps_the_number_but_never_the_audio(tmp_path):
    data = tmp_path / "data"
    st.check("simulate", st.write_scenario(tmp_path, SCENARIO.format(keep="true")), "--data", data)
    doctor, union, _, _ = _by_start(data)
    assert doctor["remote_number"] == "4155550123" and doctor["status"] == "discarded"
    assert union["dialed"].startswith("1212555") and union["status"] == "discarded"
    assert [p.name for p in data.rglob("*") if p.name.endswith((".mp3", ".part"))] == \
        [p.name for p in data.rglob("*.mp3") if "4155550999" in p.name]


LIVE = """
    [appliance]
    start = "2026-03-15T09:00:00Z"

    [[line]]
    id = 1
    offhook = "gpio"

    [[call]]
    line = 1
    at = 0.3
    direction = "outbound"
    dial = "5550123"
    talk = 3.0
    near = "tone:440@-12"
    far = "silence"

    [[call]]
    line = 1
    at = 5.0
    direction = "outbound"
    dial = "5550123"
    talk = 3.0
    near = "tone:440@-12"
    far = "silence"
"""


@pytest.mark.slow
def test_a_number_added_while_the_recorder_runs_applies_within_a_second(tmp_path):
    data = tmp_path / "data"
    proc = st.start("simulate", st.write_scenario(tmp_path, LIVE), "--data", data, "--speed", "realtime")
    try:
        deadline = time.monotonic() + 20
        while _stream_s(data) < 2.0:            # the first call is being recorded
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        db = dbmod.connect(data)                # as the web page and the command do: a row, no signal
        dnr.add(db, "555-0123", "Helpline", "test", "US")
        db.close()
        assert _stream_s(data) < 3.5            # the second call dials at 5.5 s: over a second later
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    first, second = _by_start(data)
    assert first["status"] == "complete" and first["dialed"] == "5550123"
    assert second["status"] == "discarded" and second["dialed"] is None
    assert [p.name for p in data.rglob("*.mp3*")] == [first["path"].rsplit("/", 1)[1]]
    assert np.isfinite(st.rms_dbfs(st.decode(data, first)[0]))
