"""Mounting a USB stick under the box's mount root, and unmounting it: what
firmware_config/hookline-stick@.service runs as root when udev sees a stick (and when the stick
goes, or the recorder ejects it by stopping that unit):

    python -m appliance.export.mounting mount|unmount DEVICE [--config FILE]

DEVICE is the kernel's name (sdb1). The mount point is <mount root>/<the volume's label>, made safe
as one file name (the dashboard shows that name as the stick's label). The options suit a stick
that may be pulled at any moment without `sync` (the export fsyncs what it writes): no devices,
set-uid or programs from the stick; FAT and exFAT files owned by the recorder's user; on FAT,
`flush` writes dirty data back early instead of when the page cache decides.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import pwd
import re
import subprocess
import sys
from pathlib import Path

from .. import config as configmod
from . import sticks

COMMON = "nosuid,nodev,noexec,noatime"
OPTIONS = {      # the kernel's exfat has no `flush`; ext4 keeps its owners (see _own_export_folder)
    "vfat": "uid={uid},gid={gid},umask=0027,flush,shortname=mixed,utf8,errors=remount-ro",
    "exfat": "uid={uid},gid={gid},umask=0027,errors=remount-ro",
    "ext4": "errors=remount-ro",
}
OWNER = "hookline"
NAME_MAX = 48


class MountError(RuntimeError):
    """The stick could not be mounted; str() says why (the unit's journal shows it)."""


class NotAStick(MountError):
    """The volume is one of the box's own disks (mounted already): left alone, and not a failure."""


def mount_name(label: str, device: str, root: Path) -> str:
    """A safe folder name from the label: letters, digits, '.', '-' and '_' only, not starting with
    a dot, the device's name for a stick with no label, and the device's name added when a
    stick of the same label is mounted already."""
    name = re.sub(r"[^\w.-]+", "_", label.strip())[:NAME_MAX].lstrip("._-") or device
    if os.path.ismount(root / name):
        name = f"{name}_{device}"
    return name


def options(fstype: str, owner: str = OWNER) -> str:
    try:
        user = pwd.getpwnam(owner)
    except KeyError:
        raise MountError(f"there is no user {owner!r} to own the stick's files") from None
    return f"{COMMON},{OPTIONS[fstype].format(uid=user.pw_uid, gid=user.pw_gid)}"


def probe(dev: Path) -> dict[str, str]:
    """The volume's TYPE and LABEL as blkid reads them from the device itself."""
    done = subprocess.run(["blkid", "-p", "-o", "export", str(dev)], capture_output=True, text=True, timeout=30)
    found = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    if done.returncode != 0 or "TYPE" not in found:
        raise MountError(f"{dev} has no filesystem blkid knows")
    return found


def mount(device: str, root: Path, owner: str = OWNER) -> Path:
    """Mount the device under root; where it is mounted there already (the unit started again),
    that mount point. One at a time: systemd starts the units of sticks plugged in together (or
    there at boot) at once, and two of the same label would both take the free name."""
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return _mount(device, root, owner)
    finally:
        os.close(fd)


def _mount(device: str, root: Path, owner: str) -> Path:
    dev = Path("/dev") / device
    for mounted in sticks.mounted_under(root):
        if mounted.source == str(dev):
            return mounted.point
    elsewhere = sticks.mounted_from(dev)
    if elsewhere:       # the box's own SSD is on USB too: its partitions are not sticks
        raise NotAStick(f"{dev} is already mounted at {elsewhere[0]}: a disk of the box's own, not a stick")
    found = probe(dev)
    fstype = found["TYPE"]
    if fstype not in sticks.SUPPORTED:
        raise MountError(f"{dev} holds {fstype}; the box mounts {', '.join(sticks.SUPPORTED)} only")
    point = root / mount_name(found.get("LABEL", ""), device, root)
    point.mkdir(mode=0o755, exist_ok=True)
    done = subprocess.run(["mount", "-t", fstype, "-o", options(fstype, owner), str(dev), str(point)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        _remove_dir(point)
        raise MountError(f"mounting {dev} at {point} failed: {done.stderr.strip()}")
    if fstype == "ext4":
        _own_export_folder(point, owner)
    return point


def _own_export_folder(point: Path, owner: str) -> None:
    """ext4 keeps the owners its files were made with: the recorder's user gets the Hookline
    folder (only that), so it can export there. A read-only stick is left as it is."""
    user = pwd.getpwnam(owner)
    folder = point / "Hookline"
    try:
        folder.mkdir(mode=0o750, exist_ok=True)
        # fwalk without following links, by descriptor: a stick made with Hookline (or a folder in
        # it) linking to /etc would otherwise have root give what the link leads to away.
        for _, dirs, files, fd in os.fwalk(folder, follow_symlinks=False):
            os.chown(fd, user.pw_uid, user.pw_gid)
            for name in dirs + files:
                os.chown(name, user.pw_uid, user.pw_gid, dir_fd=fd, follow_symlinks=False)
    except (OSError, RecursionError):      # fwalk recurses: a stick may nest folders deeper than that
        pass


def unmount(device: str, root: Path) -> list[Path]:
    """Unmount what this device has mounted under root; the mount points it left. A pulled stick
    (its device gone) is detached lazily; one still there but busy stays mounted (MountError), so
    that an eject never says "safe to remove" while something still writes to it."""
    dev = f"/dev/{device}"
    gone = []
    for mount in sticks.mounted_under(root):
        if mount.source != dev:
            continue
        done = subprocess.run(["umount", str(mount.point)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            if os.path.exists(dev):
                raise MountError(f"unmounting {mount.point} failed: {done.stderr.strip()}")
            subprocess.run(["umount", "--lazy", str(mount.point)], capture_output=True, timeout=60)
        _remove_dir(mount.point)
        gone.append(mount.point)
    return gone


def _remove_dir(point: Path) -> None:
    try:
        point.rmdir()
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.export.mounting")
    parser.add_argument("action", choices=("mount", "unmount"))
    parser.add_argument("device", help="the kernel's name of the partition, e.g. sdb1")
    parser.add_argument("--config", default="/etc/hookline/hookline.toml")
    parser.add_argument("--owner", default=OWNER, help="the user who gets the stick's files")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", args.device):
        parser.error(f"{args.device!r} is not a device name")
    try:
        root = configmod.load(args.config).export.mount_root
        if args.action == "mount":
            print(f"mounted /dev/{args.device} at {mount(args.device, root, args.owner)}")
        else:
            for point in unmount(args.device, root):
                print(f"unmounted {point}")
    except NotAStick as e:      # said, but no failed unit at every boot for the box's own disk
        print(f"hookline-stick: {e}", file=sys.stderr)
        return 0
    except (configmod.ConfigError, MountError, OSError, subprocess.TimeoutExpired) as e:
        print(f"hookline-stick: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
