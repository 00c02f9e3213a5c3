"""Who called and when, end to end through the simulator: caller ID from a voice modem on a
pty (every format variant), inbound/outbound from rings, dialed digits decoded from the near
leg, a serial line monitor, VOX lines with pauses and hum, a stuck hook input, and modems
that hang or vanish mid-day."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

import simtools as st

HEAD = """
[appliance]
start = "2026-03-15T14:00:00Z"
seed = 3
"""

MODEM_LINE = """
[[line]]
id = 1
offhook = "gpio"
callerid = "modem"
noise_dbfs = -60
"""


def _call(at, *, direction="inbound", rings=2, caller_id=None, talk=6.0, dial=None,
          near="tone:440@-14", far="tone:1000@-16", line=1):
    text = f"\n[[call]]\nline = {line}\nat = {at}\ndirection = \"{direction}\"\ntalk = {talk}\n"
    text += f"near = \"{near}\"\nfar = \"{far}\"\n"
    if direction == "inbound":
        text += f"rings = {rings}\n"
    if caller_id:
        text += f"caller_id = {caller_id}\n"
    if dial:
        text += f"dial = \"{dial}\"\n"
    return text


CALLER_ID_VARIANTS = [
    # (caller_id as TOML, number, name, withheld)
    ('{ number = "5551234567", name = "DOE JOHN" }', "5551234567", "DOE JOHN", False),
    ('{ lines = ["DATE = 0315", "TIME = 1412", "NMBR = 5559876543", "NAME = SMITH ANN"] }',
     "5559876543", "SMITH ANN", False),
    ('{ lines = ["DATE=0315", "TIME=1412", "NMBR=5550001111", "NAME=NO SPACES"] }', "5550001111", "NO SPACES", False),
    ('{ lines = ["NMBR = 02079460000"] }', "02079460000", None, False),                 # UK: number only
    ('{ lines = ["DATE = 0315", "TIME = 1412", "NMBR = P", "NAME = P"] }', None, None, True),   # private
    ('{ lines = ["DATE = 0315", "TIME = 1412", "NMBR = O", "NAME = O"] }', None, None, True),   # unavailable
    ('{ lines = ["MESG = 030811", "NMBR = 5552223333", "DDN_NMBR = 5550000000", "NAME = WITH EXTRAS"] }',
     "5552223333", "WITH EXTRAS", False),                                                # unknown tags
]


def _scenario(tmp_path, lines: str, calls: str) -> tuple:
    """Simulate lines and calls (TOML) after HEAD: the catalog's calls and events."""
    data = tmp_path / "data"
    st.simulate(st.write_scenario(tmp_path, HEAD + lines + calls), data)
    return st.calls(data), st.events(data)


def _modem_scenario(tmp_path, calls: str, extra: str = "") -> tuple:
    return _scenario(tmp_path, MODEM_LINE, calls + extra)


def test_every_caller_id_variant_reaches_its_call(tmp_path):
    calls = "".join(_call(5 + 20 * i, caller_id=cid) for i, (cid, *_rest) in enumerate(CALLER_ID_VARIANTS))
    rows, events = _modem_scenario(tmp_path, calls)
    assert len(rows) == len(CALLER_ID_VARIANTS)
    for row, (cid, number, name, withheld) in zip(rows, CALLER_ID_VARIANTS):
        assert row["status"] == "complete", cid
        assert row["direction"] == "inbound", cid
        assert (row["remote_number"], row["remote_name"], row["remote_withheld"]) == (number, name, withheld), cid
        mine = [e["kind"] for e in events if e["call_id"] == row["id"]]
        assert "offhook" in mine and "onhook" in mine
    rings = [e for e in events if e["kind"] == "ring"]
    assert len(rings) == 2 * len(CALLER_ID_VARIANTS)
    assert len([e for e in events if e["kind"] == "callerid"]) == len(CALLER_ID_VARIANTS)
    # Files are named after the caller, so a stick of recordings explains itself.
    assert "_in_5551234567_" in rows[0]["path"]


