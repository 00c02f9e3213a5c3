"""The appliance, booted: the amd64 image under qemu, checked from outside and inside.

One boot (BIOS) runs the tests in this file's order; the last one cuts the power and boots the
same disk again by UEFI. The line interface is snd-aloop, the kernel's loopback sound card: a
player in the guest writes both legs (440 Hz near, 1000 Hz far) into one end, the recorder
captures the other. Line 1's hook is a serial line monitor on the guest's second UART, driven
from here; line 2 is voice-activated.
"""
from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import time
from pathlib import Path

import soundfile

import simtools
from conftest import FAR_HZ, NEAR_HZ

DATA = "/var/lib/hookline"
HOOKLINE = "runuser -u hookline -- hookline"


# -- small helpers: what the box says ---------------------------------------------------------------
def calls(box, line: int | None = None) -> list[dict]:
    where = f" --line {line}" if line else ""
    return json.loads(box.ok(f"{HOOKLINE} calls --data {DATA} --json{where}"))


def events(box, call_id: str) -> list[dict]:
    return json.loads(box.ok(f"{HOOKLINE} events --data {DATA} --call {call_id} --json"))


def wait_for_call(box, line: int, known: set, status: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        new = [c for c in calls(box, line) if c["id"] not in known]
        done = [c for c in new if c["status"] == status]
        if done:
            return done[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {status} call on line {line} after {timeout} s: {new}")
        time.sleep(1)


def wait_for_status(box, call_id: str, status: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = next((c for c in calls(box) if c["id"] == call_id), None)
        if row and row["status"] == status:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"call {call_id} is not {status} after {timeout} s: {row}")
        time.sleep(1)


def recorder_pid(box) -> int:
    return int(box.ok("systemctl show -p MainPID --value hookline-recorder").strip())


def cpu_seconds(box, pid: int) -> float:
    """utime + stime of a process in the guest."""
    fields = box.ok(f"cat /proc/{pid}/stat").rsplit(")", 1)[1].split()
    ticks = int(box.ok("getconf CLK_TCK"))
    return (int(fields[11]) + int(fields[12])) / ticks


def play(box, substream: int) -> None:
    """The guest's player writes both legs into the loopback end that line `substream + 1` hears."""
    box.ok(f"setsid -f aplay -q -D plughw:Loopback,0,{substream} /var/lib/hookline-test/tone.wav "
           f">/dev/null 2>&1")


def stop_playing(box, substream: int) -> None:
    box.sh(f"pkill -f 'aplay -q -D plughw:Loopback,0,{substream} '")


def fetch_audio(box, call: dict, work: Path):
    path = work / f"{call['id']}.mp3"
    path.write_bytes(box.read_file(f"{DATA}/{call['path']}"))
    audio, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    return audio, rate


def assert_legs(audio, rate, start_s: float, end_s: float) -> None:
    """The near leg (left) carries 440 Hz and the far leg (right) 1000 Hz over [start_s, end_s)."""
    part = audio[int(start_s * rate):int(end_s * rate)]
    assert len(part) > rate // 2, f"only {len(part) / rate:.2f} s of audio in [{start_s}, {end_s})"
    assert abs(simtools.dominant_hz(part[:, 0], rate) - NEAR_HZ) < 15
    assert abs(simtools.dominant_hz(part[:, 1], rate) - FAR_HZ) < 15
    assert simtools.rms_dbfs(part[:, 0]) > -25 and simtools.rms_dbfs(part[:, 1]) > -25   # bursts at -15 dBFS RMS


def http_get(port: int, path: str) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Location") or "", resp.read().decode(errors="replace")
    finally:
        conn.close()


# -- the checks ------------------------------------------------------------------------------------
def test_services_are_up_and_the_first_run_page_answers_on_port_80(box, figures):
    start = time.monotonic()
    box.wait_until("systemctl is-active hookline-recorder hookline-web avahi-daemon", 300)
    deadline = time.monotonic() + 300
    while True:
        try:
            status, location, _ = http_get(box.web_port, "/")
            break
        except OSError:
            assert time.monotonic() < deadline, "port 80 never answered"
            time.sleep(2)
    figures["services_and_web_after_agent_s"] = round(time.monotonic() - start, 1)
    assert status in (302, 303) and location.endswith("/setup"), (status, location)
    status, _, page = http_get(box.web_port, "/setup")
    assert status == 200 and "administrator" in page.lower()
    unit = box.ok("systemctl show hookline-recorder -p Type -p WatchdogUSec -p NRestarts")
    assert "Type=notify" in unit and "WatchdogUSec=40s" in unit and "NRestarts=0" in unit, unit
    # The root filled the disk at first boot (hookline-grow-root), and says so once.
    assert box.ok("systemctl show -p Result --value hookline-grow-root").strip() == "success"
    assert box.sh("test -e /var/lib/hookline-grow-root.done")["rc"] == 0
    disk_bytes = int(box.ok("lsblk -bdno SIZE /dev/vda"))
    root_bytes = int(box.ok("findmnt -bno SIZE /"))
    assert root_bytes > 0.85 * disk_bytes, (root_bytes, disk_bytes)    # was under half: the image's 1.7 GiB
    # An appliance with no way in but the first-run page: no SSH server, root locked.
    assert box.sh("test -e /usr/sbin/sshd")["rc"] != 0
    assert box.ok("passwd -S root").split()[1] == "L"


MDNS_QUERY = b"""
import socket, struct, sys
name = b"".join(bytes([len(p)]) + p for p in (b"hookline", b"local")) + b"\\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))   # the LAN interface
s.sendto(struct.pack(">6H", 0x4b4c, 0, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1), ("224.0.0.251", 5353))
reply, _ = s.recvfrom(9000)
ident, flags, questions, answers = struct.unpack(">4H", reply[:8])
print(ident == 0x4b4c and flags & 0x8000 and answers >= 1 and socket.inet_aton(sys.argv[1]) in reply[12:])
"""


def test_hookline_local_is_advertised_over_mdns(box):
    """Asked the way a laptop asks (a one-shot multicast query on the LAN interface), avahi answers
    that hookline.local is the box's address. (qemu's user network carries no multicast to this
    machine, so the question is asked from inside the guest, through its network interface.)"""
    box.wait_until("systemctl is-active avahi-daemon && ip -4 -o addr show scope global | grep -q inet", 120)
    address = box.ok("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1").split()[0]
    box.write_file("/tmp/mdns-query.py", MDNS_QUERY)
    assert box.wait_until(f"python3 /tmp/mdns-query.py {address}", 60, every=2).strip() == "True"


def test_a_call_is_recorded_from_the_kernel_sound_card_with_both_legs(box, work):
    known = {c["id"] for c in calls(box)}
    play(box, 0)
    time.sleep(2)
    box.monitor("OFFHOOK")
    wait_for_call(box, 1, known, "recording", timeout=30)
    time.sleep(8)
    box.monitor("ONHOOK")
    call = wait_for_call(box, 1, known, "complete")
    stop_playing(box, 0)
    audio, rate = fetch_audio(box, call, work)
    assert call["duration_s"] >= 8.0
    assert abs(len(audio) / rate - (call["preroll_s"] + call["duration_s"])) < 0.3     # off-hook to on-hook, whole
    assert_legs(audio, rate, 1.0, len(audio) / rate - 0.5)


def test_cpu_per_line_hour_beside_arecord_and_lame(box, figures):
    """The live path's CPU while a call records, side by side with `arecord | lame` encoding the
    same audio from the same loopback card at the same bitrate, in the same boot."""
    seconds = 30
    pid = recorder_pid(box)
    before = cpu_seconds(box, pid)
    time.sleep(seconds)
    idle = cpu_seconds(box, pid) - before
    known = {c["id"] for c in calls(box)}
    play(box, 0)
    box.monitor("OFFHOOK")
    wait_for_call(box, 1, known, "recording", timeout=30)
    before = cpu_seconds(box, pid)
    time.sleep(seconds)
    busy = cpu_seconds(box, pid) - before
    box.monitor("ONHOOK")
    wait_for_call(box, 1, known, "complete")
    stop_playing(box, 0)
    play(box, 2)
    pipeline = (f"arecord -q -D hw:Loopback,1,2 -f S16_LE -c 2 -r 8000 -d {seconds} | "
                f"lame --quiet -r -s 8 --bitwidth 16 -m j -b 32 - /tmp/lame.mp3")
    alt = float(box.ok("python3 -c \"import resource, subprocess; subprocess.run('" + pipeline + "', shell=True, "
                       "check=True); r = resource.getrusage(resource.RUSAGE_CHILDREN); "
                       "print(r.ru_utime + r.ru_stime)\"", timeout=seconds + 60))
    stop_playing(box, 2)
    per_hour = 3600 / seconds
    figures["cpu_s_per_line_hour"] = {
        "recorder_two_lines_listening": round(idle * per_hour, 1),
        "recorder_one_call_recording_two_listening": round(busy * per_hour, 1),
        "recorder_added_by_the_call": round((busy - idle) * per_hour, 1),
        "arecord_pipe_lame": round(alt * per_hour, 1),
        "note": "qemu TCG (emulated CPU, several times slower than the host): compare side by side only"}
    assert busy > 0 and alt > 0


def test_a_short_stop_is_a_real_overrun_logged_on_the_call_and_the_call_goes_on(box, work, figures):
    known = {c["id"] for c in calls(box)}
    pid = recorder_pid(box)
    play(box, 0)
    box.monitor("OFFHOOK")
    wait_for_call(box, 1, known, "recording", timeout=30)
    time.sleep(3)
    box.ok(f"kill -STOP {pid}; sleep 3; kill -CONT {pid}")
    time.sleep(5)
    box.monitor("ONHOOK")
    call = wait_for_call(box, 1, known, "complete")
    stop_playing(box, 0)
    assert recorder_pid(box) == pid        # not restarted
    # The stop reaches the recorder's overrun path: an xrun event on the call. Its length is kept
    # as a figure, not checked: on snd-aloop the stop read as 2.6-3.2 s in some runs and as one
    # period in others (the driver's reads after the stall; docs/appliance.md).
    xruns = [e for e in events(box, call["id"]) if e["kind"] == "xrun"]
    assert xruns, "the stop left no xrun event on the call"
    assert all(e["detail"]["lost_s"] == round(e["detail"]["lost_frames"] / 8000, 2) for e in xruns)
    figures["xrun_after_a_3_s_stop_s"] = [e["detail"]["lost_s"] for e in xruns]
    audio, rate = fetch_audio(box, call, work)
    assert_legs(audio, rate, len(audio) / rate - 4.0, len(audio) / rate - 0.5)   # after the stop


def test_kill_9_the_recorder_restarts_and_the_call_is_recovered_and_continued(box, work):
    known = {c["id"] for c in calls(box)}
    pid = recorder_pid(box)
    play(box, 1)                                   # line 2: voice-activated
    first = wait_for_call(box, 2, known, "recording", timeout=60)
    time.sleep(5)
    box.ok(f"kill -9 {pid}")
    box.wait_until(f"test \"$(systemctl show -p MainPID --value hookline-recorder)\" != {pid} && "
                   "systemctl is-active hookline-recorder", 120)
    recovered = wait_for_status(box, first["id"], "recovered")
    audio, rate = fetch_audio(box, recovered, work)
    assert_legs(audio, rate, 1.0, len(audio) / rate - 0.5)
    following = wait_for_call(box, 2, known | {first["id"]}, "recording", timeout=60)
    assert following["previous_id"] == first["id"]
    stop_playing(box, 1)
    wait_for_status(box, following["id"], "complete", timeout=120)


def test_sigstop_longer_than_the_watchdog_gets_the_recorder_killed_and_restarted(box, figures):
    pid = recorder_pid(box)
    restarts = int(box.ok("systemctl show -p NRestarts --value hookline-recorder"))
    stopped = time.monotonic()
    box.ok(f"kill -STOP {pid}")
    box.wait_until(f"test \"$(systemctl show -p MainPID --value hookline-recorder)\" != {pid} && "
                   "systemctl is-active hookline-recorder", 200, every=2)
    figures["watchdog_restart_after_stop_s"] = round(time.monotonic() - stopped, 1)
    assert int(box.ok("systemctl show -p NRestarts --value hookline-recorder")) == restarts + 1
    assert "Watchdog timeout" in box.ok("journalctl -u hookline-recorder -o cat --no-pager | tail -n 50")
    said = [e for e in json.loads(box.ok(f"{HOOKLINE} events --data {DATA} --json")) if e["kind"] == "watchdog"]
    assert [e["detail"] for e in said] == [{"process": "unresponsive"}], said
    assert "it had stopped responding" in box.ok(f"{HOOKLINE} events --data {DATA}")


def test_a_usb_stick_pulled_mid_export_and_plugged_back(box, work, figures):
    stick = work / "stick.img"
    stick.unlink(missing_ok=True)
    subprocess.run(["mkfs.vfat", "-C", "-F", "32", "-n", "HLSTICK", str(stick), "65536"],
                                 check=True, capture_output=True)
    box.plug_stick(stick, bps=4096)        # a slow stick: the export takes long enough to pull it mid-copy
    box.wait_until("findmnt -n /media/hookline/HLSTICK", 60)
    export = f"{HOOKLINE} export --to /media/hookline/HLSTICK --data {DATA} --json"
    box.ok(f"rm -f /tmp/export.*; setsid -f sh -c '{export} >/tmp/export.json 2>/tmp/export.err; "
           f"echo $? >/tmp/export.rc' </dev/null >/dev/null 2>&1")     # the agent's pipes are not held open
    box.wait_until("ls -a /media/hookline/HLSTICK/Hookline/*/ | grep -q partial || test -e /tmp/export.rc", 120,
                   every=0.5)
    assert box.sh("test -e /tmp/export.rc")["rc"] != 0, box.sh("cat /tmp/export.err")["out"]    # still copying
    box.pull_stick()
    rc = box.wait_until("cat /tmp/export.rc", 120).strip()
    said = json.loads(box.ok("cat /tmp/export.json"))
    assert rc == "5" and "pulled" in said["stopped_because"], (rc, said)
    box.wait_until("! findmnt -n /media/hookline/HLSTICK", 60)
    box.plug_stick(stick)
    box.wait_until("findmnt -n /media/hookline/HLSTICK", 60)
    done = box.sh(export, timeout=300)
    result = json.loads(done["out"])
    assert done["rc"] == 0 and result["complete"] and result["ejected"], done
    assert box.sh("findmnt -n /media/hookline/HLSTICK")["rc"] != 0           # flushed and unmounted
    box.pull_stick()
    out = work / "stick-files"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(["mcopy", "-s", "-i", str(stick), "::Hookline", str(out)], check=True)
    check = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    listed = len([line for line in check.stdout.splitlines() if line.endswith(".mp3: OK")])
    assert listed == len([c for c in calls(box) if c["status"] in ("complete", "recovered")])


def test_a_power_cut_mid_call_loses_at_most_2_seconds_and_the_catalog_is_intact(box, work, figures):
    known = {c["id"] for c in calls(box)}
    play(box, 0)
    box.monitor("OFFHOOK")
    call = wait_for_call(box, 1, known, "recording", timeout=30)
    time.sleep(10)
    # What the recorder had captured of the call (its status file, rewritten every second), and
    # the guest's clock, read in one go just before the plug is pulled. Audio an overrun lost
    # was never captured (its xrun events say so), so it does not count as lost to the cut.
    said = box.ok("cat /run/hookline/status.json; echo; date +%s.%N").strip().splitlines()
    box.power_cut()
    status, cut_at = json.loads(said[0]), float(said[-1])
    line1 = next(line for line in status["lines"] if line["line"] == 1)
    assert line1["call_id"] == call["id"]
    captured_s = line1["call_s"] + (cut_at - status["updated_at"])
    box.firmware = "uefi"                          # the same disk boots by UEFI too
    figures["boot_uefi_to_agent_s"] = round(box.boot(), 1)
    box.wait_until("systemctl is-active hookline-recorder", 300)
    row = wait_for_status(box, call["id"], "recovered", timeout=120)
    audio, rate = fetch_audio(box, row, work)
    lost = captured_s + row["preroll_s"] - len(audio) / rate
    figures["power_cut"] = {"captured_s": round(captured_s, 2), "kept_s": round(len(audio) / rate - row["preroll_s"], 2),
                            "lost_s": round(lost, 2)}
    assert lost <= 2.0, figures["power_cut"]
    assert_legs(audio, rate, 1.0, len(audio) / rate - 0.3)
    integrity = box.ok("python3 -c \"import sqlite3; print(sqlite3.connect('file:" + DATA + "/hookline.db?mode=ro', "
                       "uri=True).execute('PRAGMA integrity_check').fetchone()[0])\"").strip()
    assert integrity == "ok"
