"""The audit log in plain words (appliance/present/audit.py): every action Hookline writes, with
the details the web page and the `hookline` command give it, reads as a sentence, in the box's
zone and region, and names the call it is about; an entry it does not know still reads."""
from __future__ import annotations

import zoneinfo

import pytest

from appliance.present import audit as words
from appliance.store import audit as auditmod, box

ZONE = zoneinfo.ZoneInfo("America/Los_Angeles")
BOX = box.BoxFacts(timezone="America/Los_Angeles", phone_region="US",
                   lines={1: box.LineFacts(1, "Front desk", "gpio", playback=True), 2: box.LineFacts(2, "Line 2")})
CALLS = {
    "c-in": {"id": "c-in", "line": 1, "direction": "inbound", "started_at": "2026-03-04T22:12:30.000Z",
             "remote_number": "4155550123", "dialed": None, "remote_withheld": 0},
    "c-out": {"id": "c-out", "line": 2, "direction": "outbound", "started_at": "2026-03-05T17:01:00.000Z",
              "remote_number": None, "dialed": "+442079460958", "remote_withheld": 0},
    "c-quiet": {"id": "c-quiet", "line": 2, "direction": None, "started_at": "2026-03-05T17:30:00.000Z",
                "remote_number": None, "dialed": None, "remote_withheld": 0},
    "c-hidden": {"id": "c-hidden", "line": 1, "direction": "inbound", "started_at": "2026-03-05T18:00:00.000Z",
                 "remote_number": None, "dialed": None, "remote_withheld": 1},
}
CTX = words.Context(BOX, ZONE, CALLS)
AT = "2026-03-06T12:00:00.000Z"
CONSOLE = {"via": "console", "os_user": "root", "sudo_user": "alice"}


def said(action, target=None, user="bob", **detail) -> words.Said:
    return words.describe({"id": 7, "at": AT, "user": user, "action": action, "target": target, "detail": detail},
                          CTX)