def test_outbound_call_decodes_the_dialed_digits(tmp_path):
    rows, events = _modem_scenario(tmp_path, _call(3, direction="outbound", dial="5551234", near="silence")
                                   + _call(20, direction="outbound", dial="0*9#", talk=5.0, near="noise@-40"))
    first, second = rows
    assert first["direction"] == "outbound" and first["dialed"] == "5551234"
    assert second["dialed"] == "0*9#"
    assert first["remote_number"] is None
    digits = [e["detail"]["digit"] for e in events if e["kind"] == "digit" and e["call_id"] == first["id"]]
    assert "".join(digits) == "5551234"
    assert "_out_5551234_" in first["path"]


def test_inbound_call_without_caller_id_says_so(tmp_path):
    rows, events = _modem_scenario(tmp_path, _call(3))
    [row] = rows
    assert row["direction"] == "inbound" and row["remote_number"] is None
    warnings = [e for e in events if e["kind"] == "warning" and e["call_id"] == row["id"]]
    assert warnings and "caller ID" in warnings[0]["detail"]["message"]


def test_serial_line_monitor_reports_hook_and_rings(tmp_path):
    scenario = HEAD + """
[[line]]
id = 1
offhook = "serial"
callerid = "none"
""" + _call(2) + _call(20, direction="outbound", talk=5.0)
    data = tmp_path / "data"
    st.simulate(st.write_scenario(tmp_path, scenario), data)
    first, second = st.calls(data)
    assert first["direction"] == "inbound" and second["direction"] == "outbound"
    # Answered 1 s after the second ring ended: 2 + 6 + 2 + 1 s.
    assert abs(st.ts(first["started_at"]) - st.ts("2026-03-15T14:00:11Z")) < 0.1
    assert first["duration_s"] == pytest.approx(6.0, abs=0.1)
    assert second["duration_s"] == pytest.approx(5.0, abs=0.1)


def test_a_line_without_rings_knows_a_dialed_call_is_outbound(tmp_path):
    """A gpio line with no modem hears no rings: a call whose office leg dials at once is outbound
    (with its number, in its file name too); one that dials nothing stays unknown."""
    (dialed, quiet), events = _scenario(tmp_path, '[[line]]\nid = 1\noffhook = "gpio"\n',
                                        _call(2, direction="outbound", dial="4155550123", near="silence")
                                        + _call(15, direction="outbound"))
    assert (dialed["direction"], dialed["dialed"]) == ("outbound", "4155550123")
    assert "_out_4155550123_" in dialed["path"]
    assert quiet["direction"] is None and "_call_unknown_" in quiet["path"]
    [learnt] = [e for e in events if e["kind"] == "direction"]
    assert learnt["call_id"] == dialed["id"] and learnt["detail"]["direction"] == "outbound"
    assert learnt["detail"]["after_s"] == pytest.approx(0.5, abs=0.05), "at the first digit"


def test_a_sense_input_that_sees_rings_tells_inbound_from_outbound(tmp_path):
    """`rings = "sense"`: the simulator blinks the line's sense pin at 20 Hz while it rings."""
    (inbound, outbound), events = _scenario(tmp_path, '[[line]]\nid = 1\noffhook = "gpio"\nrings = "sense"\n',
                                            _call(2, rings=3) + _call(30, direction="outbound", dial="5551234",
                                                                      near="silence"))
    assert inbound["direction"] == "inbound" and outbound["direction"] == "outbound"
    assert outbound["dialed"] == "5551234"
    # Answered 1 s after the third ring ended: 2 + 2 * 6 + 2 + 1 s.
    assert st.ts(inbound["started_at"]) == pytest.approx(st.ts("2026-03-15T14:00:17Z"), abs=0.1)
    rings = [e["at"] for e in events if e["kind"] == "ring"]
    assert rings == ["2026-03-15T14:00:02.000Z", "2026-03-15T14:00:08.000Z", "2026-03-15T14:00:14.000Z"]
    assert [e["kind"] for e in events if e["kind"] in ("offhook", "onhook")] == ["offhook", "onhook"] * 2


