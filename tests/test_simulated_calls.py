"""A simulated office through the real recorder: `hookline simulate`, then what a user sees in
`hookline calls --json`, `hookline events --json` and the MP3 files themselves.

The simulator feeds real ALSA file-plugin PCMs from FIFOs and drives gpiozero mock pins; the
daemon, encoder, spool and catalog are the real ones. Each scenario runs in a subprocess.
"""
from __future__ import annotations

import hashlib
import re
import stat
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import mutagen
import numpy as np
import pytest
import soundfile

import simtools as st

START = "2026-03-15T14:12:00Z"
LINE_NOISE = {1: -60.0, 2: -66.0}

# name: (line, scenario toml for the call, off-hook time s, talk s, near, far, status)
# near/far: ("tone", Hz) | ("noise", None) | ("silence", None) | ("file", Hz of the WAV's tone)
CALLS = {
    "in_tones": (1, 'at = 0.5\ndirection = "inbound"\nrings = 1\ntalk = 4.0\nnear = "tone:440@-12"\nfar = "tone:1000@-12"',
                 0.5 + 2 + 1, 4.0, ("tone", 440), ("tone", 1000), "complete"),
    "out_tones": (2, 'at = 1.0\ndirection = "outbound"\ntalk = 5.0\nnear = "tone:1500@-12"\nfar = "tone:300@-12"',
                  1.0, 5.0, ("tone", 1500), ("tone", 300), "complete"),
    "noise_vs_silence": (1, 'at = 10.0\ndirection = "outbound"\ntalk = 3.0\nnear = "noise@-15"\nfar = "silence"',
                         10.0, 3.0, ("noise", None), ("silence", None), "complete"),
    "wav_file": (2, 'at = 8.0\ndirection = "inbound"\nrings = 2\ntalk = 3.5\nnear = "file:voice.wav"\nfar = "tone:350@-20"',
                 8.0 + 6 + 2 + 1, 3.5, ("file", 1200), ("tone", 350), "complete"),
    "too_short": (1, 'at = 16.0\ndirection = "outbound"\ntalk = 1.0\nnear = "tone:700@-12"\nfar = "tone:900@-12"',
                  16.0, 1.0, ("tone", 700), ("tone", 900), "discarded"),
    "silence_vs_tone": (1, 'at = 18.0\ndirection = "inbound"\nrings = 3\ntalk = 2.5\nnear = "silence"\nfar = "tone:2500@-12"',
                        18.0 + 12 + 2 + 1, 2.5, ("silence", None), ("tone", 2500), "complete"),
}
KEPT = [name for name, spec in CALLS.items() if spec[6] == "complete"]


def office_toml() -> str:
    text = f"""
[appliance]
start = "{START}"
sample_rate = 8000
seed = 3

[[line]]
id = 1
offhook = "gpio"
callerid = "none"
noise_dbfs = {LINE_NOISE[1]}

[[line]]
id = 2
offhook = "gpio"
callerid = "none"
noise_dbfs = {LINE_NOISE[2]}
"""
    for line, body, *_ in CALLS.values():
        text += f"\n[[call]]\nline = {line}\n{body}\n"
    return text


def write_voice_wav(path: Path) -> None:
    """A stereo 22.05 kHz WAV holding a 1200 Hz tone at −12 dBFS, 0.25 s long (so it loops)."""
    rate = 22050
    t = np.arange(int(rate * 0.25)) / rate
    tone = 0.25 * np.sin(2 * np.pi * 1200 * t)
    soundfile.write(str(path), np.stack([tone, tone], axis=1), rate, subtype="PCM_16")


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    """Run the two-line office once; map each scenario call to its catalog row."""
    base = tmp_path_factory.mktemp("office")
    write_voice_wav(base / "voice.wav")
    scenario = st.write_scenario(base, office_toml())
    data = base / "data"
    said = st.simulate(scenario, data).stderr
    rows = st.calls(data)
    start = st.ts(START)
    by_name = {}
    for name, (line, _, offhook_s, *_rest) in CALLS.items():
        matches = [r for r in rows if r["line"] == line and abs(st.ts(r["started_at"]) - (start + offhook_s)) < 0.5]
        assert len(matches) == 1, f"{name}: expected one catalog row at {offhook_s} s on line {line}, got {matches}"
        by_name[name] = matches[0]
    return {"data": data, "rows": rows, "calls": by_name, "events": st.events(data), "stderr": said}


