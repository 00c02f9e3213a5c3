"""A full disk mid-call: audio stops where the catalog's room begins (recording/room.py), the
part cut short is finished and playable at once, marked so, its events reach the catalog, and
recording resumes in a linked part as soon as there is space again. Runs on a real, small tmpfs
(needs root to mount, as CI has) with the real recorder."""
from __future__ import annotations

import itertools
import json
import os
import subprocess

import numpy as np
import pytest
import soundfile

import simtools as st
import webtools as wt
from appliance.line.batch import BATCH_S
from appliance.line.events import EventLog
from appliance.recording import room as roommod
from appliance.recording.call import CallInfo, CallRecording
from appliance.recording.disk import DiskWorker
from appliance.sim import runner, scenario as scenariomod
from appliance.store import catalog, db as dbmod, users
from appliance.store.kinds import Event

START = "2026-03-15T09:00:00Z"
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
# A retry falls due within a batch of work (BATCH_S): the part that comes back starts at its due
# frame, which may be up to a batch before the moment the room came back.
# The recorder started, its catalog made, about 350 KB are left.
DISK_SIZE = "672k"


@pytest.fixture
def small_disk(tmp_path):
    # Room for the reserve, the margin and some forty seconds of audio at 32 kbit/s.
    with st.small_tmpfs(tmp_path / "disk", DISK_SIZE) as mnt:
        yield mnt


def _left(daemon) -> int:
    """Free bytes on the data disk, the catalog's reserve counted as free."""
    room = daemon.disk.room
    return room.free() + (room.reserve_bytes if room.held() else 0)


def _run(tmp_path, small_disk, scenario: str, free_at_s: float | None, at: dict | None = None):
    """Run the one-line scenario on the small disk, which gets room again (20 MB) once line 1's
    stream reaches free_at_s. at: {stream second: callback(daemon)} run on the line's thread as the
    stream reaches it, while the recorder runs. ALSA's FIFOs and config go outside the small disk:
    only the recorder's data is on it. Returns the data folder."""
    sc = scenariomod.load(st.write_scenario(tmp_path, scenario))
    data = small_disk / "data"
    daemon, hw = runner.build_daemon(sc, data, realtime=False)
    sim_tick = hw.tick
    freed, due = [], sorted((at or {}).items())

    def tick(line, pos):
        if free_at_s is not None and not freed and pos >= free_at_s * sc.sample_rate:
            subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
            freed.append(pos)
        while due and pos >= due[0][0] * sc.sample_rate:
            due.pop(0)[1](daemon)
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
    assert free_at_s is None or freed, "the scenario never reached the point where space is freed"
    assert not due, "the scenario ended before every check ran"
    return data


def _catalog_now(daemon) -> tuple[list[dict], list[dict]]:
    """The calls and events as the catalog has them now: what the disk worker was handed is done."""
    assert daemon.disk.drain(30)
    db = dbmod.connect(daemon.data_dir)
    try:
        return catalog.list_calls(db), catalog.list_events(db)
    finally:
        db.close()


def test_full_disk_mid_call_loses_nothing_written_and_recording_resumes(tmp_path, small_disk):
    seen = {}
    data = _run(tmp_path, small_disk, SCENARIO, FREE_SPACE_AT_S,
                at={2.0: lambda daemon: seen.update(left=_left(daemon)),
                    65.0: lambda daemon: seen.update(mid_call=_catalog_now(daemon))})

    assert 320_000 <= seen["left"] <= 380_000
    rows, events = seen["mid_call"]
    assert [(r["status"], r["cut_short"]) for r in rows] == [("complete", "disk-full")], \
        "while the call goes on, the part cut short is already finished"
    db = dbmod.connect(data)
    rows = catalog.list_calls(db)
    events = catalog.list_events(db)
    db.close()
    first, second = rows
    assert first["status"] == "complete" and first["cut_short"] == "disk-full"
    assert second["status"] == "complete" and second["previous_id"] == first["id"] and second["part"] == 2
    assert second["cut_short"] is None
    # The first part holds what fit beside the catalog: at 32 kbit/s, over ten seconds.
    audio, rate = soundfile.read(data / first["path"])
    assert len(audio) / rate > 10
    # Recording came back within RESUME_AFTER_S (5 s) of the space being freed...
    resumed = [e for e in events if e["kind"] == "resumed"]
    assert [e["call_id"] for e in resumed] == [second["id"]]
    resumed_s = st.ts(second["started_at"]) - st.ts(START)
    assert FREE_SPACE_AT_S - BATCH_S <= resumed_s <= FREE_SPACE_AT_S + 5.5
    # ...and ran to the on-hook at 121 s.
    assert st.ts(second["ended_at"]) - st.ts(START) == pytest.approx(121.0, abs=0.05)
    audio2, _ = soundfile.read(data / second["path"])
    assert len(audio2) / rate == pytest.approx(second["duration_s"] + second["preroll_s"], abs=0.3)
    assert (data / roommod.RESERVE_NAME).exists(), "the catalog's reserve is back"


