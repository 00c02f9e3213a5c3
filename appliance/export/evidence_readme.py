"""README.txt of the access package: for its recipient (the caller, a lawyer, an insurer), what is
in it, how to check that nothing was changed on Windows, macOS and Linux, and what the audit
log's head proves. Windows line ends, so Notepad shows it as written."""
from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING

from ..present import zone as zonemod
from ..present.words import plural
from ..store import times

if TYPE_CHECKING:
    from .evidence_package import Plan

TEXT = """\
Hookline access package
=======================

The calls recorded by a Hookline call recorder that involve the phone number {number}
(as caller ID or as dialed digits, however it was written){days}. Made {made} ({zone}).

{calls_line}
{left_out}
What is in it
-------------
calls/YYYY-MM-DD/<time>_L<line>_<in|out>_<number>.mp3
    A recording. It plays in any audio player.
calls/YYYY-MM-DD/<time>_L<line>_<in|out>_<number>.json
    What the recorder knows about that call: when it started and ended (in UTC and in the
    recorder's time zone), the line, the direction, the numbers, the length, its status, the
    recording's SHA-256 fingerprint and size, any note or hold, the windows in which recording was
    paused (for a card payment, say), the call's events worded as the recorder's call page words
    them (with their raw kind and time), and the ids of the audit entries about it.
    A call whose recording was not kept (too short, deleted, ...) has this file and no .mp3.
audit.json
    The entries of the recorder's audit log that name these calls: who listened to, downloaded,
    exported, held, noted or deleted them, and when. Each entry is stored exactly as in the log,
    with its own hash and the hash of the entry before it (the rule is in the file).
audit-head.json
    Where the audit log ended when this package was made ("current"), and where it ended when it
    was last sealed by the recorder's separate sealing service ("sealed").
package.json
    What was asked for and what the package holds.
SHA256SUMS
    The SHA-256 fingerprint of every other file in this folder.

How to check that nothing was changed
-------------------------------------
Open a terminal in this folder (the one holding SHA256SUMS), then:

Linux:    sha256sum -c SHA256SUMS
macOS:    shasum -a 256 -c SHA256SUMS
Windows:  certutil -hashfile calls\\2026-03-04\\141200_L1_in_4155550123.mp3 SHA256
          (once per file: compare what it prints with that file's line in SHA256SUMS; or in
          PowerShell: Get-FileHash -Algorithm SHA256 <file>)

Every line must say OK (Linux, macOS) or match (Windows). A file that does not match was changed
after the package was made. The fingerprint of each recording is the one the recorder stored
when the call ended; the copy in this package was read back and checked against it.

What the audit head proves
--------------------------
Each audit entry's hash covers the entry before it, so the hash of the newest entry pins every
entry up to it. The entries in audit.json can each be recomputed from their content with the rule
in that file. Anyone who later holds the recorder's audit log can check that it still reaches the
head in audit-head.json with the same hash: if it does, no entry up to the time this package was
made, including those about these calls, was changed or removed since.
"""


def text(p: Plan, recordings: int, left_out: dict[str, str], zone: tzinfo) -> str:
    days = ""
    if p.since or p.until:
        days = f", from {p.since or 'the first call'} to {p.until or 'the last call'}"
    calls_line = f"{plural(len(p.calls), 'call')}, {plural(recordings, 'recording')}."
    gone = ""
    if left_out:
        gone = (f"\n{plural(len(left_out), 'recording')} left out: the file on the recorder no longer "
                "matched the fingerprint stored when the call ended (see package.json).\n")
    made = zonemod.local(times.now(), zone, "%Y-%m-%d %H:%M")
    filled = TEXT.format(number=p.number, days=days, made=made, zone=zonemod.zone_label(zone),
                         calls_line=calls_line, left_out=gone)
    return filled.replace("\n", "\r\n")