def test_a_new_data_folder_is_private_from_the_start(office):
    """The simulator (and the demo) make the folder as the catalog wants it, and so never warn
    about a folder they made themselves."""
    assert stat.S_IMODE(office["data"].stat().st_mode) == 0o750
    assert "open to every user" not in office["stderr"]


# -- the catalog ---------------------------------------------------------------------------------
SPEC_FIELDS = {
    "id": (str,), "line": (int,), "direction": (str, type(None)), "started_at": (str,),
    "ended_at": (str,), "duration_s": (float, int), "remote_number": (str, type(None)),
    "remote_name": (str, type(None)), "remote_withheld": (bool,), "dialed": (str, type(None)),
    "status": (str,), "path": (str, type(None)), "size_bytes": (int, type(None)),
    "sha256": (str, type(None)), "preroll_s": (float, int),
}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_every_call_is_in_the_catalog_once_oldest_first(office):
    rows = office["rows"]
    assert len(rows) == len(CALLS)
    assert len({r["id"] for r in rows}) == len(rows), "call ids must be unique"
    starts = [st.ts(r["started_at"]) for r in rows]
    assert starts == sorted(starts), "hookline calls lists oldest first"


def test_catalog_rows_have_the_spec_fields_with_the_right_types(office):
    for row in office["rows"]:
        for field, types in SPEC_FIELDS.items():
            assert field in row, f"field {field!r} missing from {row}"
            assert isinstance(row[field], types) and not (bool in types) ^ isinstance(row[field], bool), \
                f"{field} = {row[field]!r} should be {types}"
        assert ISO_MS.match(row["started_at"]) and ISO_MS.match(row["ended_at"]), row
        assert row["status"] in ("complete", "recovered", "discarded")
        # gpio lines see only the hook: no ring, no caller ID, no dialed-digit source
        assert row["direction"] is None
        assert row["remote_number"] is None and row["remote_name"] is None and row["remote_withheld"] is False


@pytest.mark.parametrize("name", list(CALLS))
def test_times_match_the_scenario(office, name):
    line, _, offhook_s, talk, *_ = CALLS[name]
    row = office["calls"][name]
    start = st.ts(START)
    assert st.ts(row["started_at"]) == pytest.approx(start + offhook_s, abs=0.1), "started_at is the off-hook"
    assert st.ts(row["ended_at"]) == pytest.approx(start + offhook_s + talk, abs=0.1), "ended_at is the on-hook"
    assert row["duration_s"] == pytest.approx(talk, abs=0.1)
    assert row["status"] == CALLS[name][6]


@pytest.mark.parametrize("name", KEPT)
def test_kept_call_file_exists_and_matches_size_and_hash(office, name):
    row = office["calls"][name]
    path = office["data"] / row["path"]
    assert path.is_file(), f"{row['path']} missing"
    blob = path.read_bytes()
    assert row["size_bytes"] == len(blob)
    assert row["sha256"] == hashlib.sha256(blob).hexdigest()
    assert row["preroll_s"] == pytest.approx(st.PREROLL_S, abs=0.01)


def test_nothing_left_in_the_spool(office):
    spool = office["data"] / "spool"
    leftovers = [p.name for p in spool.rglob("*")] if spool.exists() else []
    assert leftovers == [], f"finished scenario left spool files: {leftovers}"


def test_recordings_are_only_the_kept_calls(office):
    files = sorted(p.relative_to(office["data"]).as_posix()
                   for p in (office["data"] / "recordings").rglob("*") if p.is_file())
    assert files == sorted(office["calls"][n]["path"] for n in KEPT)