# (action, target, user, detail) as the web app and the command write them -> what it says
CASES = [
    ("login", None, "bob", {}, "Logged in"),
    ("login-failed", "bob", None, {"reason": "wrong name or password"}, "Failed login as 'bob' (wrong name or password)"),
    ("logout", None, "bob", {}, "Logged out"),
    ("logout", "bob", "bob", {"sessions_ended": 2, "everywhere_else": True}, "Logged out of 2 other sessions"),
    ("listen", "c-in", "bob", {}, "Listened to the call from (415) 555-0123 of 4 Mar 14:12"),
    ("download", "c-out", "bob", {}, "Downloaded the call to +44 20 7946 0958 of 5 Mar 09:01"),
    ("delete", "c-quiet", "bob", {"started_at": "2026-03-05T17:30:00.000Z", "line": 2, "sha256": "ab"},
     "Deleted the call on Line 2 of 5 Mar 09:30"),
    ("delete", "c-in", "console:root", {"reason": "retention: older than 90 days", "by": "retention sweep", **CONSOLE},
     "Deleted the call from (415) 555-0123 of 4 Mar 14:12 (retention rule: older than 90 days)"),
    ("hold", "c-in", "bob", {}, "Kept the call from (415) 555-0123 of 4 Mar 14:12"),
    ("release", "c-hidden", "bob", {}, "Released the hold on the call from a withheld number of 5 Mar 10:00"),
    ("note", "c-in", "bob", {"length": 12}, "Wrote a note on the call from (415) 555-0123 of 4 Mar 14:12"),
    ("note", "c-in", "bob", {"length": 0}, "Removed the note on the call from (415) 555-0123 of 4 Mar 14:12"),
    ("pause", "c-in", "bob", {"line": 1}, "Paused the recording of the call from (415) 555-0123 of 4 Mar 14:12"),
    ("resume", "c-out", "bob", {"line": 2}, "Resumed the recording of the call to +44 20 7946 0958 of 5 Mar 09:01"),
    ("settings", None, "admin", {"changes": {"line.1.min_call_s": {"before": 2.0, "after": 5.0}}},
     "Changed Shortest call kept on Front desk from 2 to 5 seconds"),
    ("settings", "box.retention_days", "console:root",
     {"changes": {"box.retention_days": {"before": None, "after": 90}}, **CONSOLE},
     "Set Delete calls after for the whole box to 90 days (it followed the default)"),
    ("settings", None, "admin", {"changes": {"line.2.recording": {"before": False, "after": None},
                                             "box.consent": {"before": "off", "after": "periodic"}}},
     "Reset Record calls on Line 2 to the default (it was off); "
     "Changed Recording notice for the whole box from no notice to a beep at regular intervals"),
    ("settings", None, "admin", {"changes": {"line.1.name": {"before": None, "after": "Front desk"}}},
     "Named line 1 'Front desk'"),
    ("settings", None, "admin", {"changes": {"line.1.name": {"before": "Desk", "after": "Front desk"}}},
     "Renamed line 1 from 'Desk' to 'Front desk'"),
    ("settings", None, "admin", {"changes": {"line.1.name": {"before": "Desk", "after": None}}},
     "Gave line 1 back the name in the config (it was 'Desk')"),
    ("user-add", "owner", "owner", {"role": "admin", "first_run": True}, "Set up the box, with owner as its administrator"),
    ("user-add", "carol", "admin", {"role": "manager"}, "Added user carol (manager)"),
    ("user-change", "carol", "admin", {"role": {"before": "listener", "after": "manager"}},
     "Changed carol's role from listener to manager"),
    ("user-change", "carol", "console:root", {"role": "admin", **CONSOLE}, "Made carol an admin"),
    ("user-change", "carol", "admin", {"disabled": {"before": False, "after": True}},
     "Disabled carol: they can no longer log in"),
    ("user-change", "carol", "console:root", {"disabled": False, **CONSOLE}, "Enabled carol again"),
    ("user-change", "carol", "admin", {"password": "reset", "sessions_ended": 2, "tokens_revoked": 1},
     "Set a new password for carol (2 sessions ended, 1 API token revoked)"),
    ("user-change", "bob", "bob", {"password": "changed", "sessions_ended": 0, "tokens_revoked": 0},
     "Changed their own password"),
    ("user-change", "bob", "bob", {"password": "change refused", "reason": "wrong name or password"},
     "Tried to change their own password (wrong name or password)"),
    ("user-remove", "carol", "admin", {}, "Removed user carol"),
    ("token-create", "bob", "bob", {"token_id": 3, "label": "nightly export"}, "Created API token 'nightly export' for bob"),
    ("token-revoke", "bob", "admin", {"token_id": 3, "label": "nightly export"}, "Revoked API token 'nightly export' of bob"),
    ("export", None, "bob", {}, "Exported the catalog"),
    ("export", "stick 1a2b", "console:root", {"to": "/media/usb", "copied": 3, "complete": True, **CONSOLE},
     "Exported 3 recordings to /media/usb"),
    ("export", "stick 1a2b", "console:root", {"to": "/media/usb", "copied": 1, "complete": False,
                                              "stopped_because": "The target is full.", **CONSOLE},
     "Exported 1 recording to /media/usb (incomplete: The target is full.)"),
    ("evidence-export", None, "manager", {"count": 3, "recordings": 2, "number_hash": "36a2cef4ff9bf7a1abd2a933",
                                          "via": "web zip", "left_out": ["a1"]},
     "Made the access package for one number (SHA-256 36a2cef4ff9b…): 3 calls, 2 recordings, as a ZIP; "
     "1 recording left out (no longer matching its hash)"),
    ("evidence-export", None, "console:root", {"count": 1, "recordings": 1, "number_hash": "36a2cef4ff9bf7a1abd2",
                                               "to": "/media/usb", "written": False,
                                               "stopped_because": "The target is full.", **CONSOLE},
     "Made the access package for one number (SHA-256 36a2cef4ff9b…): 1 call, 1 recording, to /media/usb "
     "(not written: The target is full.)"),
    ("recover", None, "console:root", {"calls": ["a", "b", "c"], **CONSOLE},
     "Recovered 3 calls left unfinished (after a power cut or a crash)"),
    ("store-repair", None, "console:root", {"changed": ["a", "b"], "force": True, "kinds": ["adopt"], **CONSOLE},
     "Repaired the catalog to match the files on the disk (2 calls) (forced)"),
    ("dnr-add", "+14155550123", "admin", {"label": "Doctor"}, "Added (415) 555-0123 to the do-not-record list (Doctor)"),
    ("dnr-remove", "555*", "console:root", {"label": "", **CONSOLE}, "Removed 555* from the do-not-record list"),
    ("announcement", None, "admin", {"before": None, "after": {"name": "notice.wav", "duration_s": 8.5}},
     "Uploaded the announcement to callers: 'notice.wav' (8.5 s)"),
    ("announcement", None, "admin", {"before": {"name": "old.mp3", "duration_s": 12}, "after": {"name": "notice.wav",
                                                                                              "duration_s": 8.5}},
     "Replaced the announcement to callers 'old.mp3' (12 s) with 'notice.wav' (8.5 s)"),
    ("announcement", None, "admin", {"before": {"name": "notice.wav", "duration_s": 8.5}, "after": None},
     "Removed the announcement to callers 'notice.wav' (8.5 s)"),
    ("erase", None, "manager", {"count": 3, "refused": 1, "number_hash": "36a2cef4ff9bf7a1abd2a933"},
     "Erased 3 calls with one number (SHA-256 36a2cef4ff9b…); 1 call refused (on hold or under the minimum age)"),
    ("export-cancel", None, "manager", {"via": "web"}, "Cancelled the export to the USB stick"),
    ("export-cancel", None, "manager", {"via": "api"}, "Cancelled the export to the USB stick (by the API)"),
]


