"""The USB sticks mounted under the box's mount root ([export] mount_root): what each is, whether an
export can go there (else one sentence saying why not), and ejecting one: flush, then unmount.

On the box, firmware_config/hookline-stick@.service mounts each stick at <mount root>/<its label>
(made safe as a file name); the recorder, which runs unprivileged, ejects by stopping that unit
(a polkit rule lets user hookline stop only those units). A mount made some other way is
unmounted with umount(8), which needs root.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..present.words import size

SUPPORTED = ("vfat", "exfat", "ext4")
NAMES = {"vfat": "FAT32", "exfat": "exFAT", "ext4": "ext4", "ntfs": "NTFS", "ntfs3": "NTFS", "fuseblk": "NTFS or exFAT",
         "hfsplus": "Mac OS Extended", "iso9660": "CD-ROM", "btrfs": "Btrfs", "xfs": "XFS"}
NEARLY_FULL_BYTES = 50 * 1024 * 1024      # less than this free: an export would stop at once
MOUNTINFO = Path("/proc/self/mountinfo")
UNIT = "hookline-stick@{}.service"


class EjectError(RuntimeError):
    """The stick could not be flushed or unmounted; str() is the sentence for the owner."""


@dataclass(frozen=True)
class Stick:
    path: Path
    label: str
    fstype: str
    total_bytes: int
    free_bytes: int
    read_only: bool
    problem: str | None        # None: an export can go there; else a sentence saying why not

    def space_words(self) -> str:
        """'2.1 GB free of 7.9 GB'."""
        return f"{size(self.free_bytes)} free of {size(self.total_bytes)}"


@dataclass(frozen=True)
class Mount:
    point: Path
    source: str
    fstype: str
    options: frozenset[str]
    device: str = ""            # the filesystem's device number, "major:minor" (as st_dev)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(mountinfo: Path = MOUNTINFO) -> dict[Path, Mount]:
    """Mount point -> what is mounted there now (the last mount on a point hides earlier ones)."""
    mounts: dict[Path, Mount] = {}
    for line in mountinfo.read_text(errors="replace").splitlines():
        fields = line.split(" ")
        try:
            dash = fields.index("-", 6)
            point = Path(_unescape(fields[4]))
            fstype, source, super_opts = fields[dash + 1], _unescape(fields[dash + 2]), fields[dash + 3]
        except (ValueError, IndexError):
            continue
        mounts[point] = Mount(point, source, fstype, frozenset(fields[5].split(",") + super_opts.split(",")),
                              fields[2])
    return mounts


def mounted_from(dev: Path) -> list[Path]:
    """Where the block device dev is mounted now, by its device number (so also where mountinfo
    names it otherwise, e.g. /dev/root)."""
    rdev = os.stat(dev).st_rdev
    number = f"{os.major(rdev)}:{os.minor(rdev)}"
    return sorted(m.point for m in _mounts().values() if m.device == number)


def mounted_under(mount_root: Path) -> list[Mount]:
    root = Path(os.path.realpath(mount_root))
    return sorted((m for p, m in _mounts().items() if p != root and p.is_relative_to(root)),
                  key=lambda m: str(m.point))


def find(mount_root: Path) -> list[Stick]:
    """The volumes mounted under mount_root (not mount_root itself), by mount point."""
    sticks = []
    for mount in mounted_under(mount_root):
        try:
            st = os.statvfs(mount.point)
        except OSError:        # pulled a moment ago: its mount is on its way out
            continue
        total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize     # free as free_bytes()
        read_only = "ro" in mount.options or not _writable(mount.point)
        sticks.append(Stick(mount.point, mount.point.name, mount.fstype, total, free, read_only,
                            _problem(mount.fstype, read_only, free)))
    return sticks


def free_bytes(path: Path) -> int:
    """The room an unprivileged writer has on the filesystem holding path."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _writable(point: Path) -> bool:
    """Whether this process may write where an export goes (the Hookline folder once there is one;
    an ext4 stick's own root belongs to whoever made it). Asked without writing to the stick."""
    folder = point / "Hookline"     # os.path.isdir: a root the recorder may not enter is "no", not an error
    return os.access(folder if os.path.isdir(folder) else point, os.W_OK)


def _problem(fstype: str, read_only: bool, free: int) -> str | None:
    if fstype not in SUPPORTED:
        return (f"The stick's filesystem is {filesystem_name(fstype)}, which the box does not export to: "
                "format it as FAT32 or exFAT (ext4 also works, but Windows and Macs cannot read it).")
    if read_only:
        return ("The stick is read-only: slide its lock switch off and plug it in again, "
                "or use another stick.")
    if free < NEARLY_FULL_BYTES:
        return f"The stick is nearly full: only {size(free)} free. Make room on it or use another stick."
    return None


def filesystem_name(fstype: str) -> str:
    """The filesystem as people know it: vfat -> FAT32."""
    return NAMES.get(fstype, fstype)


def eject(path: Path) -> None:
    """Flush everything written to the stick at path and unmount it, so it is safe to remove;
    EjectError with a sentence when that cannot be done."""
    path = Path(os.path.realpath(path))
    mount = _mounts().get(path)
    if mount is None:
        raise EjectError(f"{path} is not a mounted stick: nothing to eject.")
    _flush(path)
    unit = _unit_of(mount)
    if unit is not None:
        _run(["systemctl", "stop", "--no-ask-password", unit], path)
    else:
        _run(["umount", str(path)], path)
    if path in _mounts():
        raise EjectError(f"The stick at {path} is still mounted: something still uses it. "
                         "Close what uses it and eject again.")


def _flush(path: Path) -> None:
    """syncfs(2) on the stick: every file written there reaches it before the unmount starts."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:        # pulled and gone, or an ext4 stick's root the recorder may not read
        raise EjectError(f"Could not flush the stick at {path}: {e.strerror or e}. "
                         "Do not pull it out yet; close what uses it, or plug it in and export again.") from None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise EjectError(f"Could not flush the stick at {path}: {os.strerror(err)}. "
                             "It may have been pulled out; plug it in and export again.")
    finally:
        os.close(fd)


def _unit_of(mount: Mount) -> str | None:
    """The hookline-stick@ unit that mounted this stick, when systemd runs it; else None."""
    if not mount.source.startswith("/dev/") or shutil.which("systemctl") is None:
        return None
    unit = UNIT.format(Path(mount.source).name)
    try:
        active = subprocess.run(["systemctl", "is-active", "--quiet", unit], timeout=10,
                                stdin=subprocess.DEVNULL, capture_output=True)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return unit if active.returncode == 0 else None


def _run(argv: list[str], path: Path) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EjectError(f"Could not unmount the stick at {path}: {e}.") from None
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise EjectError(f"Could not unmount the stick at {path}: {why[-1] if why else f'{argv[0]} failed'}.")
