"""Events and reasons as an owner reads them: every kind the recorder writes has its sentence, a
ring train and a run of dialed digits are one row each, what people did to a call joins its
story, and no sentence shows a field name, a device path or a `None`."""
from __future__ import annotations

import re

import pytest

from appliance.line.consent import NO_PLAYER
from appliance.line.hook_state import MONITOR_BACK, MONITOR_LOST
from appliance.line.policy import RecordPolicy
from appliance.line.session import INBOUND_WITHOUT_CALLER_ID
from appliance.present import events, reasons, timeline, words
from appliance.recording.call import CallInfo
from appliance.store.kinds import EVENT_KINDS, Event

T0 = "2026-03-15T14:12:00.000Z"
CALL = "c0ffee0001"
MODEM = {"device": "/dev/ttyACM0", "device_kind": "modem"}


def at(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"2026-03-15T14:{12 + int(minutes):02d}:{secs:06.3f}Z"


def ev(kind: str, seconds: float = 0.0, call_id: str | None = CALL, **detail) -> dict:
    return {"line": 1, "call_id": call_id, "at": at(seconds), "kind": kind, "detail": detail}


def say(kind: str, ctx: events.Context | None = None, **detail) -> str:
    return events.sentence(ev(kind, **detail), ctx)


# What the recorder writes for each kind (appliance/line, recording/recover.py, store/), and how it reads.
EVERY_KIND = [
    (ev(Event.OFFHOOK, preroll_s=1.0, direction="inbound"), "Answered"),
    (ev(Event.OFFHOOK, preroll_s=1.0, direction="outbound"), "Picked up to make a call"),
    (ev(Event.OFFHOOK, preroll_s=1.0, direction=None), "Picked up"),
    (ev(Event.OFFHOOK, recording=False, direction=None), "Picked up, not recorded"),
    (ev(Event.ONHOOK, duration_s=252.4), "Hung up after 4:12"),
    (ev(Event.ONHOOK, duration_s=5.6, reason="recorder stopped"), "Recording ended after 0:06: the recorder was stopped"),
    (ev(Event.ONHOOK, reason="hung up before recording could resume"), "Hung up before recording could resume"),
    (ev(Event.RING, call_id=None, device="/dev/ttyACM0"), "Rang once"),
    (ev(Event.CALLERID, call_id=None, number="4155550123", name="ACME PLUMBING", withheld=False,
        withheld_reason=None, raw=["NMBR = 4155550123"], device="/dev/ttyACM0"),
     "Caller ID: ACME PLUMBING, (415) 555-0123"),
    (ev(Event.CALLERID, number=None, name=None, withheld=True, withheld_reason="private"),
     "Caller ID: the number is withheld"),
    (ev(Event.CALLERID, number=None, name="O", withheld=True, withheld_reason="unavailable"),
     "Caller ID: O, no number (out of area or unavailable)"),
    (ev(Event.DIGIT, digit="5"), "Dialed 5"),
    (ev(Event.BEEP, consent="periodic"), "Recording notice played"),
    (ev(Event.ANNOUNCEMENT, consent="announcement", duration_s=8.5), "Announcement played: this call is recorded"),
    (ev(Event.WARNING, message="the announcement is on but none has been uploaded: the tone was played instead"),
     "The recording notice is set to the announcement, but none has been uploaded: the tone was played instead"),
    (ev(Event.PAUSED, by="web", user="ann"), "Recording paused by ann (web page)"),
    (ev(Event.PAUSED, by="keypad"), "Recording paused by a code keyed on the handset"),
    (ev(Event.PAUSED, by="button", continued=True), "Still paused: the pause goes on from the part before"),
    (ev(Event.RESUME, by="console", user="console:bob", after_s=65.0), "Recording resumed by bob (console) after 1 minute 5 seconds"),
    (ev(Event.RESUME, by="timer", after_s=180.0, automatic=True),
     "Recording resumed by itself after 3 minutes, the longest pause allowed"),
    (ev(Event.RESUME, by="api", user="ann", after_s=12.0, automatic=True, ended="call-end"),
     "The pause ended with the call after 12 seconds"),
    (ev(Event.MASKED, keys=16), "16 keys typed on the keypad cut out of the recording"),
    (ev(Event.SPLIT, previous_id="c0ffee0000", part=2, reason="longer than max_call_s (3600 s)", max_call_s=3600),
     "Part 2 begins: the call goes on from the part before (a recording is cut every 1 hour)"),
    (ev(Event.STUCK, loudest_dbfs=-88.2, silent_s=3600.0, message="off-hook for 3600 s of silence: ..."),
     "Only silence for 1 hour: the phone may have been left off the hook, or the hook sensor is stuck. "
     "Recording paused until it is hung up"),
    (ev(Event.RESUMED, previous_id="c0ffee0000"),
     "Recording resumed after an interruption: this part goes on from the one before"),
    (ev(Event.DISCARD, **RecordPolicy().at_end(CallInfo(line=1, started_at=0.0), 1.0,
                                                {"min_call_s": 2.0, "recording": True}).detail()),
     "Too short to keep: 1 second of talk, the minimum is 2 seconds"),
    (ev(Event.RECOVERED, audio_s=42.3, cut_bytes=417), "Finished after the recorder stopped unexpectedly: 0:42 of audio saved"),
    (ev(Event.RECONCILED, action="adopt", path="recordings/x.mp3"),
     "The store check found this recording with no entry in the catalog and added it back"),
    (ev(Event.RECONCILED, action="relink", path="recordings/x.mp3", was="recordings/y.mp3"),
     "The store check found this recording's file under another name and linked it back"),
    (ev(Event.GAP, offset=16416, bytes=4320, at_s=64.1, lost_s=1.08),
     "1.1 seconds of audio at 1:04 could not be read after the recorder stopped unexpectedly; it is replaced by "
     "silence and the rest was kept"),
    (ev(Event.DELETED, reason="deleted by alice", by="alice"), "Deleted by alice"),
    (ev(Event.DEVICE_ERROR, call_id=None, device="hw:CARD=Line1", device_kind="capture", error="No such device"),
     "The audio interface stopped responding"),
    (ev(Event.DEVICE_ERROR, call_id=None, device="hw:CARD=Line1,DEV=1", device_kind="playback", error="EIO"),
     "The speaker output for the recording notice stopped responding"),
    (ev(Event.DEVICE_ERROR, call_id=None, **MODEM, error="the modem refused", refused=["AT+VCID=1", "AT#CID=1"]),
     "The caller-ID modem took none of its caller-ID commands: rings still count, but no caller ID will show"),
    (ev(Event.DEVICE_ERROR, call_id=None, device="/dev/ttyUSB1", device_kind="line monitor", error="EIO"),
     "The hook monitor stopped responding"),
    (ev(Event.DEVICE_ERROR, call_id=None, device="hook", device_kind="hook", error="GPIO busy"),
     "The hook sensor could not be started"),
    (ev(Event.DEVICE_OK, call_id=None, **MODEM, modem="U.S. Robotics", init="AT+VCID=1"), "The caller-ID modem is ready"),
    (ev(Event.DEVICE_OK, call_id=None, device="hw:CARD=Line1", device_kind="capture"), "The audio interface is working"),
    (ev(Event.XRUN, call_id=None, lost_frames=160), "A moment of audio was lost: the recorder fell behind"),
    (ev(Event.XRUN, lost_frames=25600, lost_s=3.2), "3.2 seconds of audio was lost: the recorder fell behind"),
    (ev(Event.ERROR, error="OSError: [Errno 28] No space left on device", note="..."),
     "Saving the recording failed because the disk is full. What was recorded is kept, "
     "and finished when the recorder starts again"),
    (ev(Event.ERROR, error="DiskFull: [Errno 28] the data disk is full: ...", cause="disk-full", note="..."),
     "Saving the recording stopped because the disk is full. What was recorded up to then is kept and can be "
     "played; recording goes on in a linked part when there is room again"),
    (ev(Event.CUT_SHORT, cause="disk-full", audio_s=41.3),
     "Recording cut short because the disk was full: what was recorded up to then (0:41 of audio) is kept"),
    (ev(Event.WARNING, message=INBOUND_WITHOUT_CALLER_ID),
     "A call came in without caller ID: check that the line has caller ID and that the modem took its "
     "caller-ID command"),
    (ev(Event.WARNING, message=NO_PLAYER), "The recording notice is on, but this line has no speaker output to play it"),
    (ev(Event.WARNING, message=MONITOR_LOST), "The hook monitor is not answering: calls start and end by voice until it is back"),
    (ev(Event.WARNING, message=MONITOR_BACK), "The hook monitor answers again"),
    (ev(Event.WARNING, call_id=None, code="disk-nearly-full", message="the disk is nearly full (...)", free_pct=3.2,
        reserve_pct=5, held_recordings=12),
     "The disk is nearly full (3.2% free): every recording left is kept on hold. Release holds, or export and "
     "delete calls"),
    (ev(Event.SERIAL_GARBAGE, call_id=None, **MODEM, sample="\x00\x7f~~", count=3, reason="not text"),
     "The caller-ID modem sent 3 unreadable lines: check its cable and speed (baud rate)"),
    (ev("direction", direction="outbound", learnt_from="dialing", after_s=1.5), "An outgoing call: a number was dialed"),
    (ev(Event.WATCHDOG, call_id=None, silent_s=31.4, device="hw:CARD=Line1", thread="running"),
     "The recorder was restarted: the audio interface had sent nothing for 31.4 seconds"),
    (ev(Event.WATCHDOG, call_id=None, silent_s=0.0, device="hw:CARD=Line1", thread="ended"),
     "The recorder was restarted: this line's recording had stopped"),
    (ev(Event.EXPORT, call_id=None, outcome="refused", via="button", code="no-stick",
        message="No USB stick is plugged in: plug one into the box and try again."),
     "No USB stick is plugged in: plug one into the box and try again"),
]


@pytest.mark.parametrize("event, sentence", EVERY_KIND, ids=[f"{e['kind']}-{i}" for i, (e, _) in enumerate(EVERY_KIND)])
def test_each_event_reads_as_a_sentence(event, sentence):
    assert events.sentence(event, events.Context(call_id=CALL)) == sentence


def test_every_kind_the_catalog_knows_has_its_own_sentence():
    assert {e["kind"] for e, _ in EVERY_KIND} >= set(EVENT_KINDS)
    assert set(events.SENTENCES) | set(events.LINKED) >= set(EVENT_KINDS)


def test_no_sentence_shows_field_names_paths_or_none():
    for event, _ in EVERY_KIND:
        text = events.sentence(event)
        assert not re.search(r"\w=|None|/dev/|hw:|AT\+|dBFS|_s\b|min_call_s|max_call_s", text), text


def test_an_unknown_kind_still_reads_sensibly():
    assert say("direction-change", message="dialing heard: outbound") == "Direction change: dialing heard: outbound"
    assert say("brownout", volts=4.6) == "Brownout"
    assert events.sentence({"kind": None, "detail": "not a dict"}) == "Something happened"


def test_the_next_parts_split_says_the_call_goes_on_there():
    split = ev(Event.SPLIT, call_id="c0ffee0002", previous_id=CALL, part=2, reason="longer than max_call_s (1800 s)")
    assert events.sentence(split, events.Context(call_id=CALL)) == \
        "Recording split: continues in part 2 (a recording is cut every 30 minutes)"
    resumed = ev(Event.RESUMED, call_id="c0ffee0002", previous_id=CALL)
    assert events.sentence(resumed, events.Context(call_id=CALL)) == \
        "Recording interrupted: the call goes on in the next part"


def test_old_events_without_their_new_fields_read_the_same():
    old_capture = ev(Event.DEVICE_ERROR, device="line1", error="device gone")         # no device_kind yet
    assert events.sentence(old_capture) == "The audio interface stopped responding"
    old_modem = ev(Event.DEVICE_OK, device="/dev/ttyACM0", modem="x", modem_info=None, init="AT+VCID=1")
    assert events.sentence(old_modem) == "The caller-ID modem is ready"
    assert events.sentence(ev(Event.SERIAL_GARBAGE, device="/dev/ttyUSB0", count=1)) == \
        "A serial device sent 1 unreadable line: check its cable and speed (baud rate)"
    old_stuck = ev(Event.STUCK, message="off-hook for 120 s of silence: the hook input looks stuck")
    assert events.sentence(old_stuck).startswith("Only silence for 2 minutes:")
    assert events.sentence(ev(Event.SPLIT, part=3, reason="longer than max_call_s (3600 s)")).endswith(
        "(a recording is cut every 1 hour)")


def test_a_split_part_hangs_up_into_its_own_part():
    assert say(Event.ONHOOK, events.Context(part=2), duration_s=61) == "Hung up, 1:01 into part 2"


@pytest.mark.parametrize("digits, region, shown", [
    ("0123456789", "US", "0123 456 789"),           # not a number here: grouped for reading
    ("4155550123", "US", "(415) 555-0123"),
    ("02079460958", "GB", "020 7946 0958"),
    ("911", "US", "911"), ("*69", "US", "*69"), ("12345", "US", "12 345"), ("", "US", ""),
])
def test_dialed_digits_are_grouped_for_reading(digits, region, shown):
    assert events.dialed(digits, region) == shown


# -- reasons ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, detail, said", [
    # As the recorder and retention write them today (text and fields)...
    (Event.DISCARD, {"reason": "recording is off for this line", "rule": "recording-off"},
     "Recording is turned off for this line"),
    (Event.DISCARD, {"reason": "shorter than min_call_s (1.96 s < 2 s)", "rule": "too-short", "talk_s": 1.96,
                     "min_call_s": 2}, "Too short to keep: 1.96 seconds of talk, the minimum is 2 seconds"),
    (Event.DISCARD, {"rule": "too-short", "talk_s": 0.4, "min_call_s": 2.5},
     "Too short to keep: 0.4 seconds of talk, the minimum is 2.5 seconds"),
    (Event.DELETED, {"reason": "retention: older than 90 days", "by": None, "rule": "retention", "days": 90},
     "Deleted by retention: older than 90 days"),
    (Event.DELETED, {"reason": "disk guard: free space below 5%", "by": None, "rule": "disk-guard", "reserve_pct": 5},
     "Deleted to free disk space: less than 5% of the disk was free"),
    (Event.DELETED, {"reason": "deleted by Alice", "by": "Alice"}, "Deleted by Alice"),
    (Event.DELETED, {"reason": "asked by the customer", "by": "alice"}, "Deleted by alice: asked by the customer"),
    (Event.DELETED, {"reason": "tidy", "by": "console:root"}, "Deleted by root at the console: tidy"),
    # ...and as older catalogs have them, text alone.
    (Event.DISCARD, {"reason": "shorter than min_call_s (1.00 s < 2 s)"},
     "Too short to keep: 1 second of talk, the minimum is 2 seconds"),
    (Event.DISCARD, {"reason": "recording is off for this line"}, "Recording is turned off for this line"),
    (Event.DISCARD, {"reason": "recovered after a crash, but no audio had reached the disk"},
     "The recorder stopped unexpectedly before any audio reached the disk"),
    (Event.DISCARD, {"reason": "recovered after a crash, but no audio could be read; the file is kept as "
                               "quarantine/c0ffee.mp3.part", "rule": "crash-unreadable",
                     "quarantined": "quarantine/c0ffee.mp3.part", "bytes": 20000},
     "The recorder stopped unexpectedly and no audio in its file could be read. The file is kept in the "
     "quarantine folder for a technician"),
    (Event.DISCARD, {"reason": "recovered after a crash, but the recording file was never written",
                     "rule": "crash-no-file"},
     "The recorder stopped unexpectedly before the recording file was written"),
    (Event.DISCARD, {"reason": "not recorded: the data disk is full, and what is left is kept for the catalog",
                     "rule": "no-room"},
     "Not recorded: the data disk was full (what was left is kept for the catalog)"),
    (Event.DELETED, {"reason": "the file recordings/x.mp3 was missing when the store was checked",
                     "rule": "missing-file", "by": "store check"},
     "The recording's file was missing when the store was checked"),
    (Event.DELETED, {"reason": "retention: older than 1 day"}, "Deleted by retention: older than 1 day"),
    (Event.DELETED, {"reason": "disk guard: free space below 10%"},
     "Deleted to free disk space: less than 10% of the disk was free"),
    (Event.DELETED, {"reason": "deleted by bob"}, "Deleted by bob"),
    # A reason no rule knows, and none at all.
    (Event.DISCARD, {"reason": "a number that is never recorded"}, "A number that is never recorded"),
    (Event.DELETED, {"reason": "migrated away"}, "Deleted: migrated away"),
    (Event.DISCARD, {}, "No reason was recorded"),
    (Event.DISCARD, None, "No reason was recorded"),
])
def test_reasons_in_plain_words(kind, detail, said):
    assert reasons.why_not_kept(kind, detail) == said


