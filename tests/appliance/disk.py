"""The virtual box's disk: a copy of the built image with the test's own files written into it.

The shipped image is never changed. Its copy gets, through debugfs (nothing is mounted):
- the test agent and its unit (guest_agent.py), on a virtio-serial port;
- a hookline.toml and asound.conf for snd-aloop, the kernel's loopback sound card, loaded at boot;
- the tone the guest plays into the loopback, and `lame` from this machine (same Debian release)
  for the CPU comparison with `arecord | lame`.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent
ROOT_PARTITION = 3      # image/build-image.sh: BIOS boot, ESP, root
GROW_BY = 2 << 30       # the test's disk is 2 GiB bigger than the image

AGENT_UNIT = """[Unit]
Description=Hookline appliance test agent (test copy of the image only)
DefaultDependencies=no
After=systemd-udevd.service

[Service]
ExecStart=/usr/bin/python3 /usr/local/sbin/hookline-test-agent
Restart=always
RestartSec=1

[Install]
WantedBy=sysinit.target
"""

# Line 1: hook from a serial line monitor on the second UART (driven by the host); line 2: VOX.
# Each captures one substream of the loopback card: the guest's player writes the other end.
CONFIG = """data_dir = "/var/lib/hookline"
status_file = "/run/hookline/status.json"
audit_seal_file = "/var/lib/hookline-seal/audit-head.json"
timezone = "UTC"
phone_region = "US"

[audio]
sample_rate = 8000
period_ms = 20
bitrate_kbps = 32

[recording]
preroll_s = 1.0
min_call_s = 2.0

[[line]]
id = 1
name = "Monitor line"
capture = "line1"
near_channel = "left"
[line.offhook]
source = "serial"
port = "/dev/ttyS1"
baud = 9600

[[line]]
id = 2
name = "VOX line"
capture = "line2"
near_channel = "left"
[line.offhook]
source = "vox"
"""

ASOUND = """# snd-aloop: what is played on hw:Loopback,0,N is captured on hw:Loopback,1,N.
pcm.line1 { type plug; slave.pcm "hw:Loopback,1,0" }
pcm.line2 { type plug; slave.pcm "hw:Loopback,1,1" }
"""

# rm of a file not there yet, mkdir of a folder that is.
BENIGN = ("File not found by ext2_lookup", "already exists")
LAME_FILES = ["/usr/bin/lame", "/usr/lib/x86_64-linux-gnu/libmp3lame.so.0"]


def root_offset(image: Path) -> int:
    """Byte offset of the root filesystem in the image."""
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], check=True,
                                      capture_output=True, text=True).stdout)["partitiontable"]
    part = table["partitions"][ROOT_PARTITION - 1]
    return int(part["start"]) * table.get("sectorsize", 512)


def debugfs(image: Path, offset: int, commands: list[str]) -> None:
    script = "\n".join(commands) + "\n"
    done = subprocess.run(["debugfs", "-w", "-f", "-", f"{image}?offset={offset}"], input=script,
                          capture_output=True, text=True)
    # debugfs exits 0 even when a command fails; its complaints name the command.
    bad = [line for line in done.stderr.splitlines()
           if line and not line.startswith("debugfs ") and not any(ok in line for ok in BENIGN)]
    if done.returncode or bad:
        raise RuntimeError(f"debugfs on {image}: {done.stderr.strip()}")


def prepare(image: Path, work: Path, tone: Path) -> Path:
    """A fresh copy of image in work/, with the test's files in it; returns its path."""
    work.mkdir(parents=True, exist_ok=True)
    disk = work / "disk.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(disk)], check=True)
    with open(disk, "r+b") as f:        # a bigger disk than the image, as a card or SSD is: first boot grows the root
        f.truncate(image.stat().st_size + GROW_BY)
    files = work / "inject"
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir()
    (files / "agent.service").write_text(AGENT_UNIT)
    (files / "hookline.toml").write_text(CONFIG)
    (files / "asound.conf").write_text(ASOUND)
    (files / "modules.conf").write_text("snd-aloop\n")
    cmds = ["mkdir /usr/local/sbin", "mkdir /var/lib/hookline-test", "mkdir /etc/systemd/system/sysinit.target.wants"]
    for name, dest in [(HERE / "guest_agent.py", "/usr/local/sbin/hookline-test-agent"),
                       (files / "agent.service", "/etc/systemd/system/hookline-test-agent.service"),
                       (files / "hookline.toml", "/etc/hookline/hookline.toml"),
                       (files / "asound.conf", "/etc/asound.conf"),
                       (files / "modules.conf", "/etc/modules-load.d/hookline-test.conf"),
                       (tone, "/var/lib/hookline-test/tone.wav"),
                       *[(Path(f), f) for f in LAME_FILES]]:
        cmds += [f"rm {dest}", f"write {name} {dest}", f"sif {dest} uid 0", f"sif {dest} gid 0"]
    cmds += ["sif /usr/local/sbin/hookline-test-agent mode 0100755", "sif /usr/bin/lame mode 0100755",
             "symlink /etc/systemd/system/sysinit.target.wants/hookline-test-agent.service "
             "/etc/systemd/system/hookline-test-agent.service"]
    debugfs(disk, root_offset(disk), cmds)
    return disk
