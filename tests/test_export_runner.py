"""The recorder's export runner (appliance/export/runner.py) through its command channel: the
control commands export-start, export-status and export-cancel over a real Unix socket, onto a
USB stick made of a real ext4 volume under the test's mount root. What an owner would notice: the
files on the stick and whether they verify, the stick ejected (safe to remove), the status
sentence, the refusals, and a cancel that leaves nothing half-written."""
from __future__ import annotations

import os
import signal
import subprocess
import threading

import pytest

import exporttools as et
import simtools as st
from appliance import control
from appliance.export import commands, runner as runnermod, stick
from appliance.store import audit, catalog, db as dbmod, removal
from appliance.store.kinds import Event
from sticktools import tmpfs_stick

pytestmark = pytest.mark.xdist_group("export-runner")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return et.recorded_box(tmp_path_factory.mktemp("runner"))


@pytest.fixture
def box(template, tmp_path):
    """(data dir, its calls, the runner, ask(command, **args) over a real socket, the mount root)."""
    data = et.copy_box(template[0], tmp_path / "data")
    root = tmp_path / "media"
    root.mkdir()
    runner = runnermod.ExportRunner(data, root, seal_path=data / "no-seal.json")
    server = control.ControlServer(tmp_path / "control.sock", commands.handlers(runner))
    assert server.start()
    try:
        yield data, template[1], runner, lambda command, **args: control.ask(server.path, command, **args), root
    finally:
        runner.stop()
        server.stop()


def finished(ask) -> dict:
    return et.wait_for(lambda: (s := ask("export-status"))["state"] != "copying" and s)


def export_events(data) -> list[dict]:
    db = dbmod.connect(data)
    try:
        return [e["detail"] for e in catalog.list_events(db) if e["kind"] == Event.EXPORT]
    finally:
        db.close()


def test_everything_new_goes_onto_the_stick_verified_and_the_stick_is_ejected(box):
    data, rows, _, ask, root = box
    with et.usb_stick(root) as usb:
        before = ask("export-status")
        assert before["state"] == "idle" and before["stick"]["label"] == "OFFICE" and before["stick"]["problem"] is None
        assert [s["label"] for s in before["sticks"]] == ["OFFICE"]
        started = ask("export-start", selection={"new": True}, by="ann", remote_addr="10.0.0.5")
        assert started["ok"] and started["job"]["state"] == "copying"
        assert started["job"]["stick"]["label"] == "OFFICE" and started["job"]["stick"]["path"] == str(usb.point)
        status = finished(ask)
        assert status["state"] == "done", status
        assert status["message"] == ("Done: 6 recordings copied and verified to the stick OFFICE. "
                                      "The stick OFFICE is safe to remove.")
        assert (status["files_done"], status["files_total"]) == (6, 6)
        assert status["bytes_done"] == status["bytes_total"] == sum(r["size_bytes"] for r in rows)
        assert status["result"]["complete"] and status["result"]["copied"] == 6
        assert not usb.point.is_mount() and status["stick"] is None and status["ejected"], "ejected: safe to remove"
        with usb.mounted_again() as hookline:
            assert len(list(hookline.rglob("*.mp3"))) == 6 and not (hookline / stick.INCOMPLETE).exists()
            check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=hookline, capture_output=True, text=True)
            assert check.returncode == 0 and check.stdout.count(": OK") == 6 + 4, check.stdout
        usb.plug()
        again = ask("export-start", selection={"new": True}, via="button")
        assert again["ok"]
        assert finished(ask)["message"] == ("Nothing new to copy: the stick OFFICE already holds every recording. "
                                            "The stick OFFICE is safe to remove.")
    db = dbmod.connect(data)
    try:
        entry = audit.entries(db, action="export", limit=2)[1]
    finally:
        db.close()
    assert (entry["user"], entry["remote_addr"], entry["detail"]["via"]) == ("ann", "10.0.0.5", "web")
    assert [(e["outcome"], e["via"]) for e in export_events(data)] == [
        ("started", "web"), ("done", "web"), ("started", "button"), ("done", "button")]


def test_only_the_chosen_calls_go(box):
    data, rows, _, ask, root = box
    chosen = [rows[1]["id"], rows[4]["id"]]
    with et.usb_stick(root) as usb:
        ask("export-start", selection={"call_ids": chosen})
        status = finished(ask)
        assert status["result"]["copied"] == 2 and status["result"]["selection"]["chosen_calls"] == 2
        with usb.mounted_again() as hookline:
            listed = (hookline / "index.csv").read_text(encoding="utf-8-sig")
            assert all(c in listed for c in chosen) and rows[0]["id"] not in listed


def refusal(ask, **args) -> tuple[str | None, str]:
    with pytest.raises(control.ControlError) as e:
        ask("export-start", **args)
    return e.value.code, str(e.value)


