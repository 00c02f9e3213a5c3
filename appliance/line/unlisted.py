"""What becomes of a call once it matches the do-not-record list (policy.DoNotRecord): its audio
so far, pre-roll included, is silenced in the line's recent frames and goes on being silenced
until its on-hook (the recording's discard deletes its part file); unless dnr_keep_number is on,
its number leaves its row and its caller-ID and digit events."""
from __future__ import annotations

from ..store import catalog, dnr
from .policy import listed


def hides_number(call, policy) -> bool:
    """Whether the call's number is kept out of the catalog (session.Call, policy.RecordPolicy)."""
    return listed(call.dropped) and not policy.do_not_record.listed.keep_number


def forget(call, audio, policy, db) -> None:
    """A call the policy has just dropped: if for the list, its frames from its first one on leave
    the line's memory (audio: the PrerollBuffer), and its number the catalog (with dnr_keep_number
    on, the row gets the number that matched)."""
    if not listed(call.dropped):
        return
    call.forget_from = audio.forget(call.audio_from, audio.end)
    if hides_number(call, policy):
        call.info.remote_number = call.info.remote_name = call.info.dialed = None
        dnr.hide_call_number(db, call.call_id)
    else:
        catalog.update_call(db, call.call_id, remote_number=call.info.remote_number,
                            remote_name=call.info.remote_name, dialed=call.info.dialed)


def keep_forgetting(call, audio, until: int) -> None:
    """Frames captured since, up to `until`, are silenced too (a call that matched)."""
    if call is not None and call.forget_from is not None:
        call.forget_from = audio.forget(call.forget_from, until)
