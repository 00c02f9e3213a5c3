#!/usr/bin/python3
"""The appliance test's hand inside the guest: runs shell commands sent by the host.

Installed only into the test's copy of the image (tests/appliance/disk.py), never into the image
that ships. It reads one JSON request per line from a virtio-serial port and writes one JSON reply
per line: {"id", "sh", "timeout"} -> {"id", "rc", "out", "err"} (text, undecodable bytes replaced;
ask for base64 to move binary files). Runs as root, one command at a time; a command that should
outlive its request is started with `setsid ... &` by the caller.
"""
import json
import os
import subprocess
import time

PORT = "/dev/virtio-ports/org.hookline.agent"


def serve(port) -> None:
    for raw in port:
        try:
            req = json.loads(raw)
        except ValueError:
            continue        # a partial line left by a host that went away
        try:
            done = subprocess.run(["/bin/sh", "-c", req["sh"]], capture_output=True,
                                  timeout=req.get("timeout", 60), stdin=subprocess.DEVNULL)
            reply = {"rc": done.returncode, "out": done.stdout.decode(errors="replace"),
                     "err": done.stderr.decode(errors="replace")}
        except subprocess.TimeoutExpired as e:
            reply = {"rc": -1, "out": "", "err": f"timed out after {e.timeout} s"}
        reply["id"] = req.get("id")
        out = (json.dumps(reply) + "\n").encode()
        while out:      # the port takes a long reply in pieces
            out = out[port.write(out):]


def main() -> None:
    while not os.path.exists(PORT):     # the virtio console driver comes up with udev
        time.sleep(0.2)
    while True:
        with open(PORT, "r+b", buffering=0) as port:
            serve(port)
        time.sleep(0.2)     # the host closed its end: open again for the next connection


if __name__ == "__main__":
    main()
