#!/usr/bin/python3
"""Grow the root partition to the end of its disk, then its ext4 filesystem, online.

Run once on an image's first boot (firmware_config/hookline-grow-root.service): the images are
built with a small root, and written to a 32 GB card or a 256 GB SSD the box must use all of it.
Only the last partition can grow, and only into free space after it. The partition table is
rewritten here (MBR: the entry's sector count; GPT: the entry's last LBA, the backup header and
entry array moved to the disk's end, the primary header's fields and both CRCs), the kernel is
told the new size (`partx -u`, a BLKPG resize that works on a mounted partition) and
`resize2fs` grows the mounted filesystem. Nothing else is touched: a layout this script does not
expect is refused with one line and exit status 1, before anything is written.

Stdlib only: it runs with the image's /usr/bin/python3, outside Hookline's venv.
"""
import os
import struct
import subprocess
import sys
import zlib

MIN_GROWTH = 16 * 1024 * 1024   # bytes of free space after the root worth a rewrite
GPT_SIGNATURE = b"EFI PART"
MBR_EXTENDED = (0x05, 0x0F, 0x85)


class Refused(Exception):
    """A layout this script will not change; the message says why."""


def read_at(fd, offset, length):
    data = os.pread(fd, length, offset)
    if len(data) != length:
        raise Refused(f"short read at byte {offset}")
    return data


def write_at(fd, offset, data):
    if os.pwrite(fd, data, offset) != len(data):
        raise OSError(f"short write at byte {offset}")


# --- MBR ---------------------------------------------------------------------------------------

def mbr_entries(sector0):
    """The four primary entries as (type, start, count), in sectors; empty ones included."""
    if sector0[510:512] != b"\x55\xaa":
        raise Refused("no MBR boot signature: not a partition table this script knows")
    entries = []
    for i in range(4):
        raw = sector0[446 + 16 * i:446 + 16 * (i + 1)]
        entries.append((raw[4],) + struct.unpack_from("<II", raw, 8))
    return entries


def plan_mbr(sector0, number, disk_sectors):
    """The new sector count of MBR partition `number`, or None when there is nothing to do."""
    entries = mbr_entries(sector0)
    if not 1 <= number <= 4:
        raise Refused(f"root is partition {number}: not a primary MBR partition")
    kind, start, count = entries[number - 1]
    if kind == 0 or count == 0:
        raise Refused(f"MBR partition {number} is empty")
    for i, (other_kind, other_start, other_count) in enumerate(entries):
        if other_kind in MBR_EXTENDED:
            raise Refused("an extended MBR partition: not a layout this script changes")
        if other_count and other_start + other_count > disk_sectors:
            raise Refused(f"MBR partition {i + 1} ends past the disk's end")
        if i != number - 1 and other_count and other_start + other_count > start:
            raise Refused(f"root (partition {number}) is not the last partition on the disk")
    new_count = min(disk_sectors, 0xFFFFFFFF) - start
    return new_count if new_count > count else None


def grow_mbr(fd, number, disk_sectors, sector_size):
    sector0 = read_at(fd, 0, 512)
    new_count = plan_mbr(sector0, number, disk_sectors)
    if new_count is None or (new_count - mbr_entries(sector0)[number - 1][2]) * sector_size < MIN_GROWTH:
        return None
    write_at(fd, 446 + 16 * (number - 1) + 12, struct.pack("<I", new_count))
    os.fsync(fd)
    return new_count


# --- GPT ---------------------------------------------------------------------------------------

HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")   # the 92 bytes of a GPT header


def parse_gpt_header(raw):
    (sig, revision, size, crc, _reserved, my_lba, alt_lba, first_usable, last_usable, guid,
     entries_lba, entry_count, entry_size, entries_crc) = HEADER.unpack_from(raw)
    if sig != GPT_SIGNATURE or not 92 <= size <= len(raw):
        raise Refused("no GPT header at LBA 1")
    check = bytearray(raw[:size])
    check[16:20] = b"\0\0\0\0"
    if zlib.crc32(check) != crc:
        raise Refused("the GPT header's CRC does not match")
    if entry_size < 128 or entry_size % 8 or not 0 < entry_count <= 4096:
        raise Refused("a GPT header with an unexpected entry array")
    return dict(revision=revision, size=size, my_lba=my_lba, alt_lba=alt_lba,
                first_usable=first_usable, last_usable=last_usable, guid=guid,
                entries_lba=entries_lba, entry_count=entry_count, entry_size=entry_size,
                entries_crc=entries_crc)


