"""The far end of a simulated serial device: a pty pair whose slave the daemon opens through a
stable symlink (as udev gives a real modem /dev/serial/by-id/...), and whose master the
simulator drives, speaking a voice modem's or a line monitor's protocol.

Faults: `hang()` stops answering (a wedged modem), `unplug()` makes the port vanish, and
`plug()` brings it back as a new pty behind the same symlink.
"""
from __future__ import annotations

import logging
import os
import select
import threading
import tty
from pathlib import Path

log = logging.getLogger("hookline.sim")

MODEM_IDENT = "Hookline simulated voice modem 1.0"


class PtyPeer:
    def __init__(self, link: Path, modem: bool) -> None:
        self.link = Path(link)
        self.modem = modem
        self.hung = False
        self.commands: list[str] = []       # every AT command the daemon sent, in order
        self._lock = threading.Lock()
        self._master = self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.plug()

    # -- the device coming and going -----------------------------------------------------------
    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        name = os.ttyname(slave)
        # Hold the slave open too: with no slave open, Linux reports EIO on the master.
        tmp = self.link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        os.symlink(name, tmp)
        os.replace(tmp, self.link)
        with self._lock:
            self._master, self._slave = master, slave
        if self.modem:
            self._thread = threading.Thread(target=self._answer, name=f"sim-{self.link.name}", daemon=True)
            self._thread.start()

    def unplug(self) -> None:
        self.link.unlink(missing_ok=True)
        with self._lock:
            master, self._master = self._master, -1
            slave, self._slave = self._slave, -1
        for fd in (slave, master):
            if fd >= 0:
                os.close(fd)

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def hang(self, hung: bool = True) -> None:
        self.hung = hung

    def close(self) -> None:
        self._stop.set()
        self.unplug()

    # -- talking -------------------------------------------------------------------------------
    def send(self, *lines: str) -> None:
        """Unsolicited lines (RING, caller ID, hook reports), each ended with CR LF."""
        if self.hung:
            return
        self._write("".join(f"{line}\r\n" for line in lines))

    def _write(self, text: str) -> None:
        with self._lock:
            if self._master < 0:
                return
            try:
                os.write(self._master, text.encode("ascii", "replace"))
            except OSError:
                pass

    def _answer(self) -> None:
        """Answer AT commands like a modem with echo off: OK, or the ATI identification."""
        master = self._master
        pending = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(master, 1024)
            except OSError:
                return      # unplugged (or nobody has the port open after a hang-up)
            if not data:
                return
            pending += data
            *lines, pending = pending.replace(b"\n", b"\r").split(b"\r")
            for raw in lines:
                command = raw.decode("ascii", "replace").strip()
                if not command:
                    continue
                self.commands.append(command)
                if self.hung:
                    continue
                upper = command.upper()
                if upper.startswith("ATI"):
                    self._write(f"\r\n{MODEM_IDENT}\r\n\r\nOK\r\n")
                elif upper.startswith("AT"):
                    self._write("\r\nOK\r\n")