def test_the_recorders_own_texts_read_in_plain_words():
    """The reasons as the real rules and retention write them, never a setting's name."""
    policy = RecordPolicy()
    info = CallInfo(line=1, started_at=0.0)
    off = policy.at_offhook(info, {"recording": False, "min_call_s": 2.0})
    assert reasons.why_not_kept(Event.DISCARD, off.detail()) == "Recording is turned off for this line"
    for talk, said in ((1.0, "1 second"), (0.25, "0.2 seconds"), (4.5, "4.5 seconds")):
        short = policy.at_end(info, talk, {"recording": True, "min_call_s": 5})
        assert reasons.why_not_kept(Event.DISCARD, short.detail()) == \
            f"Too short to keep: {said} of talk, the minimum is 5 seconds"
        assert reasons.why_not_kept(Event.DISCARD, {"reason": short.reason}) == \
            f"Too short to keep: {said} of talk, the minimum is 5 seconds"


# -- the rows of a call's story -------------------------------------------------------------------
def texts(rows: list[timeline.Row]) -> list[str]:
    return [r.text for r in rows]


def test_a_ring_train_and_a_dialing_run_are_one_row_each():
    story = [ev(Event.RING, 0.0, None), ev(Event.CALLERID, 1.5, None, number="4155550123", name="ACME PLUMBING"),
             ev(Event.RING, 6.0, None), ev(Event.OFFHOOK, 8.0, direction="inbound"),
             *[ev(Event.DIGIT, 10 + 0.3 * i, digit=d) for i, d in enumerate("0123456789")],
             ev(Event.DIGIT, 30.0, digit="1"),                   # much later: a menu choice, its own row
             ev(Event.ONHOOK, 260.4, duration_s=252.4)]
    rows = timeline.rows(story, events.Context(call_id=CALL, started_at=at(8.0)))
    assert texts(rows) == ["Rang twice", "Caller ID: ACME PLUMBING, (415) 555-0123", "Answered",
                           "Dialed 0123 456 789", "Dialed 1", "Hung up after 4:12"]
    assert rows[0].at == at(0.0) and rows[3].at == at(10.0), "a run is shown when it began"


