"""The sticks under the box's mount root (appliance/export/sticks.py), on real volumes mounted by
the test: what find() says of each, and eject() flushing and unmounting one."""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import sticktools
from appliance.export import sticks
from sticktools import ext4_stick, tmpfs_stick


def test_a_good_ext4_stick_is_found_with_its_label_and_space(tmp_path):
    root = tmp_path / "media"
    with ext4_stick(root, "OFFICE", 80) as point:
        found = sticks.find(root)
        assert [s.path for s in found] == [point]
        stick = found[0]
        st = os.statvfs(point)
        assert (stick.label, stick.fstype, stick.read_only, stick.problem) == ("OFFICE", "ext4", False, None)
        assert stick.total_bytes == st.f_blocks * st.f_frsize and 60 << 20 < stick.free_bytes <= stick.total_bytes
        assert stick.space_words().endswith(" free of " + f"{stick.total_bytes / (1 << 20):.1f} MB")


def test_only_volumes_strictly_under_the_mount_root_count(tmp_path):
    root = tmp_path / "media"
    assert sticks.find(root) == []                       # no root yet: no sticks, no error
    with tmpfs_stick(tmp_path, "media"):                 # the root itself is a mount: not a stick
        assert sticks.find(root) == []
        with tmpfs_stick(tmp_path, "elsewhere"):
            assert sticks.find(root) == []
            with tmpfs_stick(root, "my stick"):          # a space in the name (mountinfo escapes it)
                assert [s.label for s in sticks.find(root)] == ["my stick"]


def test_unsupported_read_only_and_nearly_full_sticks_say_why(tmp_path):
    root = tmp_path / "media"
    with tmpfs_stick(root, "RAMDISK"):
        [stick] = sticks.find(root)
        assert stick.fstype == "tmpfs"
        assert stick.problem.startswith("The stick's filesystem is tmpfs") and "FAT32 or exFAT" in stick.problem
    with ext4_stick(root, "LOCKED", 80, read_only=True):
        [stick] = sticks.find(root)
        assert stick.read_only and stick.problem.startswith("The stick is read-only:")
    with ext4_stick(root, "TINY", 16):
        [stick] = sticks.find(root)
        assert not stick.read_only and stick.free_bytes < sticks.NEARLY_FULL_BYTES
        assert stick.problem.startswith("The stick is nearly full: only ") and " MB free" in stick.problem


def test_eject_flushes_and_unmounts(tmp_path):
    root = tmp_path / "media"
    image = tmp_path / "OFFICE.img"
    with ext4_stick(root, "OFFICE", image=image) as point:
        (point / "calls.txt").write_text("kept\n")
        sticks.eject(point)
        assert not os.path.ismount(point) and sticks.find(root) == []
    with ext4_stick(root, "OFFICE", image=image) as point:      # plugged in again: the file is there
        assert (point / "calls.txt").read_text() == "kept\n"


def test_eject_of_what_is_not_mounted_or_still_in_use_is_a_sentence(tmp_path):
    root = tmp_path / "media"
    plain = tmp_path / "plain"
    plain.mkdir()
    try:
        sticks.eject(plain)
        raise AssertionError("ejecting a plain folder must fail")
    except sticks.EjectError as e:
        assert "is not a mounted stick" in str(e)
    with ext4_stick(root, "BUSY") as point:
        held = os.open(point, os.O_RDONLY)          # an open folder keeps it busy
        try:
            sticks.eject(point)
            raise AssertionError("a busy stick must not be reported ejected")
        except sticks.EjectError as e:
            assert "Could not unmount the stick at" in str(e) and os.path.ismount(point)
        finally:
            os.close(held)


def test_mountinfo_escapes_are_read_back():
    assert sticks._unescape(r"/media/hookline/my\040stick\134x") == "/media/hookline/my stick\\x"
    assert isinstance(sticks.find(Path("/nonexistent-root")), list)


def test_eject_of_a_stick_that_fails_says_so_instead_of_safe(tmp_path):
    """What was written but cannot reach the stick (pulled: its device fails every write) makes the
    flush fail, and eject says so rather than reporting the stick safe."""
    with sticktools.loop_stick(tmp_path / "media", "GONE", tmp_path / "gone.img") as (device, point):
        with open(point / "late.txt", "w") as f:
            f.write("not on the stick yet\n")            # in the page cache only
        sticktools.pull(device)
        try:
            sticks.eject(point)
            raise AssertionError("a stick whose writes fail must not be ejected as safe")
        except sticks.EjectError as e:
            said = str(e)       # EIO, or EROFS once ext4 has given up on the journal
            assert said.startswith(f"Could not flush the stick at {point}: ") and "It may have been pulled out" in said


def as_recorder(work) -> str:
    """work() run as an unprivileged user, as the recorder and the web page run (root reads any
    folder): what it returned, or the exception it raised, as text."""
    nobody = pwd.getpwnam("nobody")
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            said = f"returned: {work()!r}"
        except BaseException as e:
            said = f"{type(e).__name__}: {e}"
        os.write(writer, said.encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as f:
        said = f.read()
    os.waitpid(child, 0)
    return said


@contextlib.contextmanager
def reachable_root() -> Iterator[Path]:
    """A mount root the unprivileged user can reach (pytest's tmp_path is root's only)."""
    base = Path(tempfile.mkdtemp(prefix="hookline-sticks-"))
    base.chmod(0o755)
    try:
        yield base / "media"
    finally:
        shutil.rmtree(base)


def test_eject_of_a_stick_whose_root_the_recorder_cannot_read_is_a_sentence():
    """An ext4 stick's root belongs to whoever made it: with mode 0711 the recorder's user can
    write its Hookline folder but not open the root to flush it. eject must say so, not raise a
    bare OSError (which ended the recorder's export thread with the state left 'copying')."""
    with reachable_root() as root, sticktools.tmpfs_stick(root, "LOCKED") as point:
        point.chmod(0o711)
        said = as_recorder(lambda: sticks.eject(point))
        assert said.startswith(f"EjectError: Could not flush the stick at {point}: "), said
        assert os.path.ismount(point)


def test_a_stick_whose_root_the_recorder_cannot_enter_is_found_with_a_problem():
    """A stick with its root 0700 (made so on another Linux box): find() must say it cannot be
    written, not raise PermissionError, which broke the dashboard, export-status, and a start."""
    with reachable_root() as root, sticktools.tmpfs_stick(root, "PRIVATE") as point:
        point.chmod(0o700)
        said = as_recorder(lambda: [(s.label, s.read_only, bool(s.problem)) for s in sticks.find(root)])
        assert said == "returned: [('PRIVATE', True, True)]", said
