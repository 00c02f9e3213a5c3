"""The box's stick mounting (firmware_config/70-hookline-sticks.rules, hookline-stick@.service,
50-hookline-stick.rules, appliance/export/mounting.py): the helper the unit runs mounts a real
ext4 volume on a loop device under the configured root, named by its label, with the options
safe for a pulled stick, and unmounts it; the polkit rule lets user hookline stop those units
and nothing else."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import simtools as st
import sticktools
from appliance.export import mounting, sticks

FIRMWARE = st.REPO / "firmware_config"


def helper(action: str, device: str, config: Path) -> subprocess.CompletedProcess:
    """What hookline-stick@DEVICE.service runs (its ExecStart / ExecStop), as root."""
    return subprocess.run([sys.executable, "-m", "appliance.export.mounting", action, device, "--config", str(config),
                           "--owner", "nobody"], capture_output=True, text=True, timeout=60, cwd=st.REPO)


@pytest.fixture
def loop_stick(tmp_path):
    """make(label) -> the kernel name of a loop device holding a fresh ext4 volume of that label."""
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("loop devices need root and losetup")
    attached = []

    def make(label: str) -> str:
        image = tmp_path / f"{len(attached)}.img"
        with open(image, "wb") as f:
            f.truncate(80 << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", label, str(image)], check=True, capture_output=True)
        done = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"no loop device: {done.stderr.strip()}")
        attached.append(done.stdout.strip())
        return Path(attached[-1]).name

    yield make
    for dev in attached:
        for mount in sticks.mounted_under(tmp_path / "media"):
            subprocess.run(["umount", "-l", str(mount.point)], capture_output=True)
        subprocess.run(["losetup", "-d", dev], capture_output=True)


def test_the_helper_mounts_by_label_with_safe_options_and_unmounts(tmp_path, loop_stick):
    root = tmp_path / "media"
    config = tmp_path / "hookline.toml"
    sticktools.write_config(config, root)
    first, second = loop_stick("Office Calls/26"), loop_stick("Office Calls/26")
    assert helper("mount", first, config).returncode == 0
    mounted = helper("mount", second, config)
    assert mounted.returncode == 0, mounted.stderr
    assert helper("mount", second, config).returncode == 0           # the unit started again: no second mount
    found = sticks.find(root)
    assert [s.label for s in found] == ["Office_Calls_26", f"Office_Calls_26_{second}"]
    assert all(s.fstype == "ext4" and s.problem is None for s in found)
    options = {m.point: m.options for m in sticks.mounted_under(root)}
    assert all({"nosuid", "nodev", "noexec", "noatime"} <= o and "sync" not in o for o in options.values())
    nobody = __import__("pwd").getpwnam("nobody").pw_uid
    assert (found[0].path / "Hookline").stat().st_uid == nobody, "the recorder's user owns the export folder"
    held = os.open(found[0].path, os.O_RDONLY)
    try:
        busy = helper("unmount", first, config)
        assert busy.returncode == 1 and "unmounting" in busy.stderr and os.path.ismount(found[0].path)
    finally:
        os.close(held)
    assert helper("unmount", first, config).returncode == 0
    assert [s.path for s in sticks.find(root)] == [found[1].path] and not found[0].path.exists()


def test_the_helper_refuses_what_it_must_not_mount(tmp_path):
    config = tmp_path / "hookline.toml"
    sticktools.write_config(config, tmp_path / "media")
    bad = helper("mount", "../sda", config)
    assert bad.returncode == 2 and "not a device name" in bad.stderr
    assert mounting.mount_name("..", "sdb1", tmp_path) == "sdb1"
    assert mounting.mount_name(" ", "sdb1", tmp_path) == "sdb1"
    assert mounting.mount_name("Kingston DT", "sdb1", tmp_path) == "Kingston_DT"
    assert mounting.mount_name("x" * 100, "sdb1", tmp_path) == "x" * mounting.NAME_MAX
    opts = mounting.options("vfat", "nobody")
    assert opts.startswith("nosuid,nodev,noexec,noatime,uid=") and ",flush," in opts and "umask=0027" in opts
    assert "flush" not in mounting.options("exfat", "nobody") and "sync" not in opts.split(",")


def test_the_udev_rule_and_unit_hand_usb_filesystems_to_the_helper():
    [rule] = [line for line in (FIRMWARE / "70-hookline-sticks.rules").read_text().splitlines()
              if line and not line.startswith("#")]
    assert 'ENV{ID_BUS}=="usb"' in rule and 'ENV{ID_FS_TYPE}=="vfat|exfat|ext4"' in rule
    assert 'ENV{SYSTEMD_WANTS}+="hookline-stick@%k.service"' in rule and 'TAG+="systemd"' in rule
    assert 'ENV{ID_FS_LABEL}!="hookline-data"' in rule      # the box's data disk is never a stick
    unit = (FIRMWARE / "hookline-stick@.service").read_text()
    assert "BindsTo=dev-%i.device" in unit
    assert "-m appliance.export.mounting mount %i" in unit and "-m appliance.export.mounting unmount %i" in unit
    assert "Protect" not in unit and "PrivateMounts" not in unit, "the mount must be made in the box's namespace"
    recorder = (FIRMWARE / "hookline-recorder.service").read_text()
    assert "-/media/hookline" in recorder
    install = (st.REPO / "image" / "install-on-box.sh").read_text()
    for name in ("70-hookline-sticks.rules", "hookline-stick@.service", "50-hookline-stick.rules",
                 "hookline-sticks.conf"):
        assert f'firmware_config/{name}"' in install, name


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_stick_unit_passes_systemd_analyze_verify(tmp_path):
    text = (FIRMWARE / "hookline-stick@.service").read_text().replace("/opt/hookline/venv/bin/python", sys.executable)
    (tmp_path / "hookline-stick@.service").write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", "hookline-stick@sdb1.service"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (it runs the polkit rule)")
def test_the_polkit_rule_lets_hookline_stop_only_stick_units():
    # The rule as polkitd runs it: JavaScript given addRule, asked about each action.
    script = (FIRMWARE / "50-hookline-stick.rules").read_text() + """
