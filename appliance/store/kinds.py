"""The names the catalog stores: a call's status (calls.status) and the kinds of line events
(call_events.kind). Every module that writes or asks for one uses these constants, so a
misspelt name is an AttributeError where it is written, not a query that quietly finds nothing.

They are plain strings (what the catalog, `hookline calls --json` and the API show).
"""
from __future__ import annotations


class Status:
    """calls.status, in the order a call goes through them."""
    RECORDING = "recording"     # being recorded, or left unfinished by a crash (recovery finishes it)
    COMPLETE = "complete"       # finished: its file is in recordings/
    RECOVERED = "recovered"     # finished by recovery after a crash or power cut
    DISCARDED = "discarded"     # not kept (too short, recording off): the row and its reason stay
    DELETED = "deleted"         # its file deleted, by a person or retention: the row stays


CALL_STATUSES = (Status.RECORDING, Status.COMPLETE, Status.RECOVERED, Status.DISCARDED, Status.DELETED)
# As the calls page and the search offer them: the ones asked for most first.
SEARCH_STATUSES = (Status.COMPLETE, Status.RECOVERED, Status.DISCARDED, Status.RECORDING, Status.DELETED)
FINISHED = (Status.COMPLETE, Status.RECOVERED, Status.DISCARDED)   # may be deleted
WITH_FILE = (Status.COMPLETE, Status.RECOVERED)                    # have (or had) a recording
NOT_KEPT = (Status.DISCARDED, Status.DELETED)                      # no recording: a reason says why


class Event:
    """call_events.kind: what happened on a line (detail: a JSON object, per kind)."""
    OFFHOOK = "offhook"                 # a call starts (recording: false when it is not recorded)
    ONHOOK = "onhook"                   # it ends (duration_s)
    RING = "ring"
    CALLERID = "callerid"               # number, name, withheld
    DIGIT = "digit"                     # a DTMF digit dialed or keyed during the call
    DIRECTION = "direction"             # the direction learnt during the call (direction, learnt_from, after_s)
    BEEP = "beep"                       # the notice tone was played (consent, hz, ms)
    ANNOUNCEMENT = "announcement"       # the uploaded announcement was played (consent, duration_s)
    SPLIT = "split"                     # max_call_s reached: the call goes on in a linked next part
    STUCK = "stuck"                     # a whole part was silence: the hook input looks stuck
    RESUMED = "resumed"                 # recording goes on in a linked part after an outage
    DISCARD = "discard"                 # the call is not kept (reason)
    RECOVERED = "recovered"             # finished by recovery after a crash
    RECONCILED = "reconciled"           # `store check --repair` gave a file its row back (action, path)
    CUT_SHORT = "cut-short"             # the disk filled: the part ends where its audio stopped (cause, audio_s)
    GAP = "gap"                         # recovery found unreadable bytes in a part (offset, bytes, at_s, lost_s)
    DELETED = "deleted"                 # its file was deleted (reason, by)
    DEVICE_ERROR = "device-error"       # a capture, playback or serial device is missing or failing
    DEVICE_OK = "device-ok"             # it is back
    XRUN = "xrun"                       # capture overrun (lost_frames)
    ERROR = "error"                     # a failed write: the part so far stays for recovery
    WARNING = "warning"                 # something a person should look at (message; code)
    SERIAL_GARBAGE = "serial-garbage"   # a serial device sends lines that mean nothing
    PAUSED = "paused"                   # recording paused for a card payment (by; continued: across a split)
    RESUME = "resume"                   # the pause ended (by, after_s, automatic; ended: split | call-end)
    MASKED = "masked"                   # touch-tones keyed after dialing were cut out of the recording (keys)
    WATCHDOG = "watchdog"               # restarted: the line read no audio for silent_s (device, thread)
    EXPORT = "export"                   # an export to a USB stick (no line): outcome, via, by, message, code


EVENT_KINDS = tuple(value for name, value in vars(Event).items() if name.isupper())
# A line's events that belong to the story of a call around it though they name no call.
LINE_CONTEXT = (Event.RING, Event.CALLERID, Event.DEVICE_ERROR, Event.DEVICE_OK, Event.WARNING, Event.WATCHDOG)
# The events that say why a call has no recording (their detail has a reason).
NOT_KEPT_BECAUSE = (Event.DISCARD, Event.DELETED)


def placeholders(values: tuple | list) -> str:
    """'?, ?, ?' for an SQL `IN (...)` of these values."""
    return ", ".join("?" * len(values))
