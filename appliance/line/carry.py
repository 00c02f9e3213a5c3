"""A call cut by a recorder crash goes on in a linked part when the recorder is back.

After a `kill -9`, a watchdog restart or any unclean stop, recovery finalizes the part that was
being written (status `recovered`). If that line is off-hook again soon after the restart (the
GPIO sense input still reads off-hook, VOX still hears the call), the caller is still on the
line: the new recording is the same call's next part (`previous_id`, a `resumed` event), not a
new call. A serial line monitor only reports changes, so such a line waits for its next change.
"""
from __future__ import annotations

from typing import Any

from ..hook.base import HookEvent
from ..recording.call import CallInfo
from ..store import catalog, times
from ..store.kinds import Event, Status

# How soon after the line starts capturing an off-hook still counts as the same call: a sense
# input reads off-hook at once and VOX needs a burst and its debounce. Short, because the line
# cannot tell whether the caller hung up while the recorder was down: an off-hook later than
# this is a new call.
CARRY_S = 5.0


def interrupted_calls(db, recovered_ids: list[str]) -> dict[int, tuple[str, CallInfo, dict | None]]:
    """The call each line was recording when the recorder died, as recovered: {line: (id, info,
    paused)}; paused: who paused it (its last `paused` event's by/user) if it was paused then."""
    out: dict[int, tuple[str, CallInfo, dict | None]] = {}
    for row in sorted(catalog.get_calls(db, recovered_ids), key=lambda r: r["started_at"]):
        if row["status"] == Status.RECOVERED:
            out[row["line"]] = (row["id"], info_of(row), paused_when_cut(db, row["id"]))
    return out


def paused_when_cut(db, call_id: str) -> dict | None:
    """A call paused for a card payment and never resumed before the crash: who paused it."""
    last = [e for e in catalog.list_events(db, call_id=call_id) if e["kind"] in (Event.PAUSED, Event.RESUME)]
    if not last or last[-1]["kind"] != Event.PAUSED:
        return None
    return {k: last[-1]["detail"][k] for k in ("by", "user") if last[-1]["detail"].get(k)}


def hand_over(lines: list, cut: dict[int, tuple[str, CallInfo, dict | None]], sample_rate: int) -> None:
    """Tell each line whose call was cut; its thread applies it before anything it hears."""
    for line in lines:
        if line.cfg.id in cut:
            call_id, info, paused = cut[line.cfg.id]
            line.post(HookEvent("carry", None, {"previous": (call_id, info), "paused": paused,
                                                "frames": int(CARRY_S * sample_rate)}))


def info_of(row: dict[str, Any]) -> CallInfo:
    return CallInfo(line=row["line"], started_at=times.seconds(row["started_at"]), direction=row.get("direction"),
                    remote_number=row.get("remote_number"), remote_name=row.get("remote_name"),
                    remote_withheld=bool(row.get("remote_withheld")), dialed=row.get("dialed"),
                    clock_synced=bool(row.get("clock_synced")), part=row.get("part") or 1,
                    previous_id=row.get("previous_id"))
