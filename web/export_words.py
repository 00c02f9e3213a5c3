"""The export to a USB stick as the page shows it, from the recorder's "export-status" answer: the
stick (its label and free space, or what is wrong with it), the job's progress (the runner's
sentence: files, bytes, time left; and how far along, for the progress bar), how the last export
ended (the runner's sentence, and the recordings left out by name). The page, its script (through
/export/progress) and the API show the same."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.export.job import MISMATCH
from appliance.present.words import size

# How each state the runner ends in is shown: ended well, ended early on purpose, failed.
OUTCOME_KINDS = {"done": "ok", "cancelled": "warning", "error": "error"}
MISMATCHED_SHOWN = 50
EJECTED = "The stick was ejected after the export: it is safe to remove."
NOT_RUNNING = "The recorder is not running, so nothing can be exported now: start it, or restart the box."


def _count(n: Any) -> int:
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else 0


def stick_text(stick: dict[str, Any] | None, ejected: bool = False) -> str:
    """'“OFFICE” is plugged in: 3.2 GB free of 7.5 GB.', its problem, or that there is none (or
    none mounted: the last export's stick, ejected, may still be in the box)."""
    if not stick:
        return EJECTED if ejected else "No USB stick is plugged in: plug one into the box."
    name = f"“{stick['label']}”" if stick.get("label") else "A USB stick"
    if stick.get("problem"):
        return f"{name} is plugged in, but it cannot take an export: {stick['problem']}"
    free, total = stick.get("free_bytes"), stick.get("total_bytes")
    room = f": {size(_count(free))} free" + (f" of {size(_count(total))}" if total else "") if free is not None else ""
    return f"{name} is plugged in{room}."


def fraction(status: dict[str, Any]) -> float:
    """How far along, 0 to 1: by bytes, else by files."""
    for done, total in (("bytes_done", "bytes_total"), ("files_done", "files_total")):
        if _count(status.get(total)):
            return min(1.0, _count(status.get(done)) / _count(status.get(total)))
    return 0.0


def view(status: dict[str, Any] | None, problem: str | None,
         name: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """What the page and its script show. status None: the recorder gave none (problem says why).
    The runner's message is the sentence (the progress while it copies, how it ended after);
    name(mismatch) names each recording left out because it no longer matches its hash."""
    if status is None:
        return {"recorder": problem or NOT_RUNNING, "state": "unknown", "running": False, "stick": None,
                "choices": [], "progress": None, "fraction": None, "outcome": None, "outcome_kind": None,
                "mismatched": []}
    state = status.get("state") if isinstance(status.get("state"), str) else "idle"
    running = state == "copying"
    message = status.get("message") if isinstance(status.get("message"), str) else ""
    result = status.get("result") if isinstance(status.get("result"), dict) else {}
    mismatched = [name(m) for m in result.get("mismatched") or [] if isinstance(m, dict)][:MISMATCHED_SHOWN]
    kind = OUTCOME_KINDS.get(state)
    if kind and mismatched and result.get("exit_code") == MISMATCH:     # the rest is there, verified
        kind = "warning"
    plugged = [s for s in status.get("sticks") or [] if isinstance(s, dict) and isinstance(s.get("path"), str)]
    several = len(plugged) > 1 and not running
    return {"recorder": None, "state": state, "running": running,
            "stick": f"{len(plugged)} USB sticks are plugged in: choose the one to export to." if several else
            stick_text(status.get("stick") if isinstance(status.get("stick"), dict) else None,
                       status.get("ejected") is True and not running),
            "choices": [{"path": s["path"], "text": stick_text(s)} for s in plugged] if several else [],
            "progress": message if running else None, "fraction": round(fraction(status), 4) if running else None,
            "outcome": message if kind else None, "outcome_kind": kind, "mismatched": mismatched}
