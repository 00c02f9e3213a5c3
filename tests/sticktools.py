"""Real volumes for the stick tests, mounted by the test under a mount root of its own: an ext4
image on a loop device (a filesystem the box exports to) and a tmpfs (one it does not). Each
skips the test with its reason where this machine cannot mount (not root, no loop devices).

Not a conftest: plain functions, imported by the test modules that need them.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest


def _mount(argv: list[str], what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"mounting {what} needs root")
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount {what} here: {done.stderr.strip()}")


def unmount(point: Path) -> None:
    """Unmount if still mounted (a test may have ejected it already)."""
    if os.path.ismount(point):
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


@contextlib.contextmanager
def ext4_stick(mount_root: Path, label: str, size_mb: int = 80, *, read_only: bool = False,
               image: Path | None = None) -> Iterator[Path]:
    """An ext4 volume named `label` (as the box's mount helper names it) at mount_root/label.
    The image is kept (pass `image` to plug the same stick in again)."""
    with loop_stick(mount_root, label, image or mount_root.parent / f"{label}.img", size_mb,
                    read_only=read_only) as (_, point):
        yield point


@contextlib.contextmanager
def tmpfs_stick(mount_root: Path, label: str, size: str = "4m", *, read_only: bool = False) -> Iterator[Path]:
    point = mount_root / label
    point.mkdir(parents=True, exist_ok=True)
    _mount(["mount", "-t", "tmpfs", "-o", f"size={size}" + (",ro" if read_only else ""), "tmpfs", str(point)],
           "a tmpfs")
    try:
        yield point
    finally:
        unmount(point)


# -- stopping an export at a known point, from outside it ------------------------------------------
def stopped_mid_copy(partial: Path, argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """Start argv under strace, which stops it (SIGSTOP) right after its first write to `partial`:
    that many bytes of the recording are in the page cache under the temporary name, none is known
    to be on the stick yet. Returns (strace's process, the stopped export's pid) once the export
    is stopped; the test then kills it (SIGKILL) or pulls the stick and lets it go on (SIGCONT).
    strace's exit status is the export's (killed: -9). No hook in the export itself."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (make test installs it): it stops the export mid-copy")
    writes = "write,pwrite64,writev,pwritev,pwritev2,copy_file_range,sendfile"
    fd, name = tempfile.mkstemp(suffix=".strace")
    os.close(fd)
    log = Path(name)
    proc = subprocess.Popen(["strace", "-f", "-qq", "-o", str(log), "-P", str(partial), "-e", f"trace={writes}",
                             "-e", f"inject={writes}:signal=SIGSTOP:when=1", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text().splitlines():
            if line.endswith("--- stopped by SIGSTOP ---"):
                log.unlink()
                return proc, int(line.split()[0])
        time.sleep(0.01)
    proc.kill()
    out, err = proc.communicate(timeout=60)
    log.unlink()
    raise AssertionError(f"the export never wrote {partial}: {err}{out}")


# -- pulling a stick at the block layer --------------------------------------------------------------
LOOP_GET_STATUS64, LOOP_SET_STATUS64 = 0x4C05, 0x4C04
_SIZELIMIT_AT = 32          # struct loop_info64: lo_device, lo_inode, lo_rdevice, lo_offset, lo_sizelimit


def pull(device: str) -> None:
    """What pulling the stick does to the filesystem on it: from now on the block device fails
    every read and write with EIO. The loop device is cut down to its first 4 KiB (past the
    superblock nothing is there any more); the image file keeps whatever had reached the device,
    as the flash of a pulled stick does, so attaching it again is plugging the stick back in."""
    fd = os.open(device, os.O_RDONLY)
    try:
        info = bytearray(232)
        fcntl.ioctl(fd, LOOP_GET_STATUS64, info)
        struct.pack_into("Q", info, _SIZELIMIT_AT, 4096)
        fcntl.ioctl(fd, LOOP_SET_STATUS64, bytes(info))
    finally:
        os.close(fd)


@contextlib.contextmanager
def loop_stick(mount_root: Path, label: str, image: Path, size_mb: int = 80, *,
               read_only: bool = False) -> Iterator[tuple[str, Path]]:
    """A stick made of an ext4 image on a loop device (made if new), mounted at mount_root/label:
    yields (/dev/loopN, mount point); unplugged (unmounted and detached) at the end."""
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("a stick on a loop device needs root and losetup")
    if not image.exists():
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", label, str(image)], check=True, capture_output=True)
    attached = subprocess.run(["losetup", "--find", "--show", *(["--read-only"] if read_only else []), str(image)],
                              capture_output=True, text=True)
    if attached.returncode != 0:
        pytest.skip(f"no loop device: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    point = mount_root / label
    try:
        point.mkdir(parents=True, exist_ok=True)
        _mount(["mount", "-t", "ext4", "-o", ("ro," if read_only else "") + "nosuid,nodev,noexec", device, str(point)],
               "an ext4 loop device")
        yield device, point
    finally:
        unmount(point)
        subprocess.run(["losetup", "-d", device], capture_output=True)


def write_config(path: Path, mount_root: Path, data: Path | None = None) -> Path:
    """A box config (hookline.toml) with one line, whose [export] mount_root is the test's."""
    path.write_text((f'data_dir = "{data}"\n' if data else "") + f"""
[[line]]
id = 1
capture = "line1"
[line.offhook]
pin = 17

[export]
mount_root = "{mount_root}"
""")
    return path
