"""The export to a USB stick in the owner's words, from the recorder's "export-status" answer: the
stick (its label and free space, or what is wrong with it), the job's progress (files, bytes, time
left, how far along as a fraction for the progress bar) and how the last export ended. The page,
its script (through /export/progress) and the API all show these same sentences."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.present.words import plural, size, span

# How job.run's exit codes end (appliance/export/job.py; CANCELLED from the runner).
OK, MISMATCH, BUSY, FULL, TARGET, CANCELLED = 0, 1, 3, 4, 5, 6
NOT_RUNNING = "The recorder is not running, so nothing can be exported now: start it, or restart the box."


def _count(n: Any) -> int:
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else 0


def stick_text(stick: dict[str, Any] | None) -> str:
    """'“OFFICE” is plugged in: 3.2 GB free of 7.5 GB.', its problem, or that there is none."""
    if not stick:
        return "No USB stick is plugged in: plug one into the box."
    name = f"“{stick['label']}”" if stick.get("label") else "A USB stick"
    if stick.get("problem"):
        return f"{name} is plugged in, but it cannot take an export: {stick['problem']}"
    free, total = stick.get("free_bytes"), stick.get("total_bytes")
    room = f": {size(_count(free))} free" + (f" of {size(_count(total))}" if total else "") if free is not None else ""
    return f"{name} is plugged in{room}."


def progress_text(status: dict[str, Any]) -> str:
    """'3 of 12 recordings · 4.1 MB of 20.0 MB · about 1 minute left'."""
    done, total = _count(status.get("files_done")), _count(status.get("files_total"))
    parts = [f"{done} of {plural(total, 'recording')}" if total else "Looking for the recordings to copy"]
    if _count(status.get("bytes_total")):
        parts.append(f"{size(_count(status.get('bytes_done')))} of {size(_count(status.get('bytes_total')))}")
    left = status.get("seconds_left")
    if isinstance(left, (int, float)) and not isinstance(left, bool) and left >= 0:
        parts.append(f"about {span(max(1.0, float(left)))} left")
    elif total:
        parts.append("working out the time left")
    return " · ".join(parts)


def fraction(status: dict[str, Any]) -> float:
    """How far along, 0 to 1: by bytes, else by files."""
    for done, total in (("bytes_done", "bytes_total"), ("files_done", "files_total")):
        if _count(status.get(total)):
            return min(1.0, _count(status.get(done)) / _count(status.get(total)))
    return 0.0


def outcome(result: dict[str, Any], name: Callable[[dict[str, Any]], str]) -> tuple[str, str]:
    """(kind, sentences) for a finished export: kind "ok", "warning" or "error"; name(mismatch)
    says which call a recording that no longer matches its fingerprint is."""
    code = result.get("exit_code")
    copied, already, selected = (_count(result.get(k)) for k in ("copied", "already_there", "selected"))
    on_stick = copied + already
    got = f"{plural(copied, 'recording')} copied and verified ({size(_count(result.get('bytes_copied')))})" + (
        f", {already} already there from before" if already else "")
    if code in (OK, MISMATCH) and not selected:
        return "ok", "There was nothing to export: no recording matched (or the stick has them all already). " \
                     "The stick is safe to remove."
    if code == OK:
        return "ok", f"The export is complete: {got}. The stick is safe to remove."
    if code == MISMATCH:
        bad = result.get("mismatched") or []
        names = "; ".join(name(m) for m in bad if isinstance(m, dict))
        return "warning", (f"The export is done, but {plural(len(bad), 'recording')} no longer "
                           f"{'matches its' if len(bad) == 1 else 'match their'} fingerprint and "
                           f"{'was' if len(bad) == 1 else 'were'} not exported: {names}. The rest is on the stick: "
                           f"{got}. The stick is safe to remove.")
    if code == FULL:
        return "error", (f"The stick is full: {on_stick} of {plural(selected, 'recording')} are on it ({got}). "
                         "Its index lists those and says the export is incomplete. Free some space or use a "
                         "bigger stick, then export again for the rest.")
    if code == TARGET:
        return "error", (f"The stick was pulled out or failed during the export: {got} before that. "
                         "Plug it back in and export again: it goes on where it stopped.")
    if code == CANCELLED:
        return "warning", (f"The export was cancelled: {on_stick} of {plural(selected, 'recording')} are on the "
                           f"stick ({got}). Its index lists those and says the export is incomplete; export again "
                           "for the rest.")
    if code == BUSY:
        return "error", "Another export was running, so this one did not start."
    why = result.get("stopped_because") or "it stopped"
    return "error", f"The export did not finish: {why} ({got})."


def view(status: dict[str, Any] | None, problem: str | None,
         name: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """What the page and its script show. status None: the recorder gave none (problem says why)."""
    if status is None:
        return {"recorder": problem or NOT_RUNNING, "state": "unknown", "running": False, "stick": None,
                "stick_ready": False, "progress": None, "fraction": None, "outcome": None, "outcome_kind": None}
    state = status.get("state") if isinstance(status.get("state"), str) else "idle"
    running = state == "copying"
    stick = status.get("stick") if isinstance(status.get("stick"), dict) else None
    result = status.get("result") if isinstance(status.get("result"), dict) else None
    kind, said = outcome(result, name) if result and not running else (None, None)
    if said is None and state == "error" and status.get("message"):
        kind, said = "error", str(status["message"])
    return {"recorder": None, "state": state, "running": running, "stick": stick_text(stick),
            "stick_ready": bool(stick and not stick.get("problem")),
            "progress": progress_text(status) if running else None,
            "fraction": round(fraction(status), 4) if running else None, "outcome": said, "outcome_kind": kind}
