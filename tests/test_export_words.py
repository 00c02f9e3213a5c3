"""What the box says when an export ends (appliance/present/export_words.py), for each way it can
end: the sentence the web page, the events and the button's owner read."""
from __future__ import annotations

import pytest

from appliance.present import export_words as words

STICK = {"label": "OFFICE"}
SO_FAR = "3 recordings copied and verified so far; INCOMPLETE.txt on the stick says the export is not finished."


def result(code: int, **facts) -> dict:
    return {"exit_code": code, "copied": 3, "already_there": 0, "mismatched": [], "stopped_because": None,
            "stick": "5f3a9c", **facts}


@pytest.mark.parametrize("ended, ejected, sentence", [
    (result(0), True, "Done: 3 recordings copied and verified to the stick OFFICE. The stick OFFICE is safe to remove."),
    (result(0, copied=1, already_there=2), False,
     "Done: 1 recording copied and verified (2 already there from before) to the stick OFFICE."),
    (result(0, copied=0), True,
     "Nothing new to copy: the stick OFFICE already holds every recording. The stick OFFICE is safe to remove."),
    (result(1, mismatched=[{"call_id": "a"}, {"call_id": "b"}]), True,
     "2 recordings no longer match the checksum the box holds and were not exported (see the export's log); "
     "3 recordings copied and verified to the stick OFFICE. The stick OFFICE is safe to remove."),
    (result(6, stopped_because="Cancelled."), False,
     f"Cancelled: {SO_FAR} Press the button again (or start it again) to go on."),
    (result(4, stopped_because="The target is full."), False,
     f"The stick OFFICE is full: {SO_FAR} Make room on it or use a bigger stick."),
    (result(4, copied=0, stopped_because="The stick has 1.0 MB free, but the 3 recordings to copy need 9.0 MB: "
                                         "nothing was copied. Make room on it or use a bigger stick."), False,
     "The stick has 1.0 MB free, but the 3 recordings to copy need 9.0 MB: nothing was copied. Make room on it "
     "or use a bigger stick."),
    (result(5, stopped_because="The target failed: Input/output error. Was the stick pulled out?"), False,
     f"The export to the stick OFFICE stopped: The target failed: Input/output error. Was the stick pulled out? "
     f"{SO_FAR} Start the export again to go on."),
    (result(5, copied=0, stick=None, stopped_because="/media/hookline/OFFICE holds a link or special file (Hookline) "
            "where the export writes: the box does not write through those. Remove it or use another stick."), False,
     "The export to the stick OFFICE did not start: /media/hookline/OFFICE holds a link or special file (Hookline) "
     "where the export writes: the box does not write through those. Remove it or use another stick."),
    (result(3, copied=0, stopped_because="another export is running on this box: wait for it to finish"), False,
     "Another export is running on this box: wait for it to finish"),
])
def test_each_ending_reads_as_a_sentence(ended, ejected, sentence):
    assert words.finished(ended, STICK, ejected) == sentence


def test_a_stick_that_would_not_eject_says_not_to_pull_it():
    said = words.not_ejected(words.finished(result(0), STICK, False), "Could not unmount the stick at /media/x: busy.")
    assert said == ("Done: 3 recordings copied and verified to the stick OFFICE, but the stick could not be ejected: "
                    "Could not unmount the stick at /media/x: busy. Do not pull it out yet.")