# -- the audio -----------------------------------------------------------------------------------
def talk_segment(audio: np.ndarray, rate: int, talk: float, margin: float = 0.15) -> np.ndarray:
    """The talk part of a decoded call, trimmed of the edges (pre-roll, codec delay, tail)."""
    a = int((st.PREROLL_S + margin) * rate) + st.CODEC_DELAY
    b = int((st.PREROLL_S + talk - margin) * rate) + st.CODEC_DELAY
    return audio[a:b]


TONAL = [n for n in KEPT if CALLS[n][4][0] in ("tone", "file") or CALLS[n][5][0] in ("tone", "file")]


@pytest.mark.parametrize("name", TONAL)
def test_each_leg_carries_its_own_tone_and_not_the_other(office, name):
    _, _, _, talk, near, far, _ = CALLS[name]
    audio, rate = st.decode(office["data"], office["calls"][name])
    seg = talk_segment(audio, rate, talk)
    for leg, (kind, hz), other in ((0, near, 1), (1, far, 0)):
        if kind not in ("tone", "file"):
            continue
        label = "near (left)" if leg == 0 else "far (right)"
        assert st.dominant_hz(seg[:, leg], rate) == pytest.approx(hz, abs=15), f"{label} leg should carry {hz} Hz"
        own, bleed = st.band_db(seg[:, leg], rate, hz), st.band_db(seg[:, other], rate, hz)
        assert own - bleed >= 40, f"{hz} Hz of the {label} leg leaks into the other leg: only {own - bleed:.1f} dB apart"


@pytest.mark.parametrize("name", ["noise_vs_silence", "silence_vs_tone"])
def test_a_silent_leg_stays_quiet(office, name):
    line, _, _, talk, near, far, _ = CALLS[name]
    audio, rate = st.decode(office["data"], office["calls"][name])
    seg = talk_segment(audio, rate, talk)
    quiet_leg = 0 if near[0] == "silence" else 1
    loud, quiet = st.rms_dbfs(seg[:, 1 - quiet_leg]), st.rms_dbfs(seg[:, quiet_leg])
    assert loud - quiet >= 40, f"silent leg only {loud - quiet:.1f} dB below the other"
    assert quiet == pytest.approx(LINE_NOISE[line], abs=3), "the silent leg holds just the line's idle noise"


@pytest.mark.parametrize("name", KEPT)
def test_mp3_length_is_preroll_plus_talk(office, name):
    talk = CALLS[name][3]
    row = office["calls"][name]
    audio, rate = st.decode(office["data"], row)
    assert rate == 8000
    assert audio.shape[1] == 2, "both legs in one stereo file"
    seconds = (len(audio) - st.CODEC_DELAY) / rate
    assert seconds == pytest.approx(row["preroll_s"] + talk, abs=0.1)
    if row.get("audio_s") is not None:   # the catalog's own idea of the file's length
        assert row["audio_s"] == pytest.approx(len(audio) / rate, abs=0.01)


@pytest.mark.parametrize("name", ["in_tones", "out_tones", "silence_vs_tone"])
def test_preroll_holds_idle_noise_and_the_call_starts_after_it(office, name):
    line, _, _, talk, near, far, _ = CALLS[name]
    audio, rate = st.decode(office["data"], office["calls"][name])
    pre = audio[st.CODEC_DELAY + int(0.05 * rate): int(0.9 * rate)]
    for leg in (0, 1):
        assert st.rms_dbfs(pre[:, leg]) == pytest.approx(LINE_NOISE[line], abs=3), \
            f"pre-roll of leg {leg} should be the line's idle noise, not silence or the call"
    leg = 0 if near[0] == "tone" else 1
    first, last = st.loud_span(audio[:, leg], rate, threshold_dbfs=-30)
    delay = st.CODEC_DELAY / rate
    assert first == pytest.approx(st.PREROLL_S + delay, abs=0.03), "the call's audio begins right after the pre-roll"
    assert last == pytest.approx(st.PREROLL_S + talk + delay, abs=0.03), "the recording ends at the on-hook"