@pytest.mark.slow
def test_both_speeds_give_the_same_catalog_for_modem_lines(tmp_path):
    # Inbound answered at 9.5 s (caller ID between the rings), outbound dialing at 14 s: 20 s in real time.
    # Line 2's sense input blinks through two rings, answered at 10 s.
    text = HEAD + MODEM_LINE + _call(0.5, caller_id=CALLER_ID_VARIANTS[0][0], talk=3.0) + \
        _call(14, direction="outbound", dial="42", talk=4.0) + \
        '\n[[line]]\nid = 2\noffhook = "gpio"\nrings = "sense"\n' + _call(1.0, talk=4.0, line=2)
    results = []
    for speed in ("max", "realtime"):
        data = tmp_path / speed
        st.simulate(st.write_scenario(tmp_path, text, name=f"{speed}.toml"), data, speed=speed)
        results.append([{k: v for k, v in r.items() if k not in ("id", "sha256", "size_bytes", "path")}
                        for r in st.calls(data)])
    assert results[0] == results[1]
    assert sorted((r["line"], r["direction"]) for r in results[0]) == [(1, "inbound"), (1, "outbound"), (2, "inbound")]


VOX_LINE = """
[[line]]
id = 1
offhook = "vox"
callerid = "none"
noise_dbfs = -65
"""


def _speech_with_pauses(path, rate=8000, pauses=(0.0, 3.0, 0.0, 5.0, 0.0)):
    """Speech-like bursts (harmonics of 150 Hz, syllable-modulated) with pauses in between."""
    parts = []
    for pause in pauses:
        if pause:
            parts.append(np.zeros(int(pause * rate)))
        else:
            t = np.arange(int(2.0 * rate)) / rate
            voice = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
            parts.append(0.1 * voice * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)))
    soundfile.write(path, np.concatenate(parts), rate)
    return sum(p or 2.0 for p in pauses)


def test_vox_line_keeps_one_call_through_pauses_and_ignores_hum(tmp_path):
    length = _speech_with_pauses(tmp_path / "speech.wav")          # 2+3+2+5+2 = 14 s
    scenario = HEAD + VOX_LINE + _call(2, direction="outbound", talk=length, near="file:speech.wav",
                                       far="silence")
    # Mains hum on the line for half a minute later on: no call.
    scenario += _call(40, direction="outbound", talk=30.0, near="tone:50@-30", far="tone:60@-30")
    data = tmp_path / "data"
    st.simulate(st.write_scenario(tmp_path, scenario), data)
    rows = st.calls(data)
    assert len(rows) == 1, rows
    [row] = rows
    assert row["status"] == "complete" and row["direction"] is None
    assert abs(st.ts(row["started_at"]) - st.ts("2026-03-15T14:00:02Z")) < 0.1
    # Talk time runs to the end of the last syllable, not to the end of the hang time.
    assert row["duration_s"] == pytest.approx(length, abs=0.3)
    audio, rate = soundfile.read(data / row["path"])
    assert len(audio) / rate >= row["preroll_s"] + row["duration_s"] - 0.2


def test_stuck_hook_input_raises_a_warning_instead_of_filling_the_disk(tmp_path):
    scenario = HEAD + """
[appliance.settings]
max_call_s = 10

[[line]]
id = 1
offhook = "gpio"
callerid = "none"
""" + _call(1, direction="outbound", talk=45.0, near="silence", far="silence")
    data = tmp_path / "data"
    st.simulate(st.write_scenario(tmp_path, scenario), data)
    rows = st.calls(data)
    assert len(rows) == 1, "after one silent max-length part the line stops recording"
    stuck = [e for e in st.events(data) if e["kind"] == "stuck"]
    assert len(stuck) == 1 and "stuck" in stuck[0]["detail"]["message"]


