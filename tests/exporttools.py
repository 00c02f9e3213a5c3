"""Helpers for the export runner and button tests: a box with a few recorded calls (simulated once
per module, copied per test), a USB stick that behaves like one (an ext4 image on a loop device
of its own, mounted under the test's mount root: ejecting unmounts it but the device stays until
the test pulls it), and a recording that trickles in (a FIFO in its place) so a test can stop an
export mid-file at a point it chooses, not at a moment it guesses.

Not a conftest: plain functions, imported by the test modules that need them.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

import simtools as st

# Six short calls on one line: six recordings to export.
SCENARIO = """
[appliance]
start = "2026-03-16T15:00:00Z"
sample_rate = 8000
seed = 11

[[line]]
id = 1
offhook = "gpio"
callerid = "modem"
""" + "".join(f"""
[[call]]
line = 1
at = {1.0 + 6 * i}
direction = "inbound"
rings = 1
caller_id = {{ number = "415555{i:04d}" }}
talk = 2.0
near = "tone:440@-12"
far = "tone:1000@-12"
""" for i in range(6))


def recorded_box(base: Path) -> tuple[Path, list[dict]]:
    data = base / "data"
    st.simulate(st.write_scenario(base, SCENARIO), data)
    rows = st.calls(data)
    assert [r["status"] for r in rows] == ["complete"] * 6
    return data, rows


def copy_box(template: Path, to: Path) -> Path:
    shutil.copytree(template, to, ignore=shutil.ignore_patterns("sim", "run"))
    return to


wait_for = st.wait_for


def _root(argv: list[str]) -> str:
    if os.geteuid() != 0:
        pytest.skip("a USB stick on a loop device needs root")
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot {' '.join(argv[:2])} here: {done.stderr.strip()}")
    return done.stdout.strip()


class UsbStick:
    """An ext4 stick named label at mount_root/label, on a loop device that outlives an unmount
    (as a USB stick stays plugged in after it is ejected) until pull()."""

    def __init__(self, mount_root: Path, label: str, size_mb: int = 80) -> None:
        self.image = mount_root.parent / f"{label}.img"
        self.point = mount_root / label
        if not self.image.exists():
            with open(self.image, "wb") as f:
                f.truncate(size_mb << 20)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", label, str(self.image)], check=True,
                           capture_output=True)
        self.device: str | None = None

    def plug(self) -> Path:
        self.device = _root(["losetup", "-f", "--show", str(self.image)])
        self.point.mkdir(parents=True, exist_ok=True)
        _root(["mount", "-t", "ext4", "-o", "nosuid,nodev,noexec", self.device, str(self.point)])
        return self.point

    def pull(self) -> None:
        if os.path.ismount(self.point):
            subprocess.run(["umount", "-l", str(self.point)], check=False, capture_output=True)
        if self.device:
            subprocess.run(["losetup", "-d", self.device], check=False, capture_output=True)
            self.device = None

    @contextlib.contextmanager
    def mounted_again(self) -> Iterator[Path]:
        """The stick plugged back in, to read what it holds."""
        self.pull()
        self.plug()
        try:
            yield self.point / "Hookline"
        finally:
            self.pull()


@contextlib.contextmanager
def usb_stick(mount_root: Path, label: str = "OFFICE", size_mb: int = 80) -> Iterator[UsbStick]:
    stick = UsbStick(mount_root, label, size_mb)
    stick.plug()
    try:
        yield stick
    finally:
        stick.pull()


class Trickle:
    """A recording replaced by a FIFO: the export's read of it waits for what feed() sends and
    for close() (a chunk is read whole, so it ends at the close); what is fed is the start of the
    real file."""

    def __init__(self, data: Path, call: dict) -> None:
        self.path = data / call["path"]
        self.real = self.path.read_bytes()
        self.path.unlink()
        os.mkfifo(self.path)
        self.fd: int | None = None
        self.sent = 0

    def _open(self) -> int | None:
        try:
            return os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:         # ENXIO: nobody reads it yet
            return None

    def feed(self, n: int = 4096) -> None:
        """Send the next n bytes, once the export has opened the file (it waits for them)."""
        if self.fd is None:
            self.fd = wait_for(self._open)
            os.set_blocking(self.fd, True)
        os.write(self.fd, self.real[self.sent:self.sent + n])
        self.sent += n

    def finish(self) -> None:
        """The rest of the file, and its end."""
        self.feed(len(self.real) - self.sent)
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

