#!/usr/bin/env python3
"""Make a GPT disk image boot GRUB by BIOS, without a loop device: what grub-bios-setup does.

    python3 image/grub_bios_boot.py DISK.img boot.img core.img FIRST_LBA

boot.img (446 bytes of code) goes into the MBR, keeping the protective partition table; it loads
the first sector of core.img from FIRST_LBA (the BIOS boot partition's start), and that sector's
blocklist loads the rest, which follows it. grub-bios-setup cannot be used on an image file: it
insists on guessing the root device of --directory, and the build folder's disk is the host's.
"""

import struct
import sys

SECTOR = 512
KERNEL_SECTOR = 0x5C  # boot.img: LBA of core.img's first sector (8 bytes)
DRIVE_CHECK = 0x66  # boot.img: a jmp that skips the "trust DL only if it is a hard disk" fix
PART_TABLE = slice(0x1B8, 0x1FE)  # disk signature + the four MBR entries (GPT's protective one)
CORE_SEGMENT = 0x820  # where diskboot.img loads the rest of core.img (0x8200)


def install(disk: str, boot_path: str, core_path: str, first_lba: int, max_sectors: int) -> None:
    boot = bytearray(open(boot_path, "rb").read())
    core = bytearray(open(core_path, "rb").read())
    if len(boot) != SECTOR:
        raise SystemExit(f"{boot_path}: expected {SECTOR} bytes, got {len(boot)}")
    core += bytes(-len(core) % SECTOR)
    sectors = len(core) // SECTOR
    if sectors > max_sectors:
        raise SystemExit(f"core.img needs {sectors} sectors, the BIOS boot partition has {max_sectors}")
    # diskboot.img's blocklist (the last 12 bytes of its sector): start, count, segment.
    struct.pack_into("<QHH", core, SECTOR - 12, first_lba + 1, sectors - 1, CORE_SEGMENT)
    with open(disk, "r+b") as f:
        mbr = f.read(SECTOR)
        if mbr[0x1FE:] != b"\x55\xaa":
            raise SystemExit(f"{disk}: no MBR signature (partition it first)")
        struct.pack_into("<Q", boot, KERNEL_SECTOR, first_lba)
        boot[DRIVE_CHECK:DRIVE_CHECK + 2] = b"\x90\x90"
        boot[PART_TABLE] = mbr[PART_TABLE]
        f.seek(0)
        f.write(boot)
        f.seek(first_lba * SECTOR)
        f.write(core)


if __name__ == "__main__":
    disk, boot_img, core_img, lba, max_sectors = sys.argv[1:6]
    install(disk, boot_img, core_img, int(lba), int(max_sectors))
