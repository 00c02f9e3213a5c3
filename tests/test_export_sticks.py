"""`hookline export` onto sticks mounted under the box's mount root, as the box mounts them (a
real ext4 volume on a loop device): ejected at the end and "safe to remove" (or left mounted with
--keep-mounted, or a clear sentence when it cannot be ejected); a stick with too little room is
refused before anything is copied; and a stick pulled mid-copy (its block device failing every
read and write from that moment) ends with exit 5, and plugged in again, the same command resumes
without copying again what was verified before the pull."""
from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

import simtools as st
import sticktools
from appliance.export import stick
from appliance.present.words import size
from test_export import FAULTS, box, listed, mp3s, sha_check, summary, template  # noqa: F401  (fixtures)

pytestmark = pytest.mark.xdist_group("export_sticks")

SECOND = f"2026-03-15/.000002_L2_out_-674155550999.mp3{stick.PARTIAL}"


@pytest.fixture
def box_config(box, tmp_path):  # noqa: F811  (the fixture imported above)
    """(data folder, catalog rows, config file, mount root): the box's config names both."""
    data, rows = box
    config = tmp_path / "hookline.toml"
    sticktools.write_config(config, tmp_path / "media", data)
    return data, rows, config, tmp_path / "media"


def export(config: Path, to: Path, *args: str) -> subprocess.CompletedProcess:
    return st.run("export", "--to", to, "--config", config, *args)


def test_a_finished_export_ejects_the_stick_and_says_it_is_safe_to_remove(box_config, tmp_path):
    data, rows, config, root = box_config
    image = tmp_path / "OFFICE.img"
    with sticktools.loop_stick(root, "OFFICE", image) as (_, point):
        proc = export(config, point, "--json")
        assert proc.returncode == 0, proc.stderr
        assert summary(proc)["ejected"] is True and summary(proc)["eject_error"] is None
        assert proc.stderr.strip().endswith("The stick is flushed and unmounted: safe to remove.")
        assert not os.path.ismount(point)
    with sticktools.loop_stick(root, "OFFICE", image) as (_, point):      # plugged in elsewhere
        assert len(listed(point / "Hookline")) == 3 and sha_check(point / "Hookline").returncode == 0


def test_keep_mounted_and_folders_outside_the_mount_root_are_left_alone(box_config, tmp_path):
    data, rows, config, root = box_config
    with sticktools.loop_stick(root, "OFFICE", tmp_path / "OFFICE.img") as (_, point):
        proc = export(config, point, "--keep-mounted")
        assert proc.returncode == 0 and "safe to remove" not in proc.stderr and os.path.ismount(point)
    elsewhere = tmp_path / "folder"
    elsewhere.mkdir()
    proc = export(config, elsewhere, "--json")
    assert proc.returncode == 0 and summary(proc)["ejected"] is False and "eject" not in proc.stderr


def test_a_stick_that_cannot_be_ejected_says_so_and_keeps_the_exit_code(box_config, tmp_path):
    data, rows, config, root = box_config
    with sticktools.loop_stick(root, "BUSY", tmp_path / "BUSY.img") as (_, point):
        held = os.open(point, os.O_RDONLY)         # something else still uses the stick
        try:
            proc = export(config, point)
        finally:
            os.close(held)
        assert proc.returncode == 0, proc.stderr
        assert "hookline: the export finished, but the stick was not ejected: Could not unmount the stick at" \
            in proc.stderr and "Traceback" not in proc.stderr
        assert os.path.ismount(point) and "safe to remove" not in proc.stderr


def test_a_stick_with_too_little_room_is_refused_before_copying(box_config, tmp_path):
    data, rows, config, root = box_config
    with sticktools.tmpfs_stick(root, "SMALL", "64k") as point:
        proc = export(config, point, "--json")
        assert proc.returncode == 4, proc.stderr
        doc = summary(proc)
        need = size(sum(r["size_bytes"] for r in rows))
        said = re.fullmatch(r"The stick has (.+) free, but the 3 recordings to copy need (.+): nothing was copied\. "
                            r"Make room on it or use a bigger stick\.", doc["stopped_because"])
        assert said and said[2] == need and said[1] == size(os.statvfs(point).f_bavail * os.statvfs(point).f_frsize)
        assert doc["copied"] == 0 and not doc["ejected"]
        assert mp3s(point / "Hookline") == [] and not list(point.rglob(f"*{stick.PARTIAL}"))
        assert not (point / "Hookline" / stick.INCOMPLETE).exists()
        plain = export(config, point)
        assert plain.returncode == 4 and f"hookline: export incomplete: {doc['stopped_because']}" in plain.stderr


def test_a_stick_pulled_mid_copy_ends_with_exit_5_and_resumes_when_plugged_in_again(box_config, tmp_path):
    """The pull is real at the block layer: the loop device under the mounted ext4 fails every
    read and write from the moment the export has written part of the second recording. One file
    at a time (tests/export_faults.py): by then the first is verified, journaled and renamed."""
    data, rows, config, root = box_config
    image = tmp_path / "PULLME.img"
    with sticktools.loop_stick(root, "PULLME", image) as (device, point):
        proc, pid = sticktools.stopped_mid_copy(point / "Hookline" / SECOND,
                                                [*FAULTS, "--batch-files", "1", "--", "export", "--to", str(point),
                                                 "--config", str(config)], st.clean_env())
        sticktools.pull(device)
        os.kill(pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, err
    assert "hookline: export incomplete: The target failed: Input/output error. Was the stick pulled out? " \
        "Plug it in and run the export again: it resumes where it stopped." in err
    assert "Traceback" not in err and "safe to remove" not in err
    with sticktools.loop_stick(root, "PULLME", image) as (_, point):        # plugged in again
        hook = point / "Hookline"
        assert mp3s(hook) == ["2026-03-14/235953_L1_in_4155550123.mp3"] and (hook / stick.INCOMPLETE).exists()
        first = (hook / mp3s(hook)[0]).stat()
        resumed = export(config, point, "--json", "--keep-mounted")
        assert resumed.returncode == 0, resumed.stderr
        assert summary(resumed)["copied"] == 2 and summary(resumed)["already_there"] == 1
        again = (hook / "2026-03-14/235953_L1_in_4155550123.mp3").stat()
        assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns), "copied again"
        assert not list(hook.rglob(f"*{stick.PARTIAL}")) and not (hook / stick.INCOMPLETE).exists()
        assert len(listed(hook)) == 3 and sha_check(hook).returncode == 0
