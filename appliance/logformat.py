"""How the commands log to stderr. Under systemd, when stderr is the journal (JOURNAL_STREAM
names it), each line starts with its syslog priority, `<4>` for a warning, so that `journalctl
-p warning` can pick the warnings out, and the journal adds the time itself. Anywhere else, the
line carries the time as well."""
from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL = "%(levelname)s %(name)s: %(message)s"
PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def to_journal(stream: TextIO) -> bool:
    """True when stream is the journal systemd connected (its JOURNAL_STREAM is "device:inode")."""
    try:
        device, inode = (int(part) for part in os.environ.get("JOURNAL_STREAM", "").split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


class JournalFormatter(logging.Formatter):
    """Every line of a record (a traceback has several) with the record's priority: journald
    makes each line an entry of its own."""

    def __init__(self) -> None:
        super().__init__(JOURNAL)

    def format(self, record: logging.LogRecord) -> str:
        priority = PRIORITY.get(record.levelno, 4 if record.levelno > logging.INFO else 6)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


def configure(level: int, fmt: str = PLAIN) -> None:
    """logging.basicConfig on stderr (it does nothing when logging is set up already)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter() if to_journal(sys.stderr) else logging.Formatter(fmt))
    logging.basicConfig(level=level, handlers=[handler])