def test_no_stick_two_sticks_a_bad_stick_or_a_running_export_are_refused_with_a_sentence(box, tmp_path):
    data, _, _, ask, root = box
    assert refusal(ask, selection={"new": True}) == (
        "no-stick", "No USB stick is plugged in: plug one into the box and try again.")
    with tmpfs_stick(root, "RAMDISK"):
        code, said = refusal(ask)
        assert code == "stick-problem" and said.startswith("The stick's filesystem is tmpfs")
    with et.usb_stick(root, "ONE"), et.usb_stick(root, "TWO") as two:
        assert refusal(ask) == ("several-sticks", "2 USB sticks are plugged in (ONE, TWO): choose one, or "
                                                  "unplug the others.")
        assert refusal(ask, target=str(tmp_path)) == (
            "not-a-stick", f"{tmp_path} is not a USB stick plugged into the box.")
        with stick.locked(data):            # `hookline export` is running
            code, said = refusal(ask, target=str(two.point))
            assert code == "busy" and said == "Another export is running on this box: wait for it to finish."
        ask("export-start", target=str(two.point))
        assert finished(ask)["state"] == "done"
    for bad, why in (({"line": "1"}, "selection.line must be a line number"),
                     ({"since": "March"}, "'March' is not a date"), ({"call_ids": "abc"}, "selection.call_ids"),
                     ({"colour": "red"}, "unknown selection field(s): colour"), ("all", "selection must be an object")):
        code, said = refusal(ask, selection=bad)
        assert code == "bad-selection" and why in said
    refused = [e for e in export_events(data) if e["outcome"] == "refused"]
    assert [e["code"] for e in refused] == ["no-stick", "stick-problem", "several-sticks", "not-a-stick", "busy"]


def test_a_second_start_while_one_runs_is_refused_and_a_cancel_leaves_nothing_half_written(box):
    data, rows, runner, ask, root = box
    trickle = et.Trickle(data, rows[2])          # the third recording comes in 4 KB at a time
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    try:
        with et.usb_stick(root) as usb:
            ask("export-start", selection={"new": True})
            trickle.feed()
            # The two before it are verified and renamed (by the copy's worker thread), the third waits.
            status = et.wait_for(lambda: (s := ask("export-status"))["files_done"] == 2 and s)
            partial = et.wait_for(lambda: list(usb.point.rglob("*.partial")))
            assert status["state"] == "copying" and status["files_done"] == 2
            assert status["message"].startswith("Copying 3 of 6 recordings to the stick OFFICE (")
            assert refusal(ask, selection={"new": True}) == (
                "busy", "An export is already running: wait for it to finish, or cancel it.")
            copier = next(t for t in threading.enumerate() if t.name == "export").native_id
            assert os.getpriority(os.PRIO_PROCESS, copier) == 19, "the copy yields the CPU to the recorder"
            ionice = subprocess.run(["ionice", "-p", str(copier)], capture_output=True, text=True).stdout
            assert ionice.strip() == "best-effort: prio 7", "and the disk"
            assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine, "only its own thread"
            assert ask("export-cancel") == {"changed": True}
            assert ask("export-cancel") == {"changed": False}
            trickle.finish()        # the rest of the file comes, but the copy stops there: no third file
            status = finished(ask)
            assert status["state"] == "cancelled" and status["result"]["exit_code"] == 6
            assert status["result"]["stopped_because"] == "Cancelled."
            assert status["message"] == ("Cancelled: 2 recordings copied and verified so far; INCOMPLETE.txt on "
                                         "the stick says the export is not finished. Press the button again (or "
                                         "start it again) to go on.")
            hookline = usb.point / "Hookline"
            assert usb.point.is_mount(), "a cancelled export is not ejected"
            assert not partial[0].exists() and not list(usb.point.rglob("*.partial"))
            assert (hookline / stick.INCOMPLETE).exists()
            assert len(list(hookline.rglob("*.mp3"))) == 2
            assert (hookline / "index.csv").read_text(encoding="utf-8-sig").count("\n") == 1 + 2
    finally:
        trickle.close()
    assert [e["outcome"] for e in export_events(data)] == ["started", "refused", "cancelled"]


