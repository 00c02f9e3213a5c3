"""Retention sweep benchmark: 100,000 expired calls deleted while a line records at real time,
against `find recordings -type f -delete` on the same files.

A catalog holds CALLS calls from 400 days ago, each with a small real MP3-sized file (FILE_BYTES)
in recordings/YYYY/MM/DD/ and its waveform peaks, as the recorder leaves them. The recorder
daemon (appliance.daemon.Daemon, as `hookline simulate --speed realtime` builds it: a generated
ALSA PCM fed at real time, mock GPIO pins) records one long call on one line. Once the call is
recording, retention_days is set to 365 in the catalog, as the settings page does; the daemon's
retention thread notices within a second and sweeps: one transaction per batch of calls,
each call's row marked deleted with its 'deleted' event, its peaks dropped, its file removed.

Prints:
1. the sweep: calls deleted and wall time (goal: at most 10 s), measured around the daemon's
   own retention.run call;
2. the line while it was sweeping: reads, xruns (line.xruns: lost frames) and late chunks: a
   read that returns more than one period (20 ms) after the wall clock says its last frame was
   captured, i.e. the capture loop fell behind real time; with the largest lateness seen;
3. the same line over the same length of time with `find DIR -type f -delete` removing the same
   files (made again) in a child process, and with nothing running (the baseline jitter).

Every figure is checked: the catalog must say every call is deleted, with its event, and no
file may be left, or the benchmark fails instead of printing figures. The machine's other
load shows in the late chunks: run it on an idle box (the simulated feeder, the line and the
sweep share one Python process, as on the box; the feeder is paced by the wall clock).

    .venv/bin/python hw_bench/bench_retention.py [--calls N] [--file-bytes N]
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from appliance import daemon as daemonmod
from appliance.audio import capture
from appliance.sim import runner, scenario as scenariomod
from appliance.sim.devices import PIPE_BUF
from appliance.store import db as dbmod, retention_rules as rules, settings
from appliance.store.times import iso

CALLS = 100_000
FILE_BYTES = 2048
PERIOD_S = 0.020
BUFFER_S = capture.BUFFER_S       # what the box's ALSA buffer holds: a read later than this is an xrun there
GOAL_S = 10.0
SCENARIO = """
[appliance]
start = "{start}"

[[line]]
id = 1
offhook = "gpio"

