"""systemd's notify protocol, spoken directly: one datagram of `KEY=value` lines to the socket
named by $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').

systemd sets NOTIFY_SOCKET for a Type=notify unit and WATCHDOG_USEC (with WATCHDOG_PID, the process
meant) when it has WatchdogSec=. Both are read once and removed from the environment, so a program
the recorder starts never talks to systemd in its name. Outside systemd nothing is set and every
send does nothing.
"""
from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("hookline.notify")


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.pop("NOTIFY_SOCKET", ""))
        usec, pid = env.pop("WATCHDOG_USEC", ""), env.pop("WATCHDOG_PID", "")
        ours = not pid or pid == str(os.getpid())    # a parent's watchdog is not ours to keep
        # The interval systemd kills us after without a ping (None: no watchdog for us).
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and ours else None
        self._failed = False

    def send(self, *fields: str) -> bool:
        """Send fields such as "READY=1", "STATUS=...", "WATCHDOG=1" as one message."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(self.address)
                s.sendall("\n".join(fields).encode())
            return True
        except OSError as e:
            if not self._failed:      # once: a socket that went away would fill the journal
                log.warning("cannot notify systemd at %r: %s", self.address, e)
            self._failed = True
            return False


def _address(value: str) -> str | None:
    """The socket address NOTIFY_SOCKET names: '@name' is Linux's abstract namespace ('\\0name')."""
    if value.startswith("@"):
        return "\0" + value[1:]
    return value if value.startswith("/") else None
