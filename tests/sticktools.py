"""Real volumes for the stick tests, mounted by the test under a mount root of its own: an ext4
image on a loop device (a filesystem the box exports to) and a tmpfs (one it does not). Each
skips the test with its reason where this machine cannot mount (not root, no loop devices).

Not a conftest: plain functions, imported by the test modules that need them.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
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
    image = image or mount_root.parent / f"{label}.img"
    if not image.exists():
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", label, str(image)], check=True,
                       capture_output=True)
    point = mount_root / label
    point.mkdir(parents=True, exist_ok=True)
    _mount(["mount", "-t", "ext4", "-o", ("ro," if read_only else "") + "loop,nosuid,nodev,noexec",
            str(image), str(point)], "an ext4 image on a loop device")
    try:
        yield point
    finally:
        unmount(point)


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
