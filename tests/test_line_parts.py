"""The small parts a line is made of (appliance/line/), each fed frames or events directly: no
ALSA, no threads. The call session records into a real catalog and data folder, as the line's
thread does, and its recordings are decoded to check what ended up in them."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from appliance.audio.preroll import PrerollBuffer
from appliance.clock import StreamClock
from appliance.hook.vox import VoxSettings
from appliance.line import dbfs
from appliance.line.batch import BATCH_S, CapturedChunks
from appliance.line.consent import NO_PLAYER, Consent
from appliance.line.digits import DIAL_WINDOW_S, DialedDigits, dialed_after, learnt_from_digit
from appliance.line.events import EventLog
from appliance.line.hook_state import MONITOR_BACK, MONITOR_LOST, HookDebounce, MonitorWatchdog
from appliance.line.policy import KEEP, RecordPolicy, Rule, Verdict
from appliance.line.session import CallSession, Recorder
from appliance.line.who_called import WhoCalled
from appliance.recording.call import CallInfo
from appliance.store import catalog, db as dbmod

RATE = 8000
PERIOD = 160
T0 = 1773583920.0      # 2026-03-15T14:12:00Z


def s(seconds: float) -> int:
    return int(seconds * RATE)


# -- hook state ------------------------------------------------------------------------------------
def test_debounce_ignores_bounces_and_places_the_change_where_the_level_began():
    hook = HookDebounce(s(0.05))
    hook.report(True, 1000)
    assert hook.settle(1000 + s(0.04)) is None
    hook.report(False, 1000 + s(0.04))           # a bounce shorter than the debounce
    hook.report(True, 1000 + s(0.045))
    assert hook.settle(1000 + s(0.08)) is None and not hook.offhook
    assert hook.settle(1000 + s(0.095)) == 1000 + s(0.045) and hook.offhook and hook.steady
    hook.report(True, 9999)                      # the same level again changes nothing
    assert hook.raw_since == 1000 + s(0.045)
    hook.report(False, 20000)
    hook.restart(30000)                          # an outage: the level must hold again from here
    assert hook.settle(30000 + s(0.049)) is None
    assert hook.settle(30000 + s(0.05)) == 30000 and not hook.offhook


def _speech(seconds: float, dbfs: float = -20.0) -> np.ndarray:
    t = np.arange(s(seconds)) / RATE
    tone = (10 ** (dbfs / 20) * 32767 * np.sin(2 * np.pi * 700 * t)).astype(np.int16)
    return np.stack([tone, tone], axis=1)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros((s(seconds), 2), dtype=np.int16)


VOX = VoxSettings(start_dbfs=-40, stop_dbfs=-48, hang_s=1.0, min_burst_ms=150)


class Watched:
    """A watchdog fed in periods, as the line feeds it: what it said, chunk by chunk."""

    def __init__(self, grace_s: float = 2.0) -> None:
        self.dog = MonitorWatchdog(RATE, VOX, grace_s=grace_s)
        self.pos = 0

    def feed(self, chunks, healthy, offhook=False):
        events, warnings = [], []
        for frames in chunks:
            for i in range(0, len(frames), PERIOD):
                chunk = frames[i:i + PERIOD]
                got, warning = self.dog.feed(chunk, self.pos, healthy=healthy, offhook=offhook)
                self.pos += len(chunk)
                events += got
                warnings += [warning] if warning else []
        return events, warnings


def test_the_watchdog_lets_voice_stand_in_for_a_silent_monitor_and_hands_back():
    dog = Watched()
    events, warnings = dog.feed([_speech(1.0), _silence(1.0)], healthy=True)
    assert events == [] and warnings == [], "a monitor that answers rules alone"
    events, warnings = dog.feed([_silence(1.9)], healthy=False)
    assert events == [] and warnings == [], "within the grace time nothing changes"
    events, warnings = dog.feed([_silence(0.2)], healthy=False)
    assert warnings == [MONITOR_LOST]
    events, warnings = dog.feed([_speech(1.0), _silence(2.0)], healthy=False)
    assert [kind for kind, _ in events] == ["offhook", "onhook"] and warnings == []
    events, warnings = dog.feed([_speech(0.5)], healthy=True)
    assert events == [] and warnings == [MONITOR_BACK]


def test_a_call_in_progress_when_the_monitor_goes_ends_by_voice():
    dog = Watched()
    dog.feed([_speech(2.0)], healthy=True, offhook=True)
    events, warnings = dog.feed([_speech(2.5), _silence(1.5)], healthy=False, offhook=True)
    assert warnings == [MONITOR_LOST] and [kind for kind, _ in events] == ["onhook"]


# -- who called ----------------------------------------------------------------------------------------
def test_an_answered_ring_train_is_inbound_with_its_caller_id():
    who = WhoCalled(RATE, hears_rings=True)
    who.ring(s(1))
    who.caller_id(s(2), {"number": "5551234567", "name": "DOE JOHN"})
    who.ring(s(7))
    assert who.ringing(s(14)) and not who.ringing(s(16))
    assert who.answer(s(10)) == {"direction": "inbound", "remote_number": "5551234567", "remote_name": "DOE JOHN",
                                 "remote_withheld": False}
    assert who.answer(s(11)) == {"direction": "outbound"}, "the ring train is used up"


def test_a_call_long_after_the_rings_is_outbound_and_a_deaf_line_says_nothing():
    who = WhoCalled(RATE, hears_rings=True)
    who.ring(s(1))
    who.caller_id(s(2), {"number": "P", "withheld": True})
    assert who.answer(s(20)) == {"direction": "outbound"}
    assert WhoCalled(RATE, hears_rings=False).answer(s(1)) == {}


def test_caller_id_just_after_the_answer_goes_to_that_call():
    who = WhoCalled(RATE, hears_rings=True)
    who.ring(s(1))
    info = CallInfo(line=1, started_at=T0, **who.answer(s(3)))
    who.caller_id(s(4), {"number": "02079460000"})
    assert who.late_caller_id(s(4), s(3), info) == {"remote_number": "02079460000", "remote_name": None,
                                                     "remote_withheld": False}
    who.caller_id(s(30), {"number": "1"})
    assert who.late_caller_id(s(30), s(3), info) is None, "too late to belong to the answer"


# -- digits --------------------------------------------------------------------------------------------
def test_digits_heard_before_a_call_is_confirmed_go_to_it():
    digits = DialedDigits(RATE, lead_frames=s(0.1))
    digits.wait_for_call(s(0.0), "9")            # long before: dropped when newer ones come
    digits.wait_for_call(s(5.0), "1")
    digits.wait_for_call(s(5.5), "2")
    assert digits.take_for(s(5.55)) == [(s(5.5), "2")]
    assert digits.take_for(s(6)) == [], "taken once"
    assert dialed_after(CallInfo(1, T0, direction="outbound", dialed="02"), "0") == "020"
    assert dialed_after(CallInfo(1, T0, direction=None), "5") == "5"
    assert dialed_after(CallInfo(1, T0, direction="inbound"), "1") is None


def test_a_first_digit_soon_after_the_offhook_tells_an_unknown_call_is_outbound():
    unknown = CallInfo(1, T0)
    assert learnt_from_digit(unknown, "4", after_s=1.2) == {"direction": "outbound", "dialed": "4"}
    assert learnt_from_digit(unknown, "4", after_s=-0.05) == {"direction": "outbound", "dialed": "4"}, \
        "heard just before the debounced off-hook"
    assert learnt_from_digit(unknown, "4", after_s=DIAL_WINDOW_S + 0.1) == {"dialed": "4"}, "too late to be dialing"
    assert learnt_from_digit(CallInfo(1, T0, dialed="41"), "5", after_s=2.0) == {"dialed": "415"}, \
        "only the first digit decides: this call's came late"
    assert learnt_from_digit(CallInfo(1, T0, direction="inbound"), "1", after_s=1.0) == {}, "an answered call stays"
    assert learnt_from_digit(CallInfo(1, T0, direction="outbound", dialed="0"), "2", after_s=1.0) == {"dialed": "02"}


# -- consent ---------------------------------------------------------------------------------------------
class Speaker:
    """What a playback device was asked to play (the Player needs ALSA)."""

    def __init__(self):
        self.played = []

    def play(self, samples):
        self.played.append(len(samples))


def test_consent_beeps_once_or_every_interval():
    speaker = Speaker()
    consent = Consent(RATE, speaker)
    settings = {**SETTINGS, "consent": "periodic"}
    assert consent.begin(0, "off", inbound=True) is None and not consent.due(s(100))
    assert consent.begin(0, "start", inbound=True) is None and consent.due(0)
    assert consent.begin(s(1), "periodic", inbound=True) is None and consent.due(s(1))
    assert consent.play(s(1), settings) == [("beep", {"consent": "periodic", "hz": 1400.0, "ms": 500})]
    assert not consent.due(s(15.9)) and consent.due(s(16))
    consent.play(s(16.02), settings)
    assert consent.next_beep == s(31), "one interval after the last was due: no drift"
    assert consent.play(s(31), {**settings, "consent": "off"}) == [] and consent.next_beep is None, \
        "turned off during the call"
    assert speaker.played == [s(0.5)] * 2
    assert Consent(RATE, None).begin(0, "start", inbound=True) == NO_PLAYER


# -- the record policy ------------------------------------------------------------------------------------
SETTINGS = {"recording": True, "min_call_s": 2.0, "max_call_s": 3600.0, "consent": "off", "beep_interval_s": 15,
            "beep_hz": 1400.0, "beep_ms": 500, "beep_dbfs": -12.0}


def test_the_policy_drops_for_todays_rules_and_says_why():
    policy = RecordPolicy()
    info = CallInfo(line=1, started_at=T0)
    assert policy.at_offhook(info, SETTINGS) == KEEP
    off = policy.at_offhook(info, {**SETTINGS, "recording": False})
    assert off == Verdict(False, "recording is off for this line", {"rule": "recording-off"})
    # The event keeps the old text and gains the rule and its figures, for the pages to word.
    short = policy.at_end(info, 1.0, SETTINGS)
    assert short.detail() == {"reason": "shorter than min_call_s (1.00 s < 2 s)", "rule": "too-short",
                              "talk_s": 1.0, "min_call_s": 2}
    assert policy.at_end(info, 2.0, SETTINGS) == KEEP
    assert policy.at_end(CallInfo(line=1, started_at=T0, part=2), 0.5, SETTINGS) == KEEP, "the rest of a kept call"
    assert policy.on_update(info, SETTINGS) == KEEP


class NotThisNumber(Rule):
    """A rule of the kind a do-not-record list is."""

    def on_update(self, info, settings):
        if info.dialed and info.dialed.startswith("999"):
            return Verdict(False, "a number that is never recorded")
        return None


def test_the_first_rule_that_drops_decides():
    policy = RecordPolicy([NotThisNumber(), *RecordPolicy().rules])
    assert policy.on_update(CallInfo(1, T0, dialed="9991"), SETTINGS).reason == "a number that is never recorded"
    assert policy.on_update(CallInfo(1, T0, dialed="0201"), SETTINGS) == KEEP


# -- the call session --------------------------------------------------------------------------------------
class Bench:
    """A line's audio and session, driven by hand: tone on the office leg, another on the line."""

    def __init__(self, data, settings=None, policy=None, player=None):
        self.data = data
        self.db = dbmod.connect(data)
        self.clock = StreamClock(T0, RATE)
        self.audio = PrerollBuffer(s(3))
        self.settings = {**SETTINGS, **(settings or {})}
        self.events = EventLog(self.db, 1, self.clock)
        self.session = CallSession(
            line_id=1, recorder=Recorder(self.db, data, None, RATE, 32), audio=self.audio, clock=self.clock,
            events=self.events, consent=Consent(RATE, player), settings=self.settings, preroll_frames=s(1),
            lag_frames=s(0.07), has_callerid=False, policy=policy)
        self.pos = 0

    def run(self, seconds: float, near_hz: float = 440, far_hz: float = 1000, level: float = 0.25):
        for _ in range(s(seconds) // PERIOD):
            t = (self.pos + np.arange(PERIOD)) / RATE
            frames = np.stack([level * np.sin(2 * np.pi * near_hz * t), level * np.sin(2 * np.pi * far_hz * t)],
                              axis=1)
            self.audio.append((frames * 32767).astype(np.int16))
            self.pos += PERIOD
            self.session.heard(-10.0 if level else -120.0, -10.0 if level else -120.0)
            self.session.advance(self.pos)

    def offhook(self, who=None, digits=()):
        self.session.hook_changed(True, self.pos, self.pos, who or {"direction": "outbound"}, list(digits))

    def onhook(self):
        self.session.hook_changed(False, self.pos, self.pos, {}, [])

    def calls(self):
        return catalog.list_calls(self.db)

    def kinds(self):
        return [(e["kind"], e["detail"].get("reason")) for e in catalog.list_events(self.db)]


@pytest.fixture
def bench(tmp_path):
    b = Bench(tmp_path / "data")
    yield b
    b.db.close()


def test_a_call_is_recorded_from_the_preroll_to_the_onhook(bench):
    bench.run(2.0)
    bench.offhook()
    bench.run(3.0)
    bench.onhook()
    [call] = bench.calls()
    assert call["status"] == "complete" and call["duration_s"] == pytest.approx(3.0, abs=0.03)
    assert call["preroll_s"] == pytest.approx(1.0)
    audio, rate = soundfile.read(bench.data / call["path"])
    assert len(audio) / rate == pytest.approx(4.0 + 1105 / RATE, abs=0.1)     # + the codec's padding
    spectrum = np.abs(np.fft.rfft(audio[rate:3 * rate], axis=0))
    freqs = np.fft.rfftfreq(2 * rate, 1 / rate)
    assert freqs[spectrum[:, 0].argmax()] == pytest.approx(440, abs=5)      # office on the left
    assert freqs[spectrum[:, 1].argmax()] == pytest.approx(1000, abs=5)     # the line on the right


def test_a_short_call_is_discarded_with_its_reason(bench):
    bench.offhook()
    bench.run(1.0)
    bench.onhook()
    [call] = bench.calls()
    assert call["status"] == "discarded" and call["path"] is None
    assert ("discard", "shorter than min_call_s (1.00 s < 2 s)") in bench.kinds()
    [discard] = [e for e in catalog.list_events(bench.db) if e["kind"] == "discard"]
    assert discard["detail"]["rule"] == "too-short" and discard["detail"]["min_call_s"] == 2
    assert discard["detail"]["talk_s"] == pytest.approx(1.0, abs=0.01), "how long it was, for the pages"


def test_recording_off_logs_the_call_without_audio(tmp_path):
    bench = Bench(tmp_path / "data", {"recording": False})
    bench.offhook(digits=[(0, "5")])
    bench.run(3.0)
    bench.onhook()
    [call] = bench.calls()
    assert call["status"] == "discarded" and call["dialed"] == "5" and call["duration_s"] == pytest.approx(3.0)
    assert ("discard", "recording is off for this line") in bench.kinds()
    assert not list((tmp_path / "data").rglob("*.mp3*"))


def test_a_long_call_goes_on_in_linked_parts(tmp_path):
    bench = Bench(tmp_path / "data", {"max_call_s": 2.0})
    bench.offhook()
    bench.run(5.0)
    bench.onhook()
    parts = bench.calls()
    assert [p["part"] for p in parts] == [1, 2, 3]
    assert [p["previous_id"] for p in parts] == [None, parts[0]["id"], parts[1]["id"]]
    assert [p["duration_s"] for p in parts] == pytest.approx([2.0, 2.0, 1.0], abs=0.03)
    assert all(p["status"] == "complete" for p in parts), "a later part is never too short to keep"


def test_a_silent_part_means_a_stuck_input_and_recording_stops(tmp_path):
    bench = Bench(tmp_path / "data", {"max_call_s": 2.0})
    bench.offhook()
    bench.run(6.0, level=0.0)
    bench.onhook()
    [part] = bench.calls()
    assert part["status"] == "complete" and part["duration_s"] == pytest.approx(2.0)
    assert ("stuck", None) in bench.kinds()


def test_after_a_failed_write_recording_comes_back_in_a_linked_part(bench):
    bench.offhook()
    bench.run(2.5)
    bench.session.failed(OSError(5, "Input/output error"), bench.pos, offhook=True)
    first = bench.calls()[0]
    assert first["status"] == "recording", "left for recovery"
    bench.run(4.0)
    assert bench.session.retry.due(bench.pos - s(0.1)) is None
    bench.run(1.1)
    at = bench.session.retry.due(bench.pos)
    assert at is not None
    bench.session.resume(at)
    bench.run(3.0)
    bench.onhook()
    first, second = bench.calls()
    assert second["previous_id"] == first["id"] and second["part"] == 2 and second["status"] == "complete"
    assert [k for k, _ in bench.kinds()] == ["offhook", "error", "resumed", "onhook"]


def test_a_write_that_found_the_disk_full_finishes_the_part_at_once_cut_short(bench):
    bench.offhook()
    bench.run(2.5)
    bench.session.failed(OSError(28, "No space left on device"), bench.pos, offhook=True)
    [first] = bench.calls()
    assert (first["status"], first["cut_short"]) == ("complete", "disk-full"), "finished now, not at the next start"
    bench.run(5.1)
    bench.session.resume(bench.session.retry.due(bench.pos))
    bench.run(3.0)
    bench.onhook()
    first, second = bench.calls()
    assert second["previous_id"] == first["id"] and second["cut_short"] is None
    assert [k for k, _ in bench.kinds()] == ["offhook", "cut-short", "error", "resumed", "onhook"]


def test_a_capture_outage_keeps_what_was_recorded_and_resumes_after_it(bench):
    bench.offhook()
    bench.run(0.5)
    bench.session.interrupted("line1", "unplugged", bench.pos)
    [first] = bench.calls()
    assert first["status"] == "complete" and first["duration_s"] == pytest.approx(0.5), "kept, however short"
    bench.session.retry.device_back(bench.pos, offhook=True)
    bench.session.resume(bench.session.retry.due(bench.pos))
    bench.run(2.0)
    bench.onhook()
    assert bench.calls()[1]["previous_id"] == first["id"]


def test_a_call_hung_up_during_an_outage_gets_its_onhook(bench):
    bench.offhook()
    bench.run(2.5)
    bench.session.interrupted("line1", "unplugged", bench.pos)
    bench.onhook()
    assert bench.kinds()[-1] == ("onhook", "hung up before recording could resume")


def test_the_policy_asked_again_when_digits_come_drops_the_call(tmp_path):
    bench = Bench(tmp_path / "data", policy=RecordPolicy([NotThisNumber(), *RecordPolicy().rules]))
    bench.offhook()
    bench.run(1.0)
    for digit in "9991":
        bench.session.digit(bench.pos, digit)
        bench.run(0.2)
    bench.run(2.0)
    bench.onhook()
    [call] = bench.calls()
    assert call["status"] == "discarded" and call["dialed"] == "999" and call["path"] is None
    assert ("discard", "a number that is never recorded") in bench.kinds()
    assert [k for k, _ in bench.kinds()].count("discard") == 1
    assert not list((tmp_path / "data").rglob("*.mp3*")), "what was recorded before is gone"


def test_dialing_makes_a_call_of_unknown_direction_outbound_at_once(bench):
    bench.offhook(who={"direction": None})
    bench.run(1.5)
    assert bench.calls()[0]["direction"] is None, "a line that hears no rings cannot tell at the off-hook"
    for digit in "4155550123":
        bench.session.digit(bench.pos, digit)
        bench.run(0.14)
    [call] = bench.calls()
    assert (call["status"], call["direction"], call["dialed"]) == ("recording", "outbound", "4155550123"), \
        "the catalog row says so while the call is recorded"
    bench.run(2.0)
    bench.onhook()
    [call] = bench.calls()
    assert call["direction"] == "outbound" and "_out_4155550123_" in call["path"]
    [learnt] = [e for e in catalog.list_events(bench.db) if e["kind"] == "direction"]
    assert learnt["call_id"] == call["id"]
    assert learnt["detail"] == {"direction": "outbound", "learnt_from": "dialing", "after_s": 1.5}


def test_digits_late_in_a_call_or_on_an_answered_call_change_no_direction(tmp_path):
    late = Bench(tmp_path / "late")
    late.offhook(who={"direction": None})
    late.run(DIAL_WINDOW_S + 1)
    late.session.digit(late.pos, "1")          # a menu choice, or a transfer
    late.run(1.0)
    late.onhook()
    answered = Bench(tmp_path / "answered")
    answered.offhook(who={"direction": "inbound"})
    answered.run(1.0)
    answered.session.digit(answered.pos, "1")
    answered.run(2.0)
    answered.onhook()
    for bench, direction, name in ((late, None, "_call_"), (answered, "inbound", "_in_")):
        [call] = bench.calls()
        assert call["direction"] == direction and name in call["path"]
        assert "direction" not in [k for k, _ in bench.kinds()]
        bench.db.close()


def test_periodic_consent_beeps_are_events(tmp_path):
    speaker = Speaker()
    bench = Bench(tmp_path / "data", {"consent": "periodic", "beep_interval_s": 2}, player=speaker)
    bench.offhook(who={"direction": "inbound"})
    bench.run(5.0)
    bench.onhook()
    beeps = [e for e in catalog.list_events(bench.db) if e["kind"] == "beep"]
    assert len(beeps) == len(speaker.played) == 3
    assert beeps[0]["detail"] == {"consent": "periodic", "hz": 1400.0, "ms": 500}
    quiet = Bench(tmp_path / "data2", {"consent": "start"})
    quiet.offhook()
    assert ("warning", None) in quiet.kinds()
    quiet.db.close()


# -- a recording's chain of frame stages --------------------------------------------------------------
class MuteOffice:
    """A stage that hands the next ones other frames (as masking keyed digits will)."""

    def feed(self, frames):
        out = frames.copy()
        out[:, 0] = 0
        return out


def test_a_stage_in_the_chain_changes_what_the_peaks_and_the_encoder_get(tmp_path):
    from appliance.recording.call import CallRecording
    from appliance.store.peaks import load_peaks
    data = tmp_path / "data"
    db = dbmod.connect(data)
    rec = CallRecording(db, data, CallInfo(line=1, started_at=T0), sample_rate=RATE, bitrate_kbps=32, preroll_s=0)
    assert [type(stage).__name__ for stage in rec.stages] == ["PeakMeter", "EncoderStage"]
    rec.stages.insert(0, MuteOffice())
    t = np.arange(s(3)) / RATE
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    for i in range(0, len(t), PERIOD):
        rec.write(np.stack([tone[i:i + PERIOD], tone[i:i + PERIOD]], axis=1))
    rec.finish(T0 + 3, 3.0)
    call = catalog.get_call(db, rec.id)
    audio, _ = soundfile.read(data / call["path"])
    assert np.abs(audio[:, 0]).max() < 0.01 and np.abs(audio[:, 1]).max() > 0.2
    peaks = load_peaks(db, rec.id)
    assert max(peaks["near"]) <= 1 and max(peaks["far"]) > 50
    db.close()


# -- levels ---------------------------------------------------------------------------------------
def test_levels_are_each_legs_rms_in_dbfs_with_a_floor_for_digital_silence():
    t = np.arange(8000) / 8000
    near = np.round(np.sin(2 * np.pi * 440 * t) * 16384).astype(np.int16)   # half scale: RMS -9.0 dBFS
    frames = np.stack([near, np.zeros_like(near)], axis=1)
    assert dbfs(frames) == (-9.0, -120.0)
    assert dbfs(np.full((160, 2), -32768, dtype=np.int16)) == (0.0, 0.0)
    assert dbfs(frames[:0]) == (-120.0, -120.0)


def test_chunks_wait_for_a_batch_and_keep_their_own_levels():
    """A batch is BATCH_S of audio; its levels are the last chunk's (the meters) and each leg's
    loudest chunk (the call's loudest level), not the level of the batch as a whole."""
    chunks = CapturedChunks(RATE, 160)
    assert chunks.batch_frames == round(BATCH_S * RATE) == 2000
    loud_near = np.stack([np.full(160, 16384), np.full(160, 1024)], axis=1).astype(np.int16)
    loud_far = np.stack([np.full(160, 512), np.full(160, 8192)], axis=1).astype(np.int16)
    quiet = np.zeros((160, 2), dtype=np.int16)
    assert not chunks
    sequence = [loud_near, quiet, loud_far] + [quiet] * 9
    assert [chunks.add(c) for c in sequence] == [False] * 12
    assert chunks.add(np.full((160, 2), 64, dtype=np.int16)), "the 13th period completes 2000 frames"
    frames, last, loudest = chunks.take()
    assert len(frames) == 13 * 160 and not chunks
    assert last == dbfs(np.full((160, 2), 64, dtype=np.int16)) == (-54.2, -54.2)
    assert loudest == (dbfs(loud_near)[0], dbfs(loud_far)[1]) == (-6.0, -12.0)
    _, last, loudest = (chunks.add(quiet), chunks.take())[1]
    assert last == loudest == (-120.0, -120.0)


def test_numpy_starts_no_helper_threads_in_the_recorder():
    code = "import appliance.daemon, os; print(len(os.listdir('/proc/self/task')))"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "1"
