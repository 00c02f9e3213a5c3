"""Recovery keeps every good frame of a damaged spool part.

A real call recording (the real encoder, 8 s of a 440 Hz near leg and a 1000 Hz far leg at
8 kHz and 32 kbit/s) is left unfinished as a crash leaves it, its part file is damaged the
ways flash and power cuts damage files, and `hookline recover` runs. The recovered MP3 is
decoded and measured leg by leg; the catalog and the events must say what happened.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

import simtools as st
from appliance.recording import salvage
from appliance.recording.call import CallInfo, CallRecording
from appliance.store import db as dbmod

RATE, SECONDS, KBPS = 8000, 8.0, 32
FRAME_BYTES = 72000 * KBPS // RATE          # 288 bytes, 72 ms of audio


def unfinished_call(data) -> tuple[str, bytes]:
    """A call recorded through CallRecording and abandoned as a crash leaves it; returns its id
    and the bytes of its part file."""
    db = dbmod.connect(data)
    rec = CallRecording(db, data, CallInfo(line=1, started_at=1_773_583_920.0, direction="inbound",
                                           remote_number="+14155550123"),
                        sample_rate=RATE, bitrate_kbps=KBPS, preroll_s=0.0)
    t = np.arange(int(RATE * SECONDS)) / RATE
    pcm = (np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)], axis=1) * 8000).astype("<i2")
    for i in range(0, len(pcm), 160):          # a period at a time, as the line feeds it
        rec.write(pcm[i:i + 160])
    rec._encoder.finish()                       # what the encoder still held reached the disk
    rec.abandon()
    db.conn.close()
    return rec.id, rec.part_path.read_bytes()


def audible_s(x: np.ndarray, rate: int) -> float:
    """Seconds, in 0.1 s windows, in which the leg carries its tone (louder than -30 dBFS)."""
    w = rate // 10
    return sum(st.rms_dbfs(x[i * w:(i + 1) * w]) > -30 for i in range(len(x) // w)) / 10


def recover(data, call_id: str, damaged: bytes) -> dict:
    part = data / "spool" / f"{call_id}.mp3.part"
    part.write_bytes(damaged)
    assert f"recovered 1 call(s): {call_id}" in st.check("recover", "--data", data).stdout
    [row] = st.calls(data)
    assert not list((data / "spool").glob("*.part"))
    return row


def events_of(data, call_id: str, kind: str) -> list[dict]:
    return [e for e in st.events(data) if e["call_id"] == call_id and e["kind"] == kind]


def check_legs(audio: np.ndarray, rate: int, start_s: float, end_s: float) -> None:
    piece = audio[int(start_s * rate):int(end_s * rate)]
    assert abs(st.dominant_hz(piece[:, 0], rate) - 440) < 10
    assert abs(st.dominant_hz(piece[:, 1], rate) - 1000) < 10


def test_a_4_kb_hole_in_the_middle_keeps_everything_after_it_in_its_place(tmp_path):
    data = tmp_path / "data"
    call_id, good = unfinished_call(data)
    middle = len(good) // 2
    row = recover(data, call_id, good[:middle] + bytes(4096) + good[middle + 4096:])
    assert row["status"] == "recovered"
    audio, rate = st.decode(data, row)
    # The whole call is still 8 s long: the hole is silence, and what followed it is at its time.
    assert len(audio) / rate >= 7.9
    assert row["duration_s"] == pytest.approx(len(audio) / rate, abs=0.1)
    lost = 4096 / (KBPS * 1000 / 8)                              # 1.02 s of audio were in the hole
    for leg in (0, 1):
        assert audible_s(audio[:, leg], rate) >= SECONDS - lost - 0.3     # today: 3.8 s
    hole_at = middle / (KBPS * 1000 / 8)
    check_legs(audio, rate, 0.5, hole_at - 0.2)
    check_legs(audio, rate, hole_at + lost + 0.3, SECONDS - 0.2)
    quiet = audio[int((hole_at + 0.2) * rate):int((hole_at + lost - 0.2) * rate)]
    assert st.rms_dbfs(quiet) < -60
    [gap] = events_of(data, call_id, "gap")
    assert gap["detail"]["offset"] <= middle < gap["detail"]["offset"] + gap["detail"]["bytes"]
    assert 4096 <= gap["detail"]["bytes"] < 4096 + 2 * FRAME_BYTES
    assert gap["detail"]["at_s"] == pytest.approx(hole_at, abs=0.1)
    assert gap["detail"]["lost_s"] == pytest.approx(lost, abs=0.1)
    [recovered] = events_of(data, call_id, "recovered")
    assert recovered["detail"]["gaps"] == 1


@pytest.mark.parametrize("damage, kept_s", [
    ("cut mid-frame", SECONDS - 0.2),
    ("zeroed tail", SECONDS - 4096 / 4000 - 0.1),
    ("appended garbage", SECONDS - 0.1),
])
def test_damage_at_the_end_is_cut_and_the_rest_kept(tmp_path, damage, kept_s):
    data = tmp_path / "data"
    call_id, good = unfinished_call(data)
    damaged = {"cut mid-frame": good[:len(good) - FRAME_BYTES // 2],
               "zeroed tail": good[:-4096] + bytes(4096),
               "appended garbage": good + np.random.default_rng(13).bytes(3000)}[damage]
    row = recover(data, call_id, damaged)
    assert row["status"] == "recovered"
    audio, rate = st.decode(data, row)
    assert kept_s <= len(audio) / rate <= SECONDS + 0.3
    for leg in (0, 1):
        assert audible_s(audio[:, leg], rate) >= kept_s - 0.2
    check_legs(audio, rate, 0.5, kept_s - 0.2)
    assert not events_of(data, call_id, "gap")
    [recovered] = events_of(data, call_id, "recovered")
    cut = recovered["detail"]["cut_bytes"]
    assert {"cut mid-frame": cut == FRAME_BYTES - FRAME_BYTES // 2,
            "zeroed tail": abs(cut - 4096) < FRAME_BYTES,
            "appended garbage": cut == 3000}[damage], cut


def test_an_empty_part_is_discarded_as_no_audio_reached_the_disk(tmp_path):
    data = tmp_path / "data"
    call_id, _ = unfinished_call(data)
    row = recover(data, call_id, b"")
    assert row["status"] == "discarded" and not row.get("path")
    [discard] = events_of(data, call_id, "discard")
    assert discard["detail"]["rule"] == "crash-no-audio"
    assert not (data / "quarantine").exists()


def test_a_part_with_no_readable_frame_is_quarantined_not_deleted(tmp_path):
    data = tmp_path / "data"
    call_id, _ = unfinished_call(data)
    noise = np.random.default_rng(7).bytes(20_000)
    row = recover(data, call_id, noise)
    assert row["status"] == "discarded" and not row.get("path")
    kept = data / "quarantine" / f"{call_id}.mp3.part"
    assert kept.read_bytes() == noise                          # every byte, under its own name
    [discard] = events_of(data, call_id, "discard")
    assert discard["detail"]["rule"] == "crash-unreadable"
    assert discard["detail"]["quarantined"] == f"quarantine/{call_id}.mp3.part"
    assert discard["detail"]["bytes"] == 20_000
    out = st.check("events", "--data", data).stdout
    assert "no audio in its file could be read. The file is kept in the quarantine folder" in out


def test_salvage_of_random_bytes_finds_no_frame_however_seeded():
    # One valid-looking header turns up every few KB of noise; a second that follows it does not.
    for seed in range(40):
        assert not salvage.salvage(np.random.default_rng(seed).bytes(20_000)).frames


def test_salvage_of_a_leading_hole_keeps_the_start_of_the_call_in_time(tmp_path):
    data = tmp_path / "data"
    call_id, good = unfinished_call(data)
    found = salvage.salvage(bytes(1000) + good[1000:])
    [gap] = found.gaps
    assert gap.offset == 0 and gap.at_s == 0.0
    assert found.seconds == pytest.approx(salvage.salvage(good).seconds)


def test_salvage_of_a_part_damaged_every_two_frames_takes_time_in_proportion_to_its_size():
    """A crafted part (or a card that flips a byte every few frames): two good frames, one bad
    byte, over and over. Every bad byte is a gap; salvage must not slow down with the number of
    gaps so far (8 MB took 36 s when each gap re-added all the earlier ones, and recovery runs
    before the lines start)."""
    head = bytes((0xFF, 0xE3, 0x18, 0xC4))     # MPEG-2.5 Layer III, 8 kbit/s, 8 kHz, mono: 72 bytes
    frame = head + bytes(68)
    unit = frame + frame + b"\x00"
    data = unit * (8_000_000 // len(unit))
    started = time.monotonic()
    found = salvage.salvage(data)
    took = time.monotonic() - started
    assert len(found.gaps) == len(data) // len(unit) - 1 and len(found.frames) == 2 * (len(data) // len(unit))
    last = found.gaps[-1]
    assert last.at_s == pytest.approx((2 * len(found.gaps) + len(found.gaps) - 1) * 0.072)
    assert took < 10.0, f"salvage of 8 MB with {len(found.gaps)} gaps took {took:.1f} s"


def test_a_part_that_is_a_link_to_another_file_is_quarantined_and_that_file_left_alone(tmp_path):
    """The data disk may hold anything: recovery never follows a link out of the spool (it used
    to cut the tail off the file it pointed at and write an ID3 tag into it)."""
    data = tmp_path / "data"
    call_id, good = unfinished_call(data)
    victim = tmp_path / "elsewhere.mp3"
    victim.write_bytes(good + b"not audio" * 100)
    part = data / "spool" / f"{call_id}.mp3.part"
    part.unlink()
    part.symlink_to(victim)
    assert f"recovered 1 call(s): {call_id}" in st.check("recover", "--data", data).stdout
    assert victim.read_bytes() == good + b"not audio" * 100
    [row] = st.calls(data)
    assert row["status"] == "discarded" and not row.get("path")
    kept = data / "quarantine" / f"{call_id}.mp3.part"
    assert kept.is_symlink()
    [discard] = events_of(data, call_id, "discard")
    assert discard["detail"]["rule"] == "crash-unreadable"


def test_a_part_that_is_a_fifo_does_not_hang_recovery(tmp_path):
    data = tmp_path / "data"
    call_id, _ = unfinished_call(data)
    part = data / "spool" / f"{call_id}.mp3.part"
    part.unlink()
    os.mkfifo(part)
    assert f"recovered 1 call(s): {call_id}" in st.run("recover", "--data", str(data), timeout=30, check=True).stdout
    [row] = st.calls(data)
    assert row["status"] == "discarded"
    assert not part.exists()


def test_a_call_that_cannot_be_recovered_does_not_stop_the_others_nor_the_start(tmp_path):
    """Recovery runs before the lines start: one call it cannot finish (here the quarantine
    folder's name is taken by a file) is logged and left for the next start; every other call is
    recovered and the recorder goes on to record."""
    from appliance.recording.recover import recover as recover_all
    data = tmp_path / "data"
    bad, _ = unfinished_call(data)
    good, _ = unfinished_call(data)
    (data / "spool" / f"{bad}.mp3.part").write_bytes(np.random.default_rng(5).bytes(20_000))
    (data / "quarantine").write_text("a file where the folder goes")
    db = dbmod.connect(data)
    assert recover_all(db, data) == [good]
    db.close()
    rows = {r["id"]: r for r in st.calls(data)}
    assert rows[good]["status"] == "recovered"
    assert rows[bad]["status"] == "recording" and (data / "spool" / f"{bad}.mp3.part").is_file()


def test_a_part_with_no_row_that_cannot_be_set_aside_does_not_stop_the_start(tmp_path):
    from appliance.recording.recover import recover as recover_all
    data = tmp_path / "data"
    good, _ = unfinished_call(data)
    (data / "spool" / "0123456789.mp3.part").write_bytes(b"no row names me")
    (data / "spool" / "orphaned").write_text("a file where the folder goes")
    db = dbmod.connect(data)
    assert recover_all(db, data) == [good]
    db.close()
    assert (data / "spool" / "0123456789.mp3.part").read_bytes() == b"no row names me"