def build_gpt_header(h, sector_size):
    fields = [GPT_SIGNATURE, h["revision"], h["size"], 0, 0, h["my_lba"], h["alt_lba"],
              h["first_usable"], h["last_usable"], h["guid"], h["entries_lba"],
              h["entry_count"], h["entry_size"], h["entries_crc"]]
    body = bytearray(HEADER.pack(*fields)) + bytes(h["size"] - HEADER.size)
    struct.pack_into("<I", body, 16, zlib.crc32(body))
    return bytes(body) + bytes(sector_size - h["size"])


def gpt_ranges(entries, h):
    """(index, first LBA, last LBA) of every used entry."""
    used = []
    for i in range(h["entry_count"]):
        raw = entries[i * h["entry_size"]:(i + 1) * h["entry_size"]]
        if raw[:16] != bytes(16):
            used.append((i,) + struct.unpack_from("<QQ", raw, 32))
    return used


def plan_gpt(h, entries, number, disk_sectors, array_sectors):
    """(first LBA, last LBA) of GPT partition `number`, once the table is known to be sound."""
    if zlib.crc32(entries) != h["entries_crc"]:
        raise Refused("the GPT entry array's CRC does not match")
    if h["my_lba"] != 1 or h["alt_lba"] >= disk_sectors or h["last_usable"] >= h["alt_lba"]:
        raise Refused("the GPT header says the disk is bigger than it is")
    if h["entries_lba"] < 2 or h["entries_lba"] + array_sectors > h["first_usable"]:
        raise Refused("a GPT entry array where this script does not expect it")
    used = gpt_ranges(entries, h)
    mine = [r for r in used if r[0] == number - 1]
    if not mine:
        raise Refused(f"GPT partition {number} is empty")
    _, start, end = mine[0]
    if any(i != number - 1 and last >= start for i, _, last in used):
        raise Refused(f"root (partition {number}) is not the last partition on the disk")
    if end > h["last_usable"]:
        raise Refused(f"GPT partition {number} ends past the last usable LBA")
    return start, end