# One call filling the disk; one that starts while it is full; one after room came back.
THREE_CALLS = SCENARIO.split("[[call]]")[0] + "".join(
    f'[[call]]\nline = 1\nat = {at}\ndirection = "outbound"\ntalk = {talk}\nnear = "tone:440@-12"\n'
    f'far = "tone:1000@-12"\n\n' for at, talk in ((1.0, 60.0), (66.0, 5.0), (100.0, 20.0)))


def _legs_carry_their_tones(audio: np.ndarray, rate: int, start_s: float, end_s: float) -> None:
    """Each second from start_s to end_s: the office leg (left) 440 Hz, the line's (right) 1000 Hz."""
    for at in np.arange(start_s, end_s - 1.0, 1.0):
        chunk = audio[int(at * rate):int((at + 1.0) * rate)]
        for leg, hz in ((0, 440), (1, 1000)):
            assert st.rms_dbfs(chunk[:, leg]) > -20, (at, leg)
            assert st.dominant_hz(chunk[:, leg], rate) == pytest.approx(hz, abs=15), (at, leg)


def test_a_call_cut_short_by_the_full_disk_is_finished_at_once_and_the_next_call_records(tmp_path, small_disk):
    """The disk fills mid-call and stays full past the on-hook: while the recorder runs, the part
    is finished (complete, cut short, playable), its events are in the catalog, and no row waits
    for the next start. A call that starts while the disk is full is not recorded and says why.
    Room comes back: the next call records as usual and the reserve is back."""
    seen = {}

    def full_after_onhook(daemon):
        seen["calls"], seen["events"] = _catalog_now(daemon)
        seen["spool"] = sorted(p.name for p in (daemon.data_dir / "spool").glob("*.part"))
        seen["reserve_held"] = daemon.disk.room.held()

    data = _run(tmp_path, small_disk, THREE_CALLS, 80.0, at={75.0: full_after_onhook})

    cut, not_recorded = seen["calls"]
    assert cut["status"] == "complete" and cut["cut_short"] == "disk-full"
    assert not_recorded["status"] == "discarded" and not_recorded["path"] is None
    story = [(e["kind"], e["detail"].get("recording"), e["detail"].get("rule"))
             for e in seen["events"] if e["call_id"] == not_recorded["id"]]
    assert story == [("offhook", False, None), ("onhook", None, None), ("discard", None, "no-room")]
    assert seen["spool"] == [] and not seen["reserve_held"]
    mine = {e["kind"]: e for e in seen["events"] if e["call_id"] == cut["id"]}
    assert {"offhook", "error", "cut-short", "onhook"} <= set(mine), sorted(mine)
    assert mine["error"]["detail"]["cause"] == "disk-full"
    assert mine["onhook"]["detail"]["reason"] == "hung up before recording could resume"
    assert st.ts(mine["onhook"]["at"]) - st.ts(START) == pytest.approx(61.0, abs=0.05)
    assert mine["cut-short"]["detail"] == {"cause": "disk-full", "audio_s": cut["audio_s"]}
    # The MP3 plays, each leg with its own audio from the off-hook up to the cut.
    audio, rate = soundfile.read(data / cut["path"])
    assert len(audio) / rate == pytest.approx(cut["audio_s"], abs=0.1)
    assert cut["duration_s"] == pytest.approx(cut["audio_s"] - cut["preroll_s"], abs=0.01)
    assert 25 < cut["duration_s"] < 55
    cut_at = st.ts(mine["error"]["at"]) - st.ts(cut["started_at"])
    assert cut_at - 1.0 <= cut["duration_s"] <= cut_at, "the audio reaches the moment the disk filled"
    _legs_carry_their_tones(audio, rate, cut["preroll_s"] + 0.2, cut["audio_s"])

    db = dbmod.connect(data)
    rows = catalog.list_calls(db)
    db.close()
    assert [r["id"] for r in rows][:2] == [cut["id"], not_recorded["id"]] and len(rows) == 3, \
        "no row for the retries"
    nxt = rows[2]
    assert nxt["status"] == "complete" and nxt["cut_short"] is None and nxt["previous_id"] is None
    assert nxt["duration_s"] == pytest.approx(20.0, abs=0.05)
    audio, rate = soundfile.read(data / nxt["path"])
    _legs_carry_their_tones(audio, rate, nxt["preroll_s"] + 0.2, nxt["audio_s"])
    reserve = data / roommod.RESERVE_NAME
    # Sized when the recorder started, to the small disk as it was then.
    assert reserve.exists() and reserve.stat().st_size == 672 * 1024 // roommod.SMALL_DISK_SHARE
    assert not [r for r in rows if r["status"] == "recording"]


