"""The virtual box: the image booted under qemu, with every wire the appliance test pulls.

- ttyS0: the serial console, kept whole in a log file;
- ttyS1: the line monitor's UART, driven from here (`monitor("OFFHOOK")`);
- a virtio-serial port to the test agent inside (`sh(...)`);
- QMP, for plugging and pulling a USB stick (`plug_stick`, `pull_stick`);
- port 80 forwarded to a loopback port here (`web_port`); the guest reaches nothing outside.
Killing qemu (`power_cut`) is a power cut: the disk keeps what the guest had written to it.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

OVMF = "/usr/share/ovmf/OVMF.fd"
# x86-64-v2: numpy's wheels need SSE4.2, which TCG's default qemu64 lacks (the web page died
# with SIGILL). The office mini PCs this image is for are x86-64-v2 or better.
CPU = "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_unix(path: Path, deadline: float) -> socket.socket:
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(path))
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Box:
    def __init__(self, disk: Path, work: Path, firmware: str = "bios", smp: int = 2, memory: int = 1536):
        self.disk, self.work, self.firmware = disk, work, firmware
        self.smp, self.memory = smp, memory
        self.web_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.console = b""
        self._ids = itertools.count(1)
        self._agent: socket.socket | None = None
        self._agent_buf = b""
        self._qmp: socket.socket | None = None
        self._monitor: socket.socket | None = None

    # -- power ---------------------------------------------------------------------------------
    def boot(self) -> float:
        """Start qemu; returns when the agent answers (the seconds that took)."""
        for name in ("agent.sock", "monitor.sock", "qmp.sock"):
            (self.work / name).unlink(missing_ok=True)
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-smp", str(self.smp), "-m", str(self.memory),
               "-cpu", CPU, "-display", "none", "-monitor", "none", "-no-reboot",
               "-drive", f"file={self.disk},format=raw,if=virtio,cache=writeback,discard=unmap",
               "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.web_port}-:80",
               "-device", "virtio-net-pci,netdev=n0",
               "-serial", "stdio",
               "-chardev", f"socket,id=monitor,path={self.work / 'monitor.sock'},server=on,wait=off",
               "-serial", "chardev:monitor",
               "-chardev", f"socket,id=agent,path={self.work / 'agent.sock'},server=on,wait=off",
               "-device", "virtio-serial-pci",
               "-device", "virtserialport,chardev=agent,name=org.hookline.agent",
               "-qmp", f"unix:{self.work / 'qmp.sock'},server=on,wait=off",
               "-device", "qemu-xhci,id=xhci"]
        if self.firmware == "uefi":
            cmd += ["-bios", OVMF]
        self.console = b""
        log = open(self.work / f"console-{time.strftime('%H%M%S')}.log", "wb")
        start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._pump_console, args=(self.proc, log), daemon=True).start()
        deadline = start + 300
        self._monitor = connect_unix(self.work / "monitor.sock", deadline)
        self._qmp = connect_unix(self.work / "qmp.sock", deadline)
        self._qmp_file = self._qmp.makefile("rwb")
        self._qmp_file.readline()       # greeting
        self.qmp("qmp_capabilities")
        self._agent = connect_unix(self.work / "agent.sock", deadline)
        while True:     # the agent starts with udev; until then the port is not open
            try:
                if self.sh("true", timeout=5, wait=10)["rc"] == 0:
                    return time.monotonic() - start
            except TimeoutError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"the guest agent never answered; console tail:\n{self.tail()}") from None

    def _pump_console(self, proc: subprocess.Popen, log) -> None:
        with log:
            while chunk := os.read(proc.stdout.fileno(), 65536):
                self.console += chunk
                log.write(chunk)
                log.flush()

    def tail(self, n: int = 3000) -> str:
        return self.console[-n:].decode(errors="replace")

    def power_cut(self) -> None:
        """Pull the plug: qemu is killed, nothing in the guest gets to run again."""
        for s in (self._agent, self._qmp, self._monitor):
            if s:
                s.close()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def shutdown(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.sh("systemctl poweroff", timeout=5, wait=5)
                self.proc.wait(timeout=120)
            except (TimeoutError, subprocess.TimeoutExpired, OSError):
                pass
        self.power_cut()

    # -- the agent -------------------------------------------------------------------------------
    def sh(self, command: str, timeout: float = 60, wait: float | None = None) -> dict:
        """Run a shell command in the guest as root: {"rc", "out", "err"}."""
        ident = next(self._ids)
        self._agent.sendall((json.dumps({"id": ident, "sh": command, "timeout": timeout}) + "\n").encode())
        deadline = time.monotonic() + (wait if wait is not None else timeout + 30)
        while True:
            while b"\n" in self._agent_buf:
                line, self._agent_buf = self._agent_buf.split(b"\n", 1)
                try:
                    reply = json.loads(line)
                except ValueError:
                    continue
                if reply.get("id") == ident:
                    return reply
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer from the guest to {command!r}")
            self._agent.settimeout(left)
            try:
                chunk = self._agent.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise RuntimeError("the agent's port closed")
            self._agent_buf += chunk

    def ok(self, command: str, timeout: float = 60) -> str:
        """Run a command that must succeed; its standard output."""
        r = self.sh(command, timeout=timeout)
        if r["rc"] != 0:
            raise AssertionError(f"{command!r} exited {r['rc']}: {r['err'] or r['out']}")
        return r["out"]

    def wait_until(self, command: str, timeout: float, every: float = 1.0) -> str:
        """Poll a command in the guest until it succeeds; its output."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.sh(command, timeout=30)
            if r["rc"] == 0:
                return r["out"]
            if time.monotonic() > deadline:
                raise AssertionError(f"{command!r} still failing after {timeout:.0f} s: {r['err'] or r['out']}")
            time.sleep(every)

    def read_file(self, path: str) -> bytes:
        return base64.b64decode(self.ok(f"base64 -w0 {path}"))

    def write_file(self, path: str, data: bytes) -> None:
        self.ok(f"echo {base64.b64encode(data).decode()} | base64 -d > {path}")

    # -- wires -------------------------------------------------------------------------------------
    def monitor(self, text: str) -> None:
        """A line from the line-monitor board, on the guest's ttyS1."""
        self._monitor.sendall(text.encode() + b"\r\n")

    def qmp(self, command: str, **arguments):
        msg = {"execute": command, **({"arguments": arguments} if arguments else {})}
        self._qmp_file.write(json.dumps(msg).encode() + b"\n")
        self._qmp_file.flush()
        while True:
            reply = json.loads(self._qmp_file.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {command}: {reply['error']}")

    def plug_stick(self, image: Path, bps: int | None = None) -> None:
        """A USB stick plugged into the box's xHCI port; bps throttles its writes like a slow stick."""
        throttle = f",throttling.bps-write={bps}" if bps else ""
        said = self.qmp("human-monitor-command",
                        **{"command-line": f"drive_add 0 if=none,id=stick,file={image},format=raw{throttle}"})
        if "OK" not in said:        # HMP answers errors in words
            raise RuntimeError(f"drive_add: {said}")
        self.qmp("device_add", driver="usb-storage", drive="stick", id="stickdev", bus="xhci.0")

    def pull_stick(self) -> None:
        self.qmp("device_del", id="stickdev")
