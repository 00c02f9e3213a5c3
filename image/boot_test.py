#!/usr/bin/env python3
"""Boot a built Hookline image under qemu (TCG) and check what a technician would see.

    python3 image/boot_test.py build/hookline-amd64.img --firmware bios
    python3 image/boot_test.py build/hookline-amd64.img --firmware uefi

It boots the image read-only (qemu's snapshot=on), watches the serial console until systemd
reports the multi-user target, then asks the web page on port 80 (forwarded to a loopback port
of this machine; the guest's network is `restrict=on`, so it reaches nothing outside). It prints
the times it measured and exits non-zero with the console's tail when a check fails. The whole
console goes to --log.
"""

import argparse
import http.client
import os
import re
import selectors
import socket
import subprocess
import sys
import time

OVMF = "/usr/share/ovmf/OVMF.fd"
MULTI_USER = re.compile(rb"Reached target .*Multi-User System")
STARTED = re.compile(rb"Started .*(hookline-recorder|hookline-web|Hookline [a-z ]+)\.?")
FAILED = re.compile(rb"Failed to start .*|\[FAILED\].*")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(image: str, firmware: str, port: int, memory: int) -> list[str]:
    # x86-64-v2: TCG's default qemu64 lacks SSE4.2 and more, and PyPI's numpy wheels then die
    # with SIGILL (hookline-web did). The office mini PCs are x86-64-v2 or better. (-cpu max
    # booted but never reached multi-user within 240 s.)
    cmd = [
        "qemu-system-x86_64", "-accel", "tcg", "-m", str(memory), "-smp", "1",
        "-cpu", "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16",
        "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
        "-drive", f"file={image},format=raw,if=virtio,snapshot=on",
        "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:80",
        "-device", "virtio-net-pci,netdev=n0",
    ]
    if firmware == "uefi":
        cmd += ["-bios", OVMF]
    return cmd


def http_get(port: int) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        return resp.status, resp.getheader("Location") or "", resp.read(4096)
    finally:
        conn.close()


class Console:
    """The guest's serial console: everything read so far, and waits on patterns in it."""

    def __init__(self, proc: subprocess.Popen, log):
        self.proc, self.log, self.text = proc, log, b""
        self.sel = selectors.DefaultSelector()
        self.sel.register(proc.stdout, selectors.EVENT_READ)

    def pump(self, until: float) -> None:
        for _key, _ in self.sel.select(max(0.0, min(1.0, until - time.monotonic()))):
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("qemu exited")
            self.text += chunk
            self.log.write(chunk)
            self.log.flush()

    def wait_for(self, pattern: re.Pattern, deadline: float) -> float | None:
        while time.monotonic() < deadline:
            if pattern.search(self.text):
                return time.monotonic()
            self.pump(deadline)
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image")
    ap.add_argument("--firmware", choices=["bios", "uefi"], default="bios")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds to reach multi-user")
    ap.add_argument("--web-timeout", type=float, default=240.0,
                    help="seconds after multi-user for the web page to answer (Python starts slowly on TCG)")
    ap.add_argument("--memory", type=int, default=1024, help="MiB")
    ap.add_argument("--log", default=None, help="console log file (default: beside the image)")
    args = ap.parse_args()

    port = free_port()
    log_path = args.log or f"{args.image}.{args.firmware}.console.log"
    problems = []
    with open(log_path, "wb") as log:
        start = time.monotonic()
        proc = subprocess.Popen(qemu_command(args.image, args.firmware, port, args.memory),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        con = Console(proc, log)
        try:
            deadline = start + args.timeout
            init = con.wait_for(re.compile(rb"Welcome to .*Debian"), deadline)  # systemd, PID 1
            multi = con.wait_for(MULTI_USER, deadline)
            if multi is None:
                problems.append("never reached the multi-user target")
            web = web_at = None
            while multi and time.monotonic() < multi + args.web_timeout:
                try:
                    web = http_get(port)
                    web_at = time.monotonic()
                    break
                except OSError:
                    con.pump(time.monotonic() + 2)
            if web is None:
                problems.append("the web page on port 80 never answered")
            con.pump(time.monotonic() + 1)
        finally:
            proc.kill()
            proc.wait()
    started = sorted({m.group(0).decode(errors="replace") for m in STARTED.finditer(con.text)})
    failed = sorted({m.group(0).decode(errors="replace") for m in FAILED.finditer(con.text)})

    def since(t):
        return f"{t - start:.1f} s" if t else "never"

    print(f"firmware={args.firmware} systemd={since(init)} multi-user={since(multi)}")
    print("started:", *started, sep="\n  ")
    print("failed:", *(failed or ["(none)"]), sep="\n  ")
    if web:
        print(f"web={since(web_at)} GET / -> {web[0]} {web[1]}")
    for problem in problems:
        print("PROBLEM:", problem)
    if problems:
        print(con.text[-3000:].decode(errors="replace"), file=sys.stderr)
    print(f"console log: {log_path}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