def test_wav_file_source_is_recorded_on_the_near_leg(office):
    audio, rate = st.decode(office["data"], office["calls"]["wav_file"])
    seg = talk_segment(audio, rate, CALLS["wav_file"][3])
    assert st.dominant_hz(seg[:, 0], rate) == pytest.approx(1200, abs=15)
    assert st.rms_dbfs(seg[:, 0]) == pytest.approx(-15, abs=2), "the WAV's −12 dBFS sine (−15 dB RMS)"


# -- files on disk -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", KEPT)
def test_file_is_under_its_date_with_a_fat_safe_name(office, name):
    row = office["calls"][name]
    rel = Path(row["path"])
    started = datetime.fromisoformat(row["started_at"].replace("Z", "+00:00"))  # TZ=UTC for the subprocess
    assert rel.parts[:4] == ("recordings", f"{started:%Y}", f"{started:%m}", f"{started:%d}")
    assert len(rel.parts) == 5
    for part in rel.parts:
        assert not set(part) & st.FORBIDDEN_ON_FAT, f"{part!r} is not a valid FAT/exFAT name"
    assert rel.suffix == ".mp3"
    assert row["id"] in rel.name, "the file name carries the call id"
    assert f"_L{row['line']}_" in rel.name
    assert rel.name.startswith(f"{started:%Y-%m-%d_%H-%M-%S}")


@pytest.mark.parametrize("name", KEPT)
def test_id3_tags_carry_the_call_id_date_and_line_in_v2_3(office, name):
    row = office["calls"][name]
    tags = mutagen.File(office["data"] / row["path"]).tags
    assert tags is not None, "no ID3 tag"
    txxx = {frame.desc: str(frame.text[0]) for frame in tags.getall("TXXX")}
    assert txxx.get("hookline_id") == row["id"]
    assert txxx.get("hookline_line") == str(row["line"])
    assert tags.version == (2, 3, 0), "ID3v2.3, which id3lib and older players read"
    started = datetime.fromisoformat(row["started_at"].replace("Z", "+00:00"))  # TZ=UTC for the subprocess
    assert str(tags["TDRC"].text[0]).startswith(f"{started:%Y-%m-%d %H:%M}")   # mutagen reads TYER+TDAT+TIME so
    title = str(tags["TIT2"].text[0])
    assert f"{started.day} {started:%b %Y %H:%M}" in title and f"line {row['line']}" in title, title