def test_rings_that_were_another_calls_are_left_out():
    earlier = [ev(Event.RING, 0.0, None), ev(Event.CALLERID, 3.0, None, number="5551234567"),
               ev(Event.DEVICE_OK, 0.0, None, device="x", device_kind="capture")]
    # Picked up 12 s after the caller ID: an earlier call answered that train.
    rows = timeline.rows([*earlier, ev(Event.OFFHOOK, 12.0), ev(Event.ONHOOK, 13.0, duration_s=1.0)],
                         events.Context(call_id=CALL, started_at=at(12.0)))
    assert texts(rows) == ["Picked up", "Hung up after 0:01"], "a device ready at the start is no news"
    # An outgoing call answered no ring, however close.
    rows = timeline.rows([ev(Event.RING, 0.0, None), ev(Event.OFFHOOK, 5.0)],
                         events.Context(call_id=CALL, started_at=at(5.0), direction="outbound"))
    assert texts(rows) == ["Picked up to make a call"]
    # A long train answered at its end is all this call's.
    train = [ev(Event.RING, 6.0 * i, None) for i in range(6)]
    rows = timeline.rows([*train, ev(Event.OFFHOOK, 32.0)], events.Context(call_id=CALL, started_at=at(32.0)))
    assert texts(rows) == ["Rang 6 times", "Picked up"]


