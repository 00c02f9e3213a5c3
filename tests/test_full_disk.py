"""A full disk mid-call: the line keeps capturing, what was written stays recoverable, and
recording resumes in a linked part as soon as there is space again. Runs on a real, small
tmpfs (needs root to mount, as CI has)."""
from __future__ import annotations

import subprocess

import pytest
import soundfile

import simtools as st
from appliance.sim import runner, scenario as scenariomod
from appliance.store import catalog, db as dbmod

SCENARIO = """
[appliance]
start = "2026-03-15T09:00:00Z"

[[line]]
id = 1
offhook = "gpio"

[[call]]
line = 1
at = 1.0
direction = "outbound"
talk = 120.0
near = "tone:440@-12"
far = "noise@-30"
"""
FREE_SPACE_AT_S = 70.0


@pytest.fixture
def small_disk(tmp_path):
    # Sized to the empty catalog plus some ten seconds of audio: a new table (one more page) needs
    # a little more (at 440k, with the export's table, the catalog itself ran out of room too).
    with st.small_tmpfs(tmp_path / "disk", "448k") as mnt:
        yield mnt


def _run_freeing_space_at(tmp_path, small_disk, scenario: str, free_at_s: float):
    """Run the one-line scenario on the small disk, which gets room again (20 MB) once line 1's
    stream reaches free_at_s. ALSA's FIFOs and config go outside the small disk: only the
    recorder's data is on it. Returns the data folder."""
    sc = scenariomod.load(st.write_scenario(tmp_path, scenario))
    data = small_disk / "data"
    daemon, hw = runner.build_daemon(sc, data, realtime=False)
    sim_tick = hw.tick
    freed = []

    def tick(line, pos):
        if not freed and pos >= free_at_s * sc.sample_rate:
            subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
            freed.append(pos)
        sim_tick(line, pos)

    daemon._tick = tick
    hw.start()
    daemon.start()
    try:
        daemon.lines[0].join(120)
        assert not daemon.lines[0].is_alive()
    finally:
        hw.stop()
        daemon.stop()
    assert freed, "the scenario never reached the point where space is freed"
    return data


def test_full_disk_mid_call_loses_nothing_written_and_recording_resumes(tmp_path, small_disk):
    data = _run_freeing_space_at(tmp_path, small_disk, SCENARIO, FREE_SPACE_AT_S)

    st.check("recover", "--data", data)
    db = dbmod.connect(data)
    rows = catalog.list_calls(db)
    events = catalog.list_events(db)
    db.close()
    first, second = rows
    assert first["status"] == "recovered", "the part cut short by the full disk is recovered"
    assert second["status"] == "complete" and second["previous_id"] == first["id"] and second["part"] == 2
    # The first part holds what fit beside the catalog: at 32 kbit/s, over ten seconds.
    audio, rate = soundfile.read(data / first["path"])
    assert len(audio) / rate > 10
    # Recording came back within RESUME_AFTER_S (5 s) of the space being freed...
    resumed = [e for e in events if e["kind"] == "resumed"]
    assert [e["call_id"] for e in resumed] == [second["id"]]
    resumed_s = st.ts(second["started_at"]) - st.ts("2026-03-15T09:00:00Z")
    assert FREE_SPACE_AT_S <= resumed_s <= FREE_SPACE_AT_S + 5.5
    # ...and ran to the on-hook at 121 s.
    assert st.ts(second["ended_at"]) - st.ts("2026-03-15T09:00:00Z") == pytest.approx(121.0, abs=0.05)
    audio2, _ = soundfile.read(data / second["path"])
    assert len(audio2) / rate == pytest.approx(second["duration_s"] + second["preroll_s"], abs=0.3)


PAUSED_SCENARIO = """
[appliance]
start = "2026-03-15T09:00:00Z"

[[line]]
id = 1
offhook = "gpio"

[[call]]
line = 1
at = 1.0
direction = "outbound"
talk = 120.0
near = "noise@-20"
far = "noise@-20"

[[action]]
line = 1
at = 5.0
kind = "pause-button"

[[action]]
line = 1
at = 100.0
kind = "resume-button"
"""
PAUSED_FREE_AT_S = 80.0


def test_a_pause_goes_on_in_the_part_that_comes_back_after_a_full_disk(tmp_path, small_disk):
    """Paused for a card payment, the disk fills, then has room again while the line is still
    paused: the linked part that comes back is silent until the resume, not recording the card
    number being read out."""
    data = _run_freeing_space_at(tmp_path, small_disk, PAUSED_SCENARIO, PAUSED_FREE_AT_S)
    db = dbmod.connect(data)
    rows, events = catalog.list_calls(db), catalog.list_events(db)
    db.close()
    assert [r["part"] for r in rows] == [1, 2], [(r["part"], r["status"], r["duration_s"]) for r in rows]
    second = rows[1]
    start = st.ts("2026-03-15T09:00:00Z")
    came_back = st.ts(second["started_at"]) - start
    assert PAUSED_FREE_AT_S <= came_back <= PAUSED_FREE_AT_S + 5.5, came_back
    pauses = [(e["kind"], e["detail"].get("continued") or e["detail"].get("ended"))
              for e in events if e["kind"] in ("paused", "resume") and e["call_id"] == second["id"]]
    assert pauses == [("paused", True), ("resume", None)], "the pause goes on in it; the button ends it"
    audio, rate = soundfile.read(data / second["path"])
    resumed_in_file = 100.0 - came_back
    held = audio[:int((resumed_in_file - 0.05) * rate)]
    assert st.rms_dbfs(held) < -60, "the part that came back is silent until the resume"
    assert st.rms_dbfs(audio[int((resumed_in_file + 0.3) * rate):]) > -30, "and recorded after it"