def test_the_call_cut_short_says_so_on_its_page_in_the_api_and_the_cli(tmp_path, small_disk):
    data = _run(tmp_path, small_disk, THREE_CALLS, 80.0)
    db = dbmod.connect(data)
    cut = catalog.list_calls(db)[0]
    users.create_user(db, "admin", "admin", wt.PASSWORDS["admin"])
    db.close()
    with wt.serving(data) as server:
        client = wt.login(server.base, "admin")
        page = client.get(f"/calls/{cut['id']}").text
        assert 'id="cut-short-badge"' in page and "cut short: the disk was full" in page
        assert "Recording cut short because the disk was full" in page
        assert "Saving the recording stopped because the disk is full" in page
        assert client.get(f"/api/v1/calls/{cut['id']}").json()["cut_short"] == "disk-full"
    listed = st.check("calls", "--data", data).stdout
    assert "complete, cut short: disk full" in listed
    [as_json] = [c for c in json.loads(st.check("calls", "--data", data, "--json").stdout) if c["id"] == cut["id"]]
    assert as_json["cut_short"] == "disk-full"


def test_a_recording_whose_write_finds_the_disk_full_finishes_itself(small_disk):
    """Whichever write meets the margin (a chunk mid-call, the last one at the on-hook, the
    encoder's flush), the recording is finished there: the line's error handling need not know it."""
    data = small_disk / "data"
    dbmod.connect(data).close()
    db = dbmod.connect(data)
    disk = DiskWorker(data)
    disk.start()
    rec = CallRecording(db, data, CallInfo(line=1, started_at=st.ts(START), direction="outbound"),
                        sample_rate=8000, bitrate_kbps=32, preroll_s=0.0, disk=disk)
    t = np.arange(8000) / 8000
    second = (np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)], axis=1) * 8000).astype("<i2")
    with pytest.raises(roommod.DiskFull):
        for _ in range(600):
            for i in range(0, 8000, 160):
                rec.write(second[i:i + 160])
    assert disk.drain(30)
    disk.stop()
    row = catalog.get_call(db, rec.id)
    db.close()
    assert (row["status"], row["cut_short"]) == ("complete", "disk-full")
    audio, rate = soundfile.read(data / row["path"])
    assert len(audio) / rate == pytest.approx(row["audio_s"], abs=0.1) and row["audio_s"] > 20
    _legs_carry_their_tones(audio, rate, 0.2, row["audio_s"])


class _Clock:
    def wall(self, frame: int) -> float:
        return st.ts(START) + frame / 8000