def test_a_device_back_after_failing_says_so():
    rows = timeline.rows([ev(Event.DEVICE_ERROR, 0.0, None, device="hw:1", device_kind="capture", error="gone"),
                          ev(Event.DEVICE_OK, 1.0, None, device="/dev/ttyACM0", device_kind="modem"),
                          ev(Event.DEVICE_OK, 5.0, None, device="hw:1", device_kind="capture"),
                          ev(Event.DEVICE_OK, 9.0, None, device="hw:1", device_kind="capture")])
    assert texts(rows) == ["The audio interface stopped responding", "The audio interface is working again"]
    assert [r.tone for r in rows] == ["bad", "ok"]


def test_what_people_did_joins_the_story_in_time_order():
    audit = [{"id": 3, "at": at(90), "user": "bob", "action": "note", "detail": {"length": 12}},
             {"id": 1, "at": at(30), "user": "alice", "action": "hold", "detail": {}},
             {"id": 2, "at": at(60), "user": "alice", "action": "note", "detail": {"length": 5}},
             {"id": 4, "at": at(120), "user": "console:root", "action": "release", "detail": None},
             {"id": 5, "at": at(150), "user": "bob", "action": "note", "detail": {"length": 0}},
             {"id": 6, "at": at(20), "user": "carol", "action": "listen", "detail": {}}]   # not the call's story
    rows = timeline.rows([ev(Event.OFFHOOK, 0.0), ev(Event.ONHOOK, 10.0, duration_s=10.0)],
                         events.Context(call_id=CALL), audit)
    assert texts(rows) == ["Picked up", "Hung up after 0:10",
                           "Kept by alice: retention and deletion skip this call",
                           "Note written by alice", "Note changed by bob",
                           "Hold released by root at the console: the call follows the retention settings again",
                           "Note removed by bob"]
    assert [r.kind for r in rows][2:4] == ["audit-hold", "audit-note"]