@pytest.mark.parametrize("action, target, user, detail, text", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_action_reads_as_a_sentence(action, target, user, detail, text):
    assert said(action, target, user, **detail).text == text


def test_every_action_hookline_writes_is_worded():
    assert {c[0] for c in CASES} == set(auditmod.ACTIONS)
    assert set(words.ACTION_LABELS) == set(auditmod.ACTIONS)
    for action, target, user, detail, _ in CASES:
        text = said(action, target, user, **detail).text
        assert "=" not in text and "{" not in text and "_" not in text, text


def test_entries_about_a_call_link_to_it_and_others_do_not():
    assert said("hold", "c-in").call_id == "c-in"
    assert said("delete", "gone", started_at="2026-03-05T17:30:00.000Z", line=1).call_id == "gone"
    assert said("settings", None, changes={"box.min_call_s": {"before": 2, "after": 3}}).call_id is None


def test_a_call_not_in_the_catalog_still_reads():
    assert said("listen", "3f2a9c").text == "Listened to call 3f2a9c"
    assert said("delete", "3f2a9c", started_at="2025-12-31T23:30:00Z", line=1).text == \
        "Deleted the call on Front desk of 31 Dec 2025 15:30", "the year shows when it is not the entry's"


def test_the_author_as_people_read_it():
    assert words.who("bob") == "bob"
    assert words.who("console:alice") == "alice (at the console)"
    assert words.who(None) == "the box" and words.who(None, "login-failed") == "nobody logged in"


@pytest.mark.parametrize("action, target, detail", [
    ("settings", None, {"changes": ["not", "a", "dict"]}),
    ("settings", None, {"changes": {"line.x.what": {"before": 1, "after": 2}}}),
    ("settings", None, {"changes": {"line.1.min_call_s": 7}}),
    ("user-change", "carol", {"role": 5, "disabled": "maybe"}),
    ("listen", "c-in", {"length": "long"}),
    ("recover", None, {"calls": 3}),
    ("store-repair", None, {"changed": "many"}),
    ("erase", None, {"count": "many"}),
    ("evidence-export", None, {"count": "many", "left_out": "x"}),
    ("frobnicate", "thing", {"x": 1}),
    ("logout", None, {"everywhere_else": True, "sessions_ended": "two"}),
    ("delete", "nowhere", {"started_at": "not a time"}),
])
def test_an_entry_with_details_hookline_does_not_write_still_reads(action, target, detail):
    text = said(action, target, **detail).text
    assert text and text[0].isupper()