def test_paths_use_the_boxs_local_date(tmp_path):
    """A call at 20:00 UTC is the next day in Tokyo: folder and name use the same local date."""
    scenario = st.write_scenario(tmp_path, """
[appliance]
start = "2026-03-15T20:00:00Z"
[[line]]
id = 1
offhook = "gpio"
[[call]]
line = 1
at = 0.5
direction = "outbound"
talk = 2.5
near = "tone:440"
""")
    data = tmp_path / "data"
    st.simulate(scenario, data, tz="Asia/Tokyo")
    [row] = st.calls(data)
    local = datetime.fromisoformat(row["started_at"].replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Tokyo"))
    rel = Path(row["path"])
    assert rel.parts[1:4] == ("2026", "03", "16")
    assert rel.name.startswith(f"{local:%Y-%m-%d_%H-%M-%S}")
    assert row["started_at"] == "2026-03-15T20:00:00.500Z", "the catalog itself stays in UTC"


# -- discards and events -------------------------------------------------------------------------
def test_too_short_call_is_discarded_and_the_events_say_why(office):
    row = office["calls"]["too_short"]
    assert row["status"] == "discarded"
    assert row["path"] is None and row["size_bytes"] is None and row["sha256"] is None
    discards = [e for e in office["events"] if e["call_id"] == row["id"] and e["kind"] == "discard"]
    assert len(discards) == 1
    reason = discards[0]["detail"].get("reason", "")
    assert "min_call_s" in reason and "shorter" in reason, reason
    assert not list((office["data"] / "recordings").rglob(f"*{row['id']}*")), "no file for a discarded call"


def test_events_have_line_call_at_kind_detail(office):
    evs = office["events"]
    assert evs, "no events"
    for e in evs:
        assert set(e) >= {"line", "call_id", "at", "kind", "detail"}, e
        assert isinstance(e["line"], int) and isinstance(e["kind"], str) and isinstance(e["detail"], dict)
        assert e["call_id"] is None or isinstance(e["call_id"], str)
        assert ISO_MS.match(e["at"]), e["at"]
    ats = [st.ts(e["at"]) for e in evs]
    assert ats == sorted(ats), "events come in time order"


@pytest.mark.parametrize("name", list(CALLS))
def test_each_call_has_offhook_and_onhook_events_at_its_edges(office, name):
    row = office["calls"][name]
    mine = [e for e in office["events"] if e["call_id"] == row["id"]]
    kinds = [e["kind"] for e in mine]
    assert kinds.count("offhook") == 1 and kinds.count("onhook") == 1, kinds
    off = next(e for e in mine if e["kind"] == "offhook")
    on = next(e for e in mine if e["kind"] == "onhook")
    assert off["at"] == row["started_at"] and on["at"] == row["ended_at"]
    assert off["line"] == on["line"] == row["line"]
    assert on["detail"]["duration_s"] == pytest.approx(row["duration_s"], abs=0.01)


# -- 16 kHz (wideband) ---------------------------------------------------------------------------
def test_wideband_16k_keeps_frequencies_above_4k(tmp_path):
    scenario = st.write_scenario(tmp_path, f"""
[appliance]
start = "{START}"
sample_rate = 16000
seed = 5
[[line]]
id = 1
offhook = "gpio"
noise_dbfs = -64
[[call]]
line = 1
at = 0.3
direction = "outbound"
talk = 3.0
near = "tone:5000@-12"
far = "tone:500@-12"
""")
    data = tmp_path / "data"
    st.simulate(scenario, data)
    [row] = st.calls(data)
    assert row["status"] == "complete"
    assert row["duration_s"] == pytest.approx(3.0, abs=0.1)
    assert row.get("sample_rate") == 16000
    audio, rate = st.decode(data, row)
    assert rate == 16000, "a 16 kHz line is recorded at 16 kHz"
    assert (len(audio) - st.CODEC_DELAY) / rate == pytest.approx(row["preroll_s"] + 3.0, abs=0.1)
    seg = talk_segment(audio, rate, 3.0)
    assert st.dominant_hz(seg[:, 0], rate) == pytest.approx(5000, abs=15), "5 kHz only exists at 16 kHz"
    assert st.dominant_hz(seg[:, 1], rate) == pytest.approx(500, abs=15)
    assert st.band_db(seg[:, 0], rate, 5000) - st.band_db(seg[:, 1], rate, 5000) >= 40
    assert st.band_db(seg[:, 1], rate, 500) - st.band_db(seg[:, 0], rate, 500) >= 40


# -- speeds and re-runs --------------------------------------------------------------------------
SHORT = f"""
[appliance]
start = "{START}"
seed = 9
settings = {{ min_call_s = 0.5 }}
[[line]]
id = 1
offhook = "gpio"
noise_dbfs = -60
[[line]]
id = 2
offhook = "gpio"
[[call]]
line = 1
at = 0.3
direction = "outbound"
talk = 1.2
near = "tone:440"
far = "noise@-30"
[[call]]
line = 2
at = 0.2
direction = "outbound"
talk = 0.4
near = "tone:600"
"""


def _comparable(rows: list[dict]) -> list[dict]:
    """Catalog rows without what may differ between runs: ids (also inside paths) and hashes."""
    out = []
    for r in rows:
        r = dict(r)
        if r["path"]:
            r["path"] = r["path"].replace(r["id"], "ID")
        for key in ("id", "sha256", "previous_id"):
            r.pop(key, None)
        out.append(r)
    return out


@pytest.mark.slow
def test_realtime_speed_gives_the_same_catalog_as_max(tmp_path):
    scenario = st.write_scenario(tmp_path, SHORT)
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    st.simulate(scenario, fast, speed="max")
    t0 = time.monotonic()
    st.simulate(scenario, slow, speed="realtime")
    took = time.monotonic() - t0
    assert took >= 3.0, f"realtime finished a 3.5 s scenario in {took:.1f} s"
    a, b = st.calls(fast), st.calls(slow)
    assert [r["status"] for r in a] == ["discarded", "complete"]
    assert _comparable(a) == _comparable(b)

    def ev(data, rows):
        ids = {r["id"]: f"call{i}" for i, r in enumerate(rows)}
        return [(e["line"], ids.get(e["call_id"]), e["at"], e["kind"], e["detail"]) for e in st.events(data)]
    assert ev(fast, a) == ev(slow, b)


def test_simulating_again_on_the_same_data_adds_calls(tmp_path):
    scenario = st.write_scenario(tmp_path, SHORT)
    data = tmp_path / "data"
    st.simulate(scenario, data)
    first = st.calls(data)
    first_events = st.events(data)
    st.simulate(scenario, data)
    both = st.calls(data)
    assert len(both) == 2 * len(first)
    assert {r["id"] for r in first} < {r["id"] for r in both}
    assert len({r["id"] for r in both}) == len(both)
    kept = [r for r in both if r["status"] == "complete"]
    assert len(kept) == 2 and kept[0]["path"] != kept[1]["path"]
    for r in kept:
        assert (data / r["path"]).is_file()
    assert first == [r for r in both if r["id"] in {x["id"] for x in first}], "earlier rows are untouched"
    assert len(st.events(data)) == 2 * len(first_events)


def test_back_to_back_calls_preroll_stops_at_the_previous_hang_up(tmp_path):
    """A call 0.4 s after the last one keeps 0.4 s of pre-roll, none of the previous call."""
    scenario = st.write_scenario(tmp_path, f"""
[appliance]
start = "{START}"
[[line]]
id = 1
offhook = "gpio"
noise_dbfs = -60
[[call]]
line = 1
at = 1.5
direction = "outbound"
talk = 3.0
near = "tone:440"
far = "tone:440"
[[call]]
line = 1
at = 4.9
direction = "outbound"
talk = 3.0
near = "tone:1000"
far = "tone:1000"
""")
    data = tmp_path / "data"
    st.simulate(scenario, data)
    first, second = st.calls(data)
    assert first["preroll_s"] == pytest.approx(1.0, abs=0.01)
    assert second["status"] == "complete"
    assert second["preroll_s"] == pytest.approx(0.4, abs=0.03)
    audio, rate = st.decode(data, second)
    assert (len(audio) - st.CODEC_DELAY) / rate == pytest.approx(0.4 + 3.0, abs=0.1)
    for leg in (0, 1):
        assert st.band_db(audio[:, leg], rate, 1000) - st.band_db(audio[:, leg], rate, 440) >= 40, \
            "the previous call's tone leaked into the next call's pre-roll"
    first_loud, _ = st.loud_span(audio[:, 0], rate, threshold_dbfs=-30)
    assert first_loud == pytest.approx(second["preroll_s"] + st.CODEC_DELAY / rate, abs=0.03)


def test_calls_on_a_folder_without_a_catalog_is_refused(tmp_path):
    proc = st.run("calls", "--data", tmp_path / "nothing", "--json")
    assert proc.returncode == 2
    assert st.one_error_line(proc).startswith(f"hookline: no catalog in {tmp_path / 'nothing'}: is this the data")
    assert proc.stdout == ""
    assert not (tmp_path / "nothing" / "hookline.db").exists()
