"""image/grow_root.py on disk image files made by sgdisk and sfdisk, laid out like the amd64 image
(GPT: BIOS boot, ESP, root) and the Raspberry Pi image (MBR: FAT32 boot, root): the file is
enlarged as if the image had been written to a bigger disk, the table is rewritten, and the
partitioning tools themselves say whether the result is sound. The kernel steps (partx,
resize2fs online) need the box and are checked in the virtual box."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
SECTOR = 512

_spec = importlib.util.spec_from_file_location("grow_root", REPO / "image" / "grow_root.py")
grow_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grow_root)

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("sgdisk", "sfdisk", "mkfs.ext4", "e2fsck")),
    reason="needs gdisk, fdisk, e2fsprogs")


def run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True,
                          text=True).stdout


def make_gpt(path: Path, size_mib: int = 40) -> None:
    """Like build-image.sh: 1 MiB BIOS boot, an ESP, the root to the end, 128 entries."""
    path.touch()
    os.truncate(path, size_mib * MIB)
    run("sgdisk", "-n", "1:2048:+1M", "-t", "1:ef02", "-n", "2:0:+8M", "-t", "2:ef00",
        "-n", "3:0:0", "-t", "3:8304", path)


def make_mbr(path: Path, size_mib: int = 40) -> None:
    """Like disk-arm64-raspi.sh: a FAT32 boot partition at 4 MiB, the root to the end."""
    path.touch()
    os.truncate(path, size_mib * MIB)
    subprocess.run(["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(path)], check=True,
                   input="label: dos\nstart=8192, size=16384, type=c\nstart=24576, type=83\n", text=True)


def put_ext4(tmp_path: Path, image: Path, start: int, sectors: int) -> None:
    """An ext4 made from a folder, written into the partition at `start` (sectors)."""
    content = tmp_path / "content"
    (content / "var" / "lib" / "hookline").mkdir(parents=True)
    (content / "var" / "lib" / "hookline" / "call.mp3").write_bytes(os.urandom(200_000))
    fs = tmp_path / "root.ext4"
    run("mkfs.ext4", "-q", "-F", "-d", content, fs, f"{sectors * SECTOR // 1024}k")
    with open(image, "r+b") as out:
        out.seek(start * SECTOR)
        out.write(fs.read_bytes())


def region(image: Path, start: int, sectors: int, out: Path) -> Path:
    with open(image, "rb") as f:
        f.seek(start * SECTOR)
        out.write_bytes(f.read(sectors * SECTOR))
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gpt_parts(image: Path) -> list[dict]:
    return json.loads(run("sfdisk", "-J", image))["partitiontable"]["partitions"]


def test_gpt_root_grows_to_the_end_and_the_tools_find_no_problem(tmp_path):
    image = tmp_path / "disk.img"
    make_gpt(image)
    root = gpt_parts(image)[2]
    put_ext4(tmp_path, image, root["start"], root["size"])
    fs_before = digest(region(image, root["start"], root["size"], tmp_path / "a"))
    os.truncate(image, 128 * MIB)

    new_sectors = grow_root.grow_table(str(image), 3)

    sectors = 128 * MIB // SECTOR
    last_usable = sectors - 1 - 32 - 1    # backup header at the end, 32 sectors of entries
    assert new_sectors == last_usable - root["start"] + 1
    verify = run("sgdisk", "-v", image)
    assert "No problems found" in verify, verify
    assert gpt_parts(image)[2]["size"] == new_sectors
    assert f"last usable sector is {last_usable}" in run("sgdisk", "-p", image)
    with open(image, "rb") as f:
        f.seek((sectors - 1) * SECTOR)
        assert f.read(8) == b"EFI PART"      # the backup header at the disk's last sector
    with open(image, "rb") as f:               # the protective MBR covers the disk
        assert grow_root.mbr_entries(f.read(SECTOR))[0] == (0xEE, 1, sectors - 1)
    # The filesystem's bytes are untouched, and it grows into the new partition.
    assert digest(region(image, root["start"], root["size"], tmp_path / "b")) == fs_before
    grown = region(image, root["start"], new_sectors, tmp_path / "grown.ext4")
    run("e2fsck", "-fn", grown)
    run("resize2fs", grown)
    run("e2fsck", "-fn", grown)

    unchanged = digest(image)
    assert grow_root.grow_table(str(image), 3) is None   # twice: nothing to do
    assert digest(image) == unchanged


def test_mbr_root_grows_to_the_end(tmp_path):
    image = tmp_path / "disk.img"
    make_mbr(image)
    boot, root = gpt_parts(image)
    put_ext4(tmp_path, image, root["start"], root["size"])
    fs_before = digest(region(image, root["start"], root["size"], tmp_path / "a"))
    os.truncate(image, 96 * MIB)

    new_sectors = grow_root.grow_table(str(image), 2)

    assert new_sectors == 96 * MIB // SECTOR - root["start"]
    assert gpt_parts(image) == [boot, dict(root, size=new_sectors)]
    assert digest(region(image, root["start"], root["size"], tmp_path / "b")) == fs_before
    run("e2fsck", "-fn", region(image, root["start"], new_sectors, tmp_path / "grown.ext4"))

    unchanged = digest(image)
    assert grow_root.grow_table(str(image), 2) is None
    assert digest(image) == unchanged


def test_little_free_space_is_left_alone(tmp_path):
    for make, number in ((make_gpt, 3), (make_mbr, 2)):
        image = tmp_path / f"{make.__name__}.img"
        make(image)
        os.truncate(image, 40 * MIB + 8 * MIB)    # less than 16 MiB more
        before = digest(image)
        assert grow_root.grow_table(str(image), number) is None
        assert digest(image) == before


def refused(image: Path, number: int, words: str) -> None:
    before = digest(image)
    with pytest.raises(grow_root.Refused, match=words):
        grow_root.grow_table(str(image), number)
    assert digest(image) == before, "a refused layout was written to"


def test_a_root_that_is_not_the_last_partition_is_refused(tmp_path):
    gpt, mbr = tmp_path / "gpt.img", tmp_path / "mbr.img"
    make_gpt(gpt)
    make_mbr(mbr)
    os.truncate(gpt, 128 * MIB)
    os.truncate(mbr, 128 * MIB)
    refused(gpt, 2, "not the last partition")
    refused(mbr, 1, "not the last partition")
    refused(gpt, 4, "partition 4 is empty")
    refused(mbr, 5, "not a primary MBR partition")


def test_unknown_or_inconsistent_tables_are_refused(tmp_path):
    garbage = tmp_path / "garbage.img"
    garbage.write_bytes(os.urandom(64 * 1024) + bytes(64 * MIB))
    refused(garbage, 2, "no MBR boot signature")

    smaller = tmp_path / "smaller.img"       # the disk is smaller than the GPT says
    make_gpt(smaller)
    os.truncate(smaller, 30 * MIB)
    refused(smaller, 3, "bigger than it is")

    smaller_mbr = tmp_path / "smaller-mbr.img"
    make_mbr(smaller_mbr)
    os.truncate(smaller_mbr, 30 * MIB)
    refused(smaller_mbr, 2, "ends past the disk's end")

    bad_crc = tmp_path / "crc.img"           # one byte of the entry array changed
    make_gpt(bad_crc)
    os.truncate(bad_crc, 128 * MIB)
    with open(bad_crc, "r+b") as f:
        f.seek(2 * SECTOR + 56)
        f.write(b"X")
    refused(bad_crc, 3, "CRC does not match")

    no_gpt = tmp_path / "pmbr.img"           # a protective MBR with the GPT header wiped
    make_gpt(no_gpt)
    os.truncate(no_gpt, 128 * MIB)
    with open(no_gpt, "r+b") as f:
        f.seek(SECTOR)
        f.write(bytes(SECTOR))
    refused(no_gpt, 3, "without a valid GPT header")

    hybrid = tmp_path / "hybrid.img"         # a hybrid MBR also names the root: left behind
    make_gpt(hybrid)
    os.truncate(hybrid, 128 * MIB)
    run("sgdisk", "-h", "3", hybrid)
    refused(hybrid, 3, "hybrid MBR")

    overlap = tmp_path / "overlap.img"       # another MBR partition runs into the root
    make_mbr(overlap)
    os.truncate(overlap, 128 * MIB)
    with open(overlap, "r+b") as f:
        f.seek(446 + 12)
        f.write((24576 - 8192 + 1).to_bytes(4, "little"))
    refused(overlap, 2, "not the last partition")


def test_images_enable_the_unit_and_an_existing_system_never_gets_it(tmp_path):
    unit = (REPO / "firmware_config" / "hookline-grow-root.service").read_text()
    assert "ExecStart=/usr/bin/python3 /usr/local/sbin/hookline-grow-root" in unit
    assert "Before=hookline-recorder.service hookline-web.service" in unit
    stamp = "/var/lib/hookline-grow-root.done"
    assert f"ConditionPathExists=!{stamp}" in unit and f"ExecStartPost=/usr/bin/touch {stamp}" in unit
    build = (REPO / "image" / "build-image.sh").read_text()
    shared = build[:build.index('if [ "$target" != amd64 ]')]   # both images, amd64 and the Pi's
    assert '/image/grow_root.py" "$root/usr/local/sbin/hookline-grow-root"' in shared
    assert "systemctl enable hookline-grow-root.service" in shared
    for script in [REPO / "image" / "install-on-box.sh", *(REPO / "image" / "stage-hookline").rglob("*")]:
        assert script.is_dir() or "grow" not in script.read_text(), script
    if shutil.which("systemd-analyze"):
        (tmp_path / "hookline-grow-root.service").write_text(
            unit.replace("/usr/local/sbin/hookline-grow-root", str(REPO / "image" / "grow_root.py")))
        proc = subprocess.run(["systemd-analyze", "verify", "hookline-grow-root.service"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def fake_box(tmp_path: Path, root_line: str) -> tuple[Path, Path]:
    """A mountinfo and the /sys links the kernel makes for sda (partitions 1-3) and vdb."""
    sys_root = tmp_path / "sys"
    for disk, parts in (("sda", 3), ("vdb", 0)):
        block = sys_root / "devices" / "pci0000:00" / "block" / disk
        block.mkdir(parents=True)
        for n in range(1, parts + 1):
            (block / f"{disk}{n}").mkdir()
            (block / f"{disk}{n}" / "partition").write_text(f"{n}\n")
    links = sys_root / "dev" / "block"
    links.mkdir(parents=True)
    devices = sys_root / "devices" / "pci0000:00" / "block"
    (links / "8:3").symlink_to(devices / "sda" / "sda3")
    (links / "254:16").symlink_to(devices / "vdb")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("22 1 0:21 / /proc rw,nosuid - proc proc rw\n" + root_line + "\n")
    return mountinfo, sys_root


def test_the_root_is_found_by_its_device_numbers(tmp_path):
    box = fake_box(tmp_path, "25 1 8:3 / / rw,noatime shared:1 - ext4 /dev/sda3 rw")
    assert grow_root.root_partition(*box) == ("sda3", "sda", 3)
    box = fake_box(tmp_path / "disk", "25 1 254:16 / / rw - ext4 /dev/vdb rw")
    with pytest.raises(grow_root.Refused, match=r"root \(vdb\) is not on a partition"):
        grow_root.root_partition(*box)
    box = fake_box(tmp_path / "btrfs", "25 1 8:3 / / rw - btrfs /dev/sda3 rw")
    with pytest.raises(grow_root.Refused, match="btrfs, not ext4"):
        grow_root.root_partition(*box)