def test_the_reserve_makes_room_for_events_when_something_else_fills_the_disk(tmp_path, small_disk):
    """Not audio but another program fills the disk to the last byte: the catalog's next events
    go into the room the reserve held."""
    data = small_disk / "data"
    dbmod.connect(data).close()     # made (its first WAL, as big as the schema, goes on closing)
    db = dbmod.connect(data)
    room = roommod.DiskRoom(data)
    room.refill()
    assert room.held()
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError):
        for _ in itertools.count():
            os.write(fd, b"\0" * 4096)
    os.close(fd)
    without = EventLog(db, 1, _Clock())
    lost = next(n for n in range(2000) if not _logged(db, without, n))
    assert lost < 2000, "the disk is full for the catalog too"
    assert room.held()
    log = EventLog(db, 1, _Clock(), room)
    for n, kind in enumerate((Event.ONHOOK, Event.ERROR, Event.WARNING)):
        log(kind, 10_000 + n, None, message="x" * 2000)
    assert not room.held(), "given back"
    kinds = [e["kind"] for e in catalog.list_events(db) if e["at"] >= catalog.iso(_Clock().wall(10_000))]
    assert kinds == [Event.ONHOOK, Event.ERROR, Event.WARNING]
    db.close()


def _logged(db, log: EventLog, n: int) -> bool:
    before = db.execute("SELECT count(*) FROM call_events").fetchone()[0]
    log(Event.WARNING, n, None, message="y" * 2000)
    return db.execute("SELECT count(*) FROM call_events").fetchone()[0] > before


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
    data = _run(tmp_path, small_disk, PAUSED_SCENARIO, PAUSED_FREE_AT_S)
    db = dbmod.connect(data)
    rows, events = catalog.list_calls(db), catalog.list_events(db)
    db.close()
    assert [r["part"] for r in rows] == [1, 2], [(r["part"], r["status"], r["duration_s"]) for r in rows]
    second = rows[1]
    start = st.ts("2026-03-15T09:00:00Z")
    came_back = st.ts(second["started_at"]) - start
    assert PAUSED_FREE_AT_S - BATCH_S <= came_back <= PAUSED_FREE_AT_S + 5.5, came_back
    pauses = [(e["kind"], e["detail"].get("continued") or e["detail"].get("ended"))
              for e in events if e["kind"] in ("paused", "resume") and e["call_id"] == second["id"]]
    assert pauses == [("paused", True), ("resume", None)], "the pause goes on in it; the button ends it"
    audio, rate = soundfile.read(data / second["path"])
    resumed_in_file = 100.0 - came_back
    held = audio[:int((resumed_in_file - 0.05) * rate)]
    assert st.rms_dbfs(held) < -60, "the part that came back is silent until the resume"
    assert st.rms_dbfs(audio[int((resumed_in_file + 0.3) * rate):]) > -30, "and recorded after it"


@pytest.fixture
def disk_8m(tmp_path):
    # Reserve and margin 1 MB each (an eighth of it): a box's reserve holds 4 MB.
    with st.small_tmpfs(tmp_path / "disk8", "8m") as mnt:
        yield mnt


def test_a_recorder_that_crashed_on_a_full_disk_starts_again_and_recovers_its_call(tmp_path, disk_8m):
    """The recorder died mid-call and something else then filled the disk to the last byte (the
    reserve still held). The next start must record: it gives the reserve back before it writes
    anything, recovers the call, and the lines run. (It used to die finishing the recovered
    part's tag, and systemd restarted it into the same full disk, for ever.)"""
    from test_recovery_salvage import unfinished_call
    data = disk_8m / "data"
    call_id, _ = unfinished_call(data)
    room = roommod.DiskRoom(data)
    room.refill()
    assert room.held()
    (data / ".recorder-running").write_text("4242\n")
    sc = scenariomod.load(st.write_scenario(tmp_path, SCENARIO.replace("at = 1.0", "at = 600.0")))
    daemon, hw = runner.build_daemon(sc, data, realtime=True)     # its simulated wires first
    fd = os.open(disk_8m / "filler", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError):
        for _ in itertools.count():
            os.write(fd, b"\0" * 4096)
    os.close(fd)
    hw.start()
    try:
        daemon.start()
        assert all(line.is_alive() for line in daemon.lines)
    finally:
        hw.stop()
        daemon.stop()
    db = dbmod.connect(data)
    row = catalog.get_call(db, call_id)
    db.close()
    assert row["status"] == "recovered" and row["audio_s"] > 7