[[call]]
line = 1
at = 0.5
direction = "outbound"
talk = 600.0
near = "tone:440@-12"
far = "noise@-30"
"""


class BenchError(RuntimeError):
    pass


@dataclass
class Window:
    """What the line did between start() and stop()."""
    reads: int = 0
    late: int = 0
    worst_s: float = 0.0
    xruns_before: int = 0
    xruns: int = 0
    over_buffer: int = 0             # reads a real device's ALSA buffer would have overrun for
    open: bool = False


@dataclass
class Watch:
    """Wraps the simulated hardware's tick (called after every read of the line's capture loop)
    to time each read against the wall clock. The feeder writes `write_frames` at a time, each
    write when the wall clock reaches its first frame; a read is due when the write holding its
    last frame was made, and late when it returns more than one period after that."""
    rate: int
    write_frames: int
    t0: float | None = None          # wall time of stream frame 0, as the reads show it
    windows: list[Window] = field(default_factory=list)

    def tick(self, real_tick, line, pos: int) -> None:
        now = time.monotonic()
        written = (pos - 1) // self.write_frames * self.write_frames / self.rate
        if self.t0 is None or now < self.t0 + written:
            self.t0 = now - written      # the earliest a read has come: the stream's own pace
        lateness = now - (self.t0 + written)
        for w in self.windows:
            if w.open:
                w.reads += 1
                w.worst_s = max(w.worst_s, lateness)
                w.late += lateness > PERIOD_S
                w.over_buffer += lateness > BUFFER_S
        real_tick(line, pos)

    def start(self, line) -> Window:
        w = Window(xruns_before=line.xruns, open=True)
        self.windows.append(w)
        return w

    def stop(self, w: Window, line) -> None:
        w.open = False
        w.xruns = line.xruns - w.xruns_before


def make_catalog(data: Path, calls: int, file_bytes: int) -> None:
    """`calls` complete calls from about 400 days ago, each with a file and peaks."""
    db = dbmod.connect(data)
    start = time.time() - 400 * 86400
    payload = b"\xff\xfb" + bytes(file_bytes - 2)
    digest = hashlib.sha256(payload).hexdigest()
    rows, peaks = [], []
    for i in range(calls):
        at = start + i * 30
        day = time.strftime("%Y/%m/%d", time.gmtime(at))
        call_id = f"{i:010x}"
        rel = f"recordings/{day}/bench_{call_id}.mp3"
        path = data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        rows.append((call_id, 1, "outbound", iso(at), iso(at + 25), 25.0, "complete", rel, file_bytes, digest,
                     iso(at + 25)))
        peaks.append((call_id, 10, bytes(250), bytes(250)))
    with dbmod.immediate(db):
        db.conn.executemany("INSERT INTO calls (id, line, direction, started_at, ended_at, duration_s, status, "
                            "path, size_bytes, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.conn.executemany("INSERT INTO call_peaks (call_id, per_s, near, far) VALUES (?, ?, ?, ?)", peaks)
    db.close()


def remake_files(data: Path, calls: int, file_bytes: int) -> None:
    payload = b"\xff\xfb" + bytes(file_bytes - 2)
    start = time.time() - 400 * 86400
    for i in range(calls):
        day = time.strftime("%Y/%m/%d", time.gmtime(start + i * 30))
        path = data / f"recordings/{day}/bench_{i:010x}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)


def check_swept(data: Path, calls: int) -> None:
    db = dbmod.connect(data)
    try:
        deleted = db.execute("SELECT count(*) FROM calls WHERE status = 'deleted' AND id LIKE '00%'").fetchone()[0]
        events = db.execute("SELECT count(*) FROM call_events WHERE kind = 'deleted'").fetchone()[0]
        peaks = db.execute("SELECT count(*) FROM call_peaks WHERE call_id LIKE '00%'").fetchone()[0]
    finally:
        db.close()
    left = sum(1 for _ in (data / "recordings").rglob("bench_*.mp3"))
    if deleted != calls or events < calls or peaks or left:
        raise BenchError(f"the sweep left {calls - deleted} rows, {peaks} peaks, {left} files "
                         f"({events} 'deleted' events)")


def run(calls: int, file_bytes: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-retention-"))
    try:
        _measure(work, calls, file_bytes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(work: Path, calls: int, file_bytes: int) -> None:
    data = work / "data"
    print(f"making {calls:,} calls with {file_bytes} B files in {data} ...", file=sys.stderr)
    t = time.monotonic()
    make_catalog(data, calls, file_bytes)
    print(f"  made in {time.monotonic() - t:.1f} s", file=sys.stderr)

    timing: dict[str, float] = {}
    real_run = daemonmod.retention.run

    def timed_run(*args, **kw):
        began = time.monotonic()
        outcome = real_run(*args, **kw)
        if outcome.deleted:
            timing.update(seconds=time.monotonic() - began, deleted=len(outcome.deleted))
        return outcome

    daemonmod.retention.run = timed_run
    scenario_path = work / "bench.toml"
    scenario_path.write_text(SCENARIO.format(start=iso(time.time())[:19] + "Z"))
    sc = scenariomod.load(scenario_path)
    daemon, hw = runner.build_daemon(sc, data, realtime=True)
    period = sc.sample_rate * 20 // 1000
    watch = Watch(sc.sample_rate, period * max(1, PIPE_BUF // (period * 4)))     # as the feeder writes
    real_tick = hw.tick
    hw.tick = lambda line, pos: watch.tick(real_tick, line, pos)
    daemon._tick = hw.tick
    hw.start()
    daemon.start()
    try:
        line = daemon.lines[0]
        _await(lambda: line.session is not None and line.session.call is not None, 15, "the call to start")
        time.sleep(2.0)

        baseline = watch.start(line)
        time.sleep(5.0)
        watch.stop(baseline, line)

        db = dbmod.connect(data)
        sweep = watch.start(line)
        settings.set_value(db, "retention_days", 365)
        db.close()
        _await(lambda: "seconds" in timing, 120, "the sweep")
        watch.stop(sweep, line)
        check_swept(data, calls)

        remake_files(data, calls, file_bytes)
        find = watch.start(line)
        began = time.monotonic()
        subprocess.run(["find", str(data / "recordings"), "-type", "f", "-name", "bench_*", "-delete"], check=True)
        find_s = time.monotonic() - began
        watch.stop(find, line)
    finally:
        hw.stop()
        daemon.stop()
        daemonmod.retention.run = real_run

    print(f"Retention sweep of {timing['deleted']:,} expired calls ({file_bytes} B files) while one line "
          f"records at real time (20 ms periods):")
    print(f"| what | wall time | line reads | xruns | late chunks (> 20 ms) | reads > {BUFFER_S * 1000:.0f} ms late "
          "(an xrun on the box) | worst lateness |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    hookline = f"Hookline sweep (batches of {rules.BATCH}, one transaction each)"
    for name, secs, w in ((hookline, timing["seconds"], sweep),
                          ("`find -type f -delete` of the same files (files only, no catalog)", find_s, find),
                          ("nothing (baseline, 5 s)", 5.0, baseline)):
        print(f"| {name} | {secs:.2f} s | {w.reads} | {w.xruns} | {w.late} | {w.over_buffer} | "
              f"{w.worst_s * 1000:.0f} ms |")
    verdict = "met" if timing["seconds"] <= GOAL_S else "MISSED"
    print(f"goal: sweep <= {GOAL_S:g} s: {verdict}")


def _await(ready, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out waiting for {what}")
        time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=CALLS)
    ap.add_argument("--file-bytes", type=int, default=FILE_BYTES)
    ap.add_argument("--batch", type=int, default=rules.BATCH, help="calls per transaction")
    args = ap.parse_args()
    rules.BATCH = args.batch
    try:
        run(args.calls, args.file_bytes)
    except BenchError as e:
        print(f"bench_retention: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