def test_ctrl_c_in_hookline_export_cancels_cleanly_with_exit_6(box, tmp_path):
    data, rows, _, _, _ = box
    trickle = et.Trickle(data, rows[1])
    target = tmp_path / "stick"
    target.mkdir()
    proc = subprocess.Popen([st.HOOKLINE, "export", "--to", str(target), "--data", str(data)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=st.clean_env())
    try:
        trickle.feed()
        partial = et.wait_for(lambda: list(target.rglob("*.partial")))
        proc.send_signal(signal.SIGINT)
        trickle.finish()            # the rest of the file comes, but the copy stops at this chunk
        _, err = proc.communicate(timeout=60)
    finally:
        trickle.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 6, err
    assert "hookline: cancelling the export (Ctrl-C again to stop at once)" in err
    assert err.strip().endswith("hookline: export incomplete: Cancelled. copied 1 recording(s); 1 listed in the index")
    hookline = target / "Hookline"
    assert not partial[0].exists() and not list(target.rglob("*.partial")) and (hookline / stick.INCOMPLETE).exists()
    assert len(list(hookline.rglob("*.mp3"))) == 1
    assert (hookline / "index.csv").read_text(encoding="utf-8-sig").count("\n") == 1 + 1


def test_a_stick_that_cannot_be_ejected_is_an_error_that_says_not_to_pull_it(box):
    data, _, _, ask, root = box
    with et.usb_stick(root) as usb:
        held = os.open(usb.point, os.O_RDONLY)          # something still uses the stick
        try:
            ask("export-start", selection={"new": True})
            status = finished(ask)
        finally:
            os.close(held)
        assert status["state"] == "error" and status["result"]["complete"], status
        assert status["message"].startswith("Done: 6 recordings copied and verified to the stick OFFICE, but the "
                                            "stick could not be ejected: Could not unmount the stick at ")
        assert status["message"].endswith("Do not pull it out yet.") and usb.point.is_mount()
    assert export_events(data)[-1]["outcome"] == "error"


def test_a_call_deleted_while_the_export_runs_is_not_called_damaged(box):
    """A call deleted (by a manager, or retention) after the export chose it and before its turn:
    it is simply not exported; the owner is not told its file no longer matches its checksum."""
    data, rows, runner, ask, root = box
    held = et.Trickle(data, rows[0])            # the first recording waits for the test
    try:
        with et.usb_stick(root):
            ask("export-start", selection={"new": True})
            held.feed()
            db = dbmod.connect(data)
            try:
                removal.delete_call(db, data, rows[1]["id"], "manual", by="manager")
            finally:
                db.close()
            held.finish()
            status = finished(ask)
            assert status["result"]["mismatched"] == [], status["message"]
            assert status["state"] == "done" and status["result"]["copied"] == len(rows) - 1, status["message"]
            assert "no longer match" not in status["message"]
    finally:
        held.close()


@pytest.mark.parametrize("link", ["Hookline", "Hookline/.journal.jsonl", "Hookline/day"])
def test_a_stick_with_links_out_of_it_is_refused_and_nothing_of_the_box_is_touched(box, link):
    # An ext4 stick can hold symlinks; the recorder writes as the user owning the data dir, so a
    # Hookline folder (or its journal, or a day folder) leading into DATA must not be written through.
    data, _, _, ask, root = box
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*") if p.is_file() and p.suffix != ".lock"}
    with et.usb_stick(root) as usb:
        (usb.point / "Hookline").mkdir()
        where = usb.point / link
        if link == "Hookline":
            where.rmdir()
        where.symlink_to(data / "hookline.db" if link.endswith(".jsonl") else data)
        ask("export-start", selection={"new": True})
        status = finished(ask)
        assert status["state"] == "error" and status["result"]["exit_code"] == 5, status
        assert "holds a link or special file" in status["message"], status["message"]
        assert usb.point.is_mount(), "not ejected as if done"
    assert not list(data.glob("*.partial")) and not (data / "INCOMPLETE.txt").exists()
    assert not (data / ".stick-id").exists() and not (data / "index.html").exists()
    changed = [p.name for p, t in before.items() if p.exists() and p.stat().st_mtime_ns != t and p.name != "hookline.db"]
    assert changed == []
    db = dbmod.connect(data)
    try:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def test_a_stick_with_a_fifo_where_the_export_reads_is_refused_not_hung_on(box):
    # An ext4 stick can hold a FIFO (nodev stops devices, not FIFOs): reading Hookline/.stick-id
    # from one blocked the export's thread for good, with the box's lock held: 'copying' forever,
    # the cancel unheard, every later press 'busy' until the recorder restarted.
    data, _, _, ask, root = box
    with et.usb_stick(root) as usb:
        fifo = usb.point / "Hookline" / stick.STICK_ID
        fifo.parent.mkdir()
        os.mkfifo(fifo)
        try:
            ask("export-start", selection={"new": True})
            status = et.wait_for(lambda: (s := ask("export-status"))["state"] != "copying" and s, timeout=10)
        finally:        # let a reader stuck on it go, so the test ends either way
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        assert status["state"] == "error" and status["result"]["exit_code"] == 5, status
        assert "special file" in status["message"], status["message"]