@pytest.mark.parametrize("kind", [pytest.param("modem-hang", marks=pytest.mark.slow), "modem-gone"])
def test_a_modem_that_stops_answering_is_reopened_and_caller_id_returns(tmp_path, kind):
    calls = _call(2, caller_id=CALLER_ID_VARIANTS[0][0]) + \
        _call(60, caller_id='{ number = "5550002222", name = "AFTER FAULT" }')
    fault = f"\n[[fault]]\nline = 1\nat = 20.0\nkind = \"{kind}\"\nfor = 20.0\n"
    rows, events = _modem_scenario(tmp_path, calls, fault)
    before, after = rows
    assert before["remote_number"] == "5551234567"
    assert after["remote_number"] == "5550002222", "caller ID works again after the modem came back"
    errors = [e for e in events if e["kind"] == "device-error" and e["line"] == 1]
    oks = [e for e in events if e["kind"] == "device-ok" and e["line"] == 1]
    assert len(errors) == 1, "one error per outage"
    assert len(oks) == 2, "ready at start, and again after the fault"
    assert st.ts(errors[0]["at"]) >= st.ts("2026-03-15T14:00:20Z")
    assert st.ts(oks[1]["at"]) <= st.ts("2026-03-15T14:01:00Z")


MONITOR_LINE = """
[[line]]
id = 1
offhook = "serial"
noise_dbfs = -60
"""


def test_a_line_monitor_that_vanishes_hands_over_to_voice_and_back(tmp_path):
    """The hook board's port disappears mid-call: the call still ends (by silence) instead of
    recording until the board is back, a call made while the board is gone is still recorded
    (by voice), and once the board is back its reports rule again."""
    length = _speech_with_pauses(tmp_path / "speech.wav")          # 14 s with 3 s and 5 s pauses
    calls_text = (_call(1.0, direction="outbound", talk=length, near="file:speech.wav", far="silence")
                  + _call(25.0, direction="outbound", talk=length, near="file:speech.wav", far="silence")
                  + _call(62.0, direction="outbound", talk=4.0))
    fault = '\n[[fault]]\nline = 1\nat = 4.0\nkind = "monitor-gone"\nfor = 50.0\n'
    data = tmp_path / "data"
    st.simulate(st.write_scenario(tmp_path, HEAD + MONITOR_LINE + calls_text + fault), data)
    rows = [c for c in st.calls(data) if c["status"] == "complete"]
    assert len(rows) == 3, rows
    t = [st.ts(c["started_at"]) - st.ts("2026-03-15T14:00:00Z") for c in rows]
    ends = [st.ts(c["ended_at"]) - st.ts("2026-03-15T14:00:00Z") for c in rows]
    # 1: off-hook reported by the board; its on-hook report was lost, and the call ended at the
    # last syllable (after vox_hang_s of quiet), not 50 s later when the board came back.
    assert t[0] == pytest.approx(1.0, abs=0.1) and ends[0] == pytest.approx(1.0 + length, abs=0.3)
    # 2: the board was gone for the whole call: voice started and ended it, pauses and all.
    assert t[1] == pytest.approx(25.0, abs=0.3) and ends[1] == pytest.approx(25.0 + length, abs=0.3)
    # 3: the board is back and reports as before.
    assert t[2] == pytest.approx(62.0, abs=0.1) and ends[2] == pytest.approx(66.0, abs=0.1)
    events = st.events(data)
    warnings = [e for e in events if e["kind"] == "warning"]
    assert any("not answering" in e["detail"]["message"] and e["call_id"] == rows[0]["id"] for e in warnings)
    assert any("answers again" in e["detail"]["message"] for e in warnings)
    kinds = [e["kind"] for e in events]
    assert "device-error" in kinds and kinds.count("device-ok") >= 2
