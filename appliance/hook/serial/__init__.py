"""Ring, caller ID and hook state from serial devices (pyserial): a voice modem, a line monitor.

port.py holds what both share (the port, its reader thread, line splitting, garbage); modem.py
the voice modem (ring and caller ID); monitor.py the line-monitor board (hook state).

Each source owns its port in one reader thread and only posts HookEvents; the line applies
them in its own thread. Serial devices misbehave, and each way has an answer here:
- a port that vanishes (USB unplugged, a brown-out) or a device that stops answering: one
  "device-error" per outage, re-open with backoff (1 s doubling to 30 s), the whole modem
  initialisation again (a reset modem forgets AT+VCID=1), one "device-ok" when it is back;
- line noise and binary junk (random bytes, NULs, invalid UTF-8, lone CRs, kilobytes with no
  newline): bytes are decoded as ASCII with replacement and split on CR and LF; a line that is
  not printable text, is longer than MAX_LINE, or is left unfinished for PARTIAL_TIMEOUT_S
  is garbage. Garbage is logged and summarised in at most one "serial-garbage" event per
  GARBAGE_REPORT_S; it never stops or stalls the reader;
- modems that echo commands, answer in any order, or print unknown caller-ID fields.

`lines_seen` counts complete lines (garbage included) once everything they cause has been
posted (a caller-ID line counts when its block is posted), so whoever writes N lines to the
device can wait for `lines_seen` to grow by N and know the resulting events are queued.
`healthy` is True while the port is open and the device answers.
"""
from __future__ import annotations

from .modem import ModemSource, parse_caller_id
from .monitor import LineMonitorSource

__all__ = ["LineMonitorSource", "ModemSource", "parse_caller_id"]
