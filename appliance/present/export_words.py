"""What the box says about an export to a USB stick, as sentences an owner reads: on the web page,
in `hookline export-status`-style answers, in the event log a technician reads, and behind the
button's LED. Figures come from the export runner's status and the job's Result (export/job.py).
"""
from __future__ import annotations

from typing import Any

from .words import clock, first_upper, plural, size


def stick_name(stick: dict[str, Any] | None) -> str:
    return f"the stick {stick['label']}" if stick and stick.get("label") else "the stick"


def copying(status: dict[str, Any]) -> str:
    """'Copying 3 of 12 recordings to the stick KINGSTON (4.0 MB of 15.0 MB, about 0:40 left).'"""
    total = status["files_total"]
    if total is None:
        return f"Getting ready to copy to {stick_name(status['stick'])}."
    done = min(status["files_done"] + 1, total)
    left = status["seconds_left"]
    about = f", about {clock(left)} left" if left is not None else ""
    return (f"Copying {done} of {plural(total, 'recording')} to {stick_name(status['stick'])} "
            f"({size(status['bytes_done']) or '0 B'} of {size(status['bytes_total']) or '0 B'}{about}).")


def _copied(result: dict[str, Any]) -> str:
    said = f"{plural(result['copied'], 'recording')} copied and verified"
    if result["already_there"]:
        said += f" ({result['already_there']} already there from before)"
    return said


def finished(result: dict[str, Any], stick: dict[str, Any] | None, ejected: bool) -> str:
    """The sentence for a job that ran to its end (state done, error or cancelled)."""
    name = stick_name(stick)
    code = result["exit_code"]
    safe = f" {first_upper(name)} is safe to remove." if ejected else ""
    if code == 0:
        if not result["copied"] and not result["already_there"]:
            return f"Nothing new to copy: {name} already holds every recording.{safe}"
        return f"Done: {_copied(result)} to {name}.{safe}"
    so_far = f"{_copied(result)} so far; INCOMPLETE.txt on the stick says the export is not finished."
    if code == 6:
        return f"Cancelled: {so_far} Press the button again (or start it again) to go on."
    if code == 1:
        bad = len(result["mismatched"])
        return (f"{plural(bad, 'recording')} no longer {'matches' if bad == 1 else 'match'} the checksum the box "
                f"holds and {'was' if bad == 1 else 'were'} not exported (see the export's log); "
                f"{_copied(result)} to {name}.{safe}")
    if code == 4 and not result["copied"] and result["stopped_because"]:     # too little room: refused
        return result["stopped_because"]
    if code == 4:
        return f"{first_upper(name)} is full: {so_far} Make room on it or use a bigger stick."
    if code == 3:
        return first_upper(str(result["stopped_because"]))
    reason = str(result["stopped_because"] or "The stick failed.")     # the job's words: pulled?
    end = "" if reason.endswith((".", "?", "!")) else "."
    if result.get("stick") is None:        # refused before its id was read: nothing written, nothing to resume
        return f"The export to {name} did not start: {first_upper(reason)}{end}"
    return f"The export to {name} stopped: {reason}{end} {first_upper(so_far)} Start the export again to go on."


def not_ejected(result_sentence: str, why: str) -> str:
    return f"{result_sentence.rstrip('.')}, but the stick could not be ejected: {why} Do not pull it out yet."


def failed(error: Exception) -> str:
    return f"The export could not run: {error}"