def grow_gpt(fd, number, disk_sectors, sector_size):
    h = parse_gpt_header(read_at(fd, sector_size, sector_size))
    array_bytes = h["entry_count"] * h["entry_size"]
    array_sectors = -(-array_bytes // sector_size)
    entries = bytearray(read_at(fd, h["entries_lba"] * sector_size, array_bytes))
    start, end = plan_gpt(h, entries, number, disk_sectors, array_sectors)
    check_protective_mbr(read_at(fd, 0, 512))   # before anything is written
    new_alt = disk_sectors - 1
    new_last_usable = new_alt - array_sectors - 1
    if (new_last_usable - end) * sector_size < MIN_GROWTH:
        return None
    struct.pack_into("<Q", entries, (number - 1) * h["entry_size"] + 40, new_last_usable)
    h.update(entries_crc=zlib.crc32(entries), last_usable=new_last_usable)
    # The backup first, into free space nothing uses: until the primary is written, the old
    # primary and the old backup still describe the disk as it was.
    backup = dict(h, my_lba=new_alt, alt_lba=1, entries_lba=new_alt - array_sectors)
    write_at(fd, backup["entries_lba"] * sector_size, bytes(entries))
    write_at(fd, new_alt * sector_size, build_gpt_header(backup, sector_size))
    os.fsync(fd)
    write_at(fd, h["entries_lba"] * sector_size, bytes(entries))
    write_at(fd, sector_size, build_gpt_header(dict(h, alt_lba=new_alt), sector_size))
    os.fsync(fd)
    grow_protective_mbr(fd, disk_sectors)
    return new_last_usable - start + 1


def check_protective_mbr(sector0):
    """One 0xEE entry from LBA 1, as sgdisk writes it. A hybrid MBR also describes partitions,
    which this script would leave behind: refused."""
    used = [entry for entry in mbr_entries(sector0) if entry[0] != 0]
    if len(used) != 1 or used[0][:2] != (0xEE, 1):
        raise Refused("the GPT's MBR is not a plain protective MBR (a hybrid MBR?)")


def grow_protective_mbr(fd, disk_sectors):
    """The protective MBR's 0xEE entry covers the whole disk (up to 2^32-1 sectors), as sgdisk
    writes it; fdisk warns about a mismatch otherwise."""
    for i, (kind, start, count) in enumerate(mbr_entries(read_at(fd, 0, 512))):
        new_count = min(disk_sectors - 1, 0xFFFFFFFF)
        if kind == 0xEE and start == 1 and new_count != count:
            write_at(fd, 446 + 16 * i + 12, struct.pack("<I", new_count))
            os.fsync(fd)


# --- the table on a device or a file ----------------------------------------------------------

def table_kind(fd, sector_size):
    if read_at(fd, sector_size, 8) == GPT_SIGNATURE:
        return "gpt"
    entries = mbr_entries(read_at(fd, 0, 512))
    if any(kind == 0xEE for kind, _, _ in entries):
        raise Refused("a protective MBR without a valid GPT header")
    return "mbr"


def grow_table(disk_path, number, sector_size=512, disk_bytes=None):
    """Grow partition `number` of the table on `disk_path` (a whole-disk device or an image file)
    to the end of the disk. Returns its new size in sectors, or None when there was nothing to
    do. Raises Refused, having written nothing, for a layout it does not expect."""
    fd = os.open(disk_path, os.O_RDWR)
    try:
        size = disk_bytes if disk_bytes is not None else os.lseek(fd, 0, os.SEEK_END)
        disk_sectors = size // sector_size
        if table_kind(fd, sector_size) == "gpt":
            return grow_gpt(fd, number, disk_sectors, sector_size)
        return grow_mbr(fd, number, disk_sectors, sector_size)
    finally:
        os.close(fd)


# --- the box: which disk, tell the kernel, grow the filesystem ---------------------------------

def root_partition(mountinfo_path="/proc/self/mountinfo", sys_root="/sys"):
    """(partition name, disk name, partition number) of the filesystem mounted at /."""
    dev = fstype = None
    with open(mountinfo_path) as mountinfo:
        for line in mountinfo:   # the last mount at / is the one in use
            fields = line.split()
            if fields[4] == "/":
                dev, fstype = fields[2], fields[fields.index("-") + 1]
    if dev is None:
        raise Refused("nothing is mounted at /")
    if fstype != "ext4":
        raise Refused(f"the root filesystem is {fstype}, not ext4")
    sys_dev = os.path.realpath(f"{sys_root}/dev/block/{dev}")
    if not os.path.exists(os.path.join(sys_dev, "partition")):
        raise Refused(f"the root ({os.path.basename(sys_dev)}) is not on a partition")
    with open(os.path.join(sys_dev, "partition")) as f:
        number = int(f.read())
    return os.path.basename(sys_dev), os.path.basename(os.path.dirname(sys_dev)), number


def sys_int(*path):
    with open(os.path.join("/sys/class/block", *path)) as f:
        return int(f.read())


def grow_root():
    part, disk, number = root_partition()
    sector_size = sys_int(disk, "queue", "logical_block_size")
    disk_bytes = sys_int(disk, "size") * 512   # sysfs counts 512-byte units
    new_sectors = grow_table(f"/dev/{disk}", number, sector_size, disk_bytes)
    if new_sectors is not None:
        print(f"grow-root: partition {number} of /dev/{disk} now ends at the disk's end "
              f"({new_sectors * sector_size // 2**20} MiB)")
    # Also when the table was grown on a boot that stopped before the filesystem was: the
    # kernel's idea of the partition, then the filesystem, catch up with the table (both are
    # no-ops when they already match it).
    subprocess.run(["partx", "-u", "--nr", str(number), f"/dev/{disk}"], check=True)
    result = subprocess.run(["resize2fs", f"/dev/{part}"], capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise Refused(f"resize2fs /dev/{part} failed (exit {result.returncode})")
    if "Nothing to do" not in result.stdout + result.stderr:
        print(f"grow-root: /dev/{part} filesystem grown to fill the partition")


def main():
    try:
        grow_root()
    except (Refused, OSError, subprocess.CalledProcessError) as err:
        print(f"grow-root: not grown: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