def test_rows_from_a_tampered_catalog_still_render():
    rows = timeline.rows([{"at": "yesterday", "kind": Event.ONHOOK, "call_id": CALL, "detail": "[1]"},
                          ev(Event.DIGIT, 1.0, digit=None)])
    assert texts(rows) == ["Hung up", "Dialed "]


@pytest.mark.parametrize("seconds, said", [
    (1, "1 second"), (2, "2 seconds"), (1.5, "1.5 seconds"), (59.94, "59.9 seconds"), (60, "1 minute"),
    (65, "1 minute 5 seconds"), (3600, "1 hour"), (5400, "1 hour 30 minutes"), (7200, "2 hours"),
])
def test_lengths_of_time_in_words(seconds, said):
    assert words.span(seconds) == said


def test_a_pause_left_open_by_a_killed_recorder_lasts_to_the_end_of_the_recovered_file():
    """The recorder was killed mid-pause: no resume was logged, the recovered file holds the
    silence to its end, and the call's page must not say it is still paused."""
    from appliance.present.pause_events import CUT_OFF, windows
    call = {"id": "c1", "started_at": "2026-01-01T09:00:00.500Z", "preroll_s": 0.5, "duration_s": 4.25}
    paused = [{"call_id": "c1", "kind": "paused", "at": "2026-01-01T09:00:02.880Z", "detail": {"by": "console"}}]
    [window] = windows({**call, "status": "recovered"}, paused)
    assert (window["start_s"], window["length_s"], window["ended"]) == (2.88, 1.87, CUT_OFF)
    [live] = windows({**call, "status": "recording"}, paused)
    assert live["length_s"] is None, "a call in progress is still paused"