;const asks = JSON.parse(process.argv[1]);
console.log(JSON.stringify(asks.map(([user, verb, unit, id]) => rule(
    {id: id || "org.freedesktop.systemd1.manage-units", lookup: (k) => ({verb, unit})[k]}, {user}) || "no")));
"""
    script = "const polkit = {Result: {YES: 'yes'}, addRule: (f) => { globalThis.rule = f; }};\n" + script
    asks = [["hookline", "stop", "hookline-stick@sdb1.service"],
            ["hookline", "start", "hookline-stick@sdb1.service"],
            ["hookline", "stop", "hookline-recorder.service"],
            ["hookline", "stop", "hookline-stick@sdb1.service\nx"],
            ["hookline", "stop", "hookline-stick@../x.service"],
            ["pi", "stop", "hookline-stick@sdb1.service"],
            ["hookline", "stop", "hookline-stick@sdb1.service", "org.freedesktop.login1.reboot"]]
    done = subprocess.run(["node", "-e", script, json.dumps(asks)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["yes", "no", "no", "no", "no", "no", "no"]


def made_stick(tmp_path: Path, device: str, make) -> tuple[Path, str]:
    """(the config, the device) once make(mount point) has shaped the stick as whoever formatted it."""
    sticktools.write_config(tmp_path / "hookline.toml", tmp_path / "media")
    on = tmp_path / "plant"
    on.mkdir()
    subprocess.run(["mount", f"/dev/{device}", str(on)], check=True, capture_output=True)
    try:
        make(on)
    finally:
        subprocess.run(["umount", str(on)], check=True, capture_output=True)
    return tmp_path / "hookline.toml", device


def test_a_stick_whose_hookline_folder_is_a_link_gives_nothing_outside_it_away(tmp_path, loop_stick):
    # The helper runs as root: an ext4 stick made with Hookline -> /etc must not get /etc's files
    # handed to the recorder's user (nor anything the link leads to).
    victim = tmp_path / "victim"
    (victim / "inner").mkdir(parents=True)
    (victim / "shadow").write_text("secret\n")
    config, device = made_stick(tmp_path, loop_stick("Evil"), lambda on: (on / "Hookline").symlink_to(victim))
    mounted = helper("mount", device, config)
    assert mounted.returncode == 0, mounted.stderr
    owners = {p.name: p.lstat().st_uid for p in [victim, *victim.rglob("*")]}
    assert owners == {"victim": 0, "inner": 0, "shadow": 0}


def test_a_disk_the_box_has_mounted_already_is_not_taken_for_a_stick(tmp_path, loop_stick):
    # The box's SSD is on USB too (README: "SSD on USB 3"): its partitions, mounted at / or at the
    # data folder, match the udev rule. Mounted a second time under the root, they showed on the
    # dashboard as sticks, a press exported onto the box's own disk, or was refused for "several".
    root, config = tmp_path / "media", tmp_path / "hookline.toml"
    sticktools.write_config(config, root)
    device = loop_stick("rootfs")
    own = tmp_path / "own-disk"
    own.mkdir()
    subprocess.run(["mount", f"/dev/{device}", str(own)], check=True, capture_output=True)
    try:
        refused = helper("mount", device, config)
        assert refused.returncode == 0 and f"already mounted at {own}" in refused.stderr, refused.stderr
        assert sticks.find(root) == [] and not (own / "Hookline").exists()
    finally:
        subprocess.run(["umount", str(own)], capture_output=True)


def test_a_stick_nesting_folders_deeply_still_mounts_cleanly(tmp_path, loop_stick):
    # Walking the Hookline folder deeper than Python's recursion limit must not fail the unit
    # (a failed start leaves the stick mounted with no unit the recorder may stop to eject it).
    def nest(on: Path) -> None:
        deepest = on / "Hookline"
        for _ in range(1100):       # one at a time: pathlib's mkdir(parents=True) recurses
            deepest = deepest / "a"
            deepest.mkdir(parents=True)

    config, device = made_stick(tmp_path, loop_stick("DEEP"), nest)
    mounted = helper("mount", device, config)
    assert mounted.returncode == 0 and mounted.stderr == "", mounted.stderr[-300:]
    assert [s.label for s in sticks.find(tmp_path / "media")] == ["DEEP"]


def test_sticks_of_one_label_plugged_in_together_get_a_mount_point_each(tmp_path, loop_stick):
    # systemd starts both units at once (plugged in together, or there at boot): both helpers saw
    # the label's name free and mounted there, one stick hidden under the other (a race: four
    # sticks, twice, made it show in most runs before the helper took a lock).
    root, config = tmp_path / "media", tmp_path / "hookline.toml"
    sticktools.write_config(config, root)
    devices = [loop_stick("KINGSTON") for _ in range(4)]
    for _ in range(2):
        helpers = [subprocess.Popen([sys.executable, "-m", "appliance.export.mounting", "mount", device, "--config",
                                     str(config), "--owner", "nobody"], cwd=st.REPO, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True) for device in devices]
        assert [h.wait(60) for h in helpers] == [0] * 4, [h.stderr.read() for h in helpers]
        points = [line.split(" ")[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if f" {root}/" in line]
        assert len(points) == len(set(points)) == 4, points
        for device in devices:
            assert helper("unmount", device, config).returncode == 0
