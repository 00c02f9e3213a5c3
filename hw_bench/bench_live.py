"""Live-path CPU benchmark: the whole recorder daemon at real time against `arecord | lame`.

Everything a line does while it records a call runs here, on a real-time ALSA device: the daemon
(appliance.daemon.Daemon, from a generated config) captures with pyalsaaudio, measures levels,
runs the DTMF decoder (and VOX on VOX lines), keeps the pre-roll, encodes MP3, measures the
waveform peaks and writes and fsyncs the part files, while its maintenance thread writes the status
file and polls the settings. The device is a PulseAudio null sink's monitor (live_loopback.py)
playing a generated two-leg call: the office dials 5551234 every 10 s and the parties take turns
speaking over line hiss.

Prints, per line-hour (CPU s of every thread of the process, from /proc/PID/task/*/schedstat,
over a window of steady recording after a warm-up):
1. Hookline, LINES lines whose hook input reads off-hook all along (the usual GPIO wiring: the
   hook costs nothing between edges), and the same with VOX lines (voice activation runs too).
2. `arecord | lame` x LINES on the same PCM in the same run, with the same ALSA period and buffer
   as the daemon's capture, and (for reference) with arecord's own default period.
3. The ratio of 1 to 2 at the same period.
4. Lines one core keeps at real time: CHECK_LINES lines as threads of one daemon pinned to one
   CPU (the PulseAudio server and the player run on the others): how busy that core is, whether
   any line overran (xrun) or its stream fell behind the wall clock, and the estimate
   CHECK_LINES / busy share.
The PulseAudio server's own CPU is shown beside each row; it serves both sides alike and is in
neither.

Every recording is checked afterwards: each line's MP3 (and each pipeline's) decodes to the length
recorded with each leg within 3 dB of the signal's level, and each Hookline call has the digits
dialled in every cycle; otherwise the benchmark fails instead of printing figures.

Needs the Debian packages pulseaudio, libasound2-plugins, alsa-utils and lame (`make bench-live`
installs them); the script installs nothing itself.

    .venv/bin/python hw_bench/bench_live.py [--seconds N] [--lines K] [--check-lines N]
                                            [--check-seconds N] [--period-ms MS]
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from appliance import config as configmod
from appliance.audio.capture import CaptureDevice
from appliance.daemon import Daemon
from appliance.hook.base import HookEvent
from appliance.store import catalog, db as dbmod
from bench_recorder import BITRATE_KBPS, RATE, BenchError, check_mp3, host_line, peak_rss_kib, pipeline_commands
from live_loopback import CYCLE_S, DIALED, LINE_PCM, PulseLoopback, missing_packages, pinned, render_call, task_cpu_s

WARMUP_S = 3.0              # recording steadily before the window opens
START_TIMEOUT_S = 15.0      # every line recording by then, or the benchmark fails
BEHIND_TOLERANCE_S = 0.1    # a line's stream may trail the wall clock by this much over the window
LINE_HOUR_S = 3600.0


@dataclasses.dataclass
class Run:
    name: str
    lines: int
    wall_s: float
    cpu_s: float
    pulse_s: float
    peak_rss_kib: int = 0
    xruns: int = 0
    behind_s: float = 0.0        # worst line: wall time minus stream time over the window

    def per_line_hour(self, cpu: float) -> float:
        return cpu / (self.lines * self.wall_s) * LINE_HOUR_S

    @property
    def busy(self) -> float:
        """Share of one core the measured side used."""
        return self.cpu_s / self.wall_s


# -- Hookline: the daemon in a process of its own ---------------------------------------------------
class HeldOffHook:
    """A hook input that reads off-hook from the start: every line is in a call all along."""

    def start(self, post) -> None:
        post(HookEvent("offhook", detail={"source": "bench"}))

    def close(self) -> None:
        pass


def bench_config(data: Path, lines: int, vox: bool, period_ms: int) -> configmod.Config:
    """A hookline.toml-equivalent config (validated by appliance.config) with `lines` lines on the
    loopback PCM, all alike but for their id."""
    hook = {"source": "vox"} if vox else {"source": "gpio", "pin": 17}
    one = configmod.parse({
        "data_dir": str(data), "status_file": str(data / "run" / "status.json"),
        "audit_seal_file": str(data.parent / f"{data.name}-seal.json"),
        "audio": {"sample_rate": RATE, "period_ms": period_ms, "bitrate_kbps": BITRATE_KBPS},
        "line": [{"id": 1, "capture": LINE_PCM, "offhook": hook}]})
    line = one.lines[0]
    return dataclasses.replace(one, lines=tuple(
        dataclasses.replace(line, id=i, name=f"Line {i}", capture=PulseLoopback.line_pcm(i - 1))
        for i in range(1, lines + 1)))


def _streams(daemon: Daemon) -> dict[int, dict]:
    return {line["line"]: line for line in daemon.status()["lines"]}


def _await_recording(daemon: Daemon) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not all(line["state"] == "recording" for line in _streams(daemon).values()):
        if time.monotonic() > deadline:
            states = {k: v["state"] for k, v in _streams(daemon).items() if v["state"] != "recording"}
            raise BenchError(f"lines not recording after {START_TIMEOUT_S:g} s: {states}")
        time.sleep(0.1)


def hookline_worker(conn, data: Path, lines: int, vox: bool, seconds: float, period_ms: int,
                    cpu: int | None) -> None:
    """Child process: run the daemon, tell the parent when the window opens and closes, then stop
    it (finalizing the calls) and send back the figures and the catalog's calls."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})   # every thread started from here on inherits it
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        data.mkdir(mode=0o750)           # private, as the daemon wants its data folder
        cfg = bench_config(data, lines, vox, period_ms)
        daemon = Daemon(cfg, data, status_file=cfg.status_file,
                        hook_factory=lambda line: None if line.offhook.source == "vox" else HeldOffHook())
        daemon.start()
        try:
            _await_recording(daemon)
            time.sleep(WARMUP_S)
            before, cpu0, wall0 = _streams(daemon), task_cpu_s("self"), time.monotonic()
            conn.send("open")
            time.sleep(seconds)
            after, cpu1, wall1 = _streams(daemon), task_cpu_s("self"), time.monotonic()
            conn.send("closed")
        finally:
            daemon.stop()
        db = dbmod.connect(data)
        try:
            calls = catalog.list_calls(db)
        finally:
            db.close()
        wall = wall1 - wall0
        conn.send({"wall_s": wall, "cpu_s": cpu1 - cpu0, "peak_rss_kib": peak_rss_kib(), "calls": calls,
                   "xruns": sum(after[k]["xruns"] - before[k]["xruns"] for k in after),
                   "behind_s": max(wall - (after[k]["stream_s"] - before[k]["stream_s"]) for k in after)})
    except Exception as e:   # reported to the parent, which fails the benchmark
        conn.send(f"{type(e).__name__}: {e}")


def run_hookline(name: str, loop: PulseLoopback, data: Path, lines: int, vox: bool, seconds: float,
                 period_ms: int, cpu: int | None) -> tuple[Run, list[dict]]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=hookline_worker, args=(child, data, lines, vox, seconds, period_ms, cpu))
    proc.start()
    child.close()
    pulse = []
    # Start, warm-up, the window, and stopping (finalizing every call) all fit well within this.
    deadline = time.monotonic() + 2 * START_TIMEOUT_S + WARMUP_S + seconds + 60.0
    try:
        while True:
            if not parent.poll(max(0.0, deadline - time.monotonic())):
                raise BenchError(f"{name}: the daemon's process did not finish in time")
            message = parent.recv()
            if isinstance(message, dict):
                break
            if message in ("open", "closed"):
                pulse.append(loop.server_cpu_s())
            else:
                raise BenchError(f"{name}: {message}")
    except EOFError:
        proc.join(5.0)
        raise BenchError(f"{name}: the daemon's process died (exit code {proc.exitcode})") from None
    finally:
        proc.join(5.0)
        if proc.is_alive():
            proc.kill()
            proc.join()
    run = Run(name, lines, message["wall_s"], message["cpu_s"], pulse[1] - pulse[0], message["peak_rss_kib"],
              message["xruns"], message["behind_s"])
    return run, message["calls"]


def check_calls(name: str, calls: list[dict], data: Path, lines: int, seconds: float,
                levels: tuple[float, float]) -> int:
    """Each line recorded one call over the whole window, with the digits of every cycle in it."""
    done = [c for c in calls if c["status"] == "complete"]
    if len(done) != lines or len(calls) != lines:
        raise BenchError(f"{name}: {len(done)} complete calls of {len(calls)}, expected one per line ({lines})")
    cycles = math.floor(seconds / CYCLE_S)
    for call in done:
        if call["audio_s"] < WARMUP_S + seconds - 1:
            raise BenchError(f"{name}: line {call['line']} recorded {call['audio_s']:.1f} s only")
        heard = (call["dialed"] or "").count(DIALED)
        if heard < cycles:
            raise BenchError(f"{name}: line {call['line']} heard {DIALED} {heard} times, not {cycles}: "
                             f"dialed = {call['dialed']!r}")
        check_mp3(data / call["path"], call["audio_s"], levels)
    return len(done)


# -- arecord | lame ------------------------------------------------------------------------------
def daemon_buffer(period_frames: int) -> tuple[int, int]:
    """(period, buffer) in frames, as the daemon's CaptureDevice asks ALSA for them."""
    device = CaptureDevice(LINE_PCM, RATE, period_frames)
    return period_frames, device.periods * period_frames


def run_pipelines(name: str, loop: PulseLoopback, out: Path, lines: int, seconds: float,
                  period: tuple[int, int] | None, cpu: int | None, levels: tuple[float, float]) -> tuple[Run, str]:
    """`lines` pipelines at once, each capturing WARMUP_S + seconds + 1 s; CPU over the same kind of
    window as the daemon's. Returns the run and the command line of one pipeline."""
    out.mkdir()
    total = WARMUP_S + seconds + 1.0
    procs, command = [], ""
    for i in range(lines):
        arecord, lame = pipeline_commands(loop.line_pcm(i), total, out / f"pipe{i}.mp3")
        if period:
            arecord[1:1] = [f"--period-size={period[0]}", f"--buffer-size={period[1]}"]
        command = f"{shlex.join(arecord)} | {shlex.join(lame)}"
        rec = subprocess.Popen(arecord, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=pinned(
            {cpu} if cpu is not None else None))
        enc = subprocess.Popen(lame, stdin=rec.stdout, stderr=subprocess.DEVNULL, preexec_fn=pinned(
            {cpu} if cpu is not None else None))
        rec.stdout.close()
        procs += [rec, enc]
    time.sleep(WARMUP_S)
    cpu0, pulse0, wall0 = sum(task_cpu_s(p.pid) for p in procs), loop.server_cpu_s(), time.monotonic()
    time.sleep(seconds)
    cpu1, pulse1, wall1 = sum(task_cpu_s(p.pid) for p in procs), loop.server_cpu_s(), time.monotonic()
    failed = [p.args[0] for p in procs if p.wait()]
    if failed:
        raise BenchError(f"{name}: {failed[0]} failed ({command})")
    for i in range(lines):
        check_mp3(out / f"pipe{i}.mp3", total, levels)
    return Run(name, lines, wall1 - wall0, cpu1 - cpu0, pulse1 - pulse0), command


# -- report ----------------------------------------------------------------------------------------
def print_table(runs: list[Run]) -> None:
    widths = (44, 8, 13, 12, 12, 10)
    rows = [("path", "wall s", "CPU s/line-h", "% core/line", "pulse s/l-h", "peak RSS")]
    rows += [(r.name, f"{r.wall_s:.1f}", f"{r.per_line_hour(r.cpu_s):.2f}", f"{r.busy / r.lines * 100:.2f}",
              f"{r.per_line_hour(r.pulse_s):.2f}", f"{r.peak_rss_kib / 1024:.0f} MiB" if r.peak_rss_kib else "-")
             for r in runs]
    print()
    for cells in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    print()


def print_check(check: Run, core: int, alone: bool) -> None:
    keeps = check.xruns == 0 and check.behind_s <= BEHIND_TOLERANCE_S
    where = f"pinned to CPU {core}" + ("" if alone else " (shared with PulseAudio: this machine has one CPU)")
    print(f"check:   {check.lines} lines as threads of one daemon {where}, {check.wall_s:.0f} s at real time: "
          f"the core {check.busy * 100:.1f} % busy, {check.xruns} xruns, streams at most "
          f"{max(check.behind_s, 0) * 1000:.0f} ms behind the wall clock -> "
          f"{'keeps up' if keeps else 'does NOT keep up'}")
    print(f"         one core: about {math.floor(check.lines / check.busy)} lines at this rate "
          f"({check.lines} verified)" if keeps else "         one core: fewer lines than that")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="measured window per row (default 60)")
    p.add_argument("--lines", type=int, default=8, help="lines (and pipelines) per row (default 8)")
    p.add_argument("--check-lines", type=int, default=64, help="lines on one core in the check (default 64)")
    p.add_argument("--check-seconds", type=float, default=30.0, help="the check's window (default 30)")
    p.add_argument("--period-ms", type=int, default=20,
                   help="the daemon's audio.period_ms, and the pipelines' period (default 20, the product's)")
    args = p.parse_args()
    if min(args.seconds, args.check_seconds) < CYCLE_S or min(args.lines, args.check_lines) < 1:
        p.error(f"--seconds and --check-seconds must be >= {CYCLE_S:g}, --lines and --check-lines >= 1")
    return args


def main() -> None:
    args = parse_args()
    missing = missing_packages()
    if missing:
        sys.exit(f"bench_live: needs the Debian packages {' '.join(missing)} (missing here): "
                 f"apt-get install {' '.join(missing)}, or run `make bench-live`")
    cpus = sorted(os.sched_getaffinity(0))
    core, others = cpus[-1], set(cpus[:-1]) or None
    period = daemon_buffer(RATE * args.period_ms // 1000)
    with tempfile.TemporaryDirectory(prefix="hookline-live-") as tmp:
        tmp = Path(tmp)
        loop = PulseLoopback(tmp, RATE, others, readers=max(args.lines, args.check_lines))
        try:
            loop.start()
            longest = WARMUP_S + max(args.seconds, args.check_seconds) + 2 * START_TIMEOUT_S
            levels = render_call(tmp / "call.raw", longest, RATE)
            print(f"command: {shlex.join(sys.orig_argv)}")
            print(f"host:    {host_line()}")
            servers = f" ({loop.count} servers alike: at most 64 clients each)" if loop.count > 1 else ""
            print(f"device:  ALSA '{LINE_PCM}' (type pulse): a PulseAudio null sink's monitor at {RATE} Hz{servers}, "
                  f"in real time; server and player on CPU {','.join(map(str, sorted(others or {core})))}, "
                  f"everything measured on CPU {core}")
            print(f"signal:  a call: the office dials {DIALED} every {CYCLE_S:g} s, the legs take turns speaking; "
                  f"levels {levels[0]:.1f} / {levels[1]:.1f} dBFS")
            print(f"audio:   {period[0]}-frame periods ({args.period_ms} ms), {period[1]}-frame buffer -> "
                  f"{BITRATE_KBPS} kbit/s MP3; warm-up {WARMUP_S:g} s, then {args.seconds:g} s measured per row",
                  flush=True)
            runs, checked = [], 0
            for name, vox in ((f"Hookline, {args.lines} lines (hook off-hook)", False),
                              (f"Hookline, {args.lines} VOX lines", True)):
                loop.play(tmp / "call.raw")
                run, calls = run_hookline(name, loop, tmp / f"data{len(runs)}", args.lines, vox, args.seconds,
                                          args.period_ms, core)
                checked += check_calls(name, calls, tmp / f"data{len(runs)}", args.lines, args.seconds, levels)
                runs.append(run)
            commands = []
            for name, per in ((f"arecord | lame x {args.lines}, same period", period),
                              (f"arecord | lame x {args.lines}, arecord's period", None)):
                loop.play(tmp / "call.raw")
                run, command = run_pipelines(name, loop, tmp / f"pipes{len(runs)}", args.lines, args.seconds, per,
                                             core, levels)
                runs.append(run)
                commands.append(command)
                checked += args.lines
            print_table(runs)
            for label, command in zip(("same period", "arecord's period"), commands):
                print(f"pipe:    ({label}) {command}")
            hook, vox, pipe, pipe_default = runs
            ratio = hook.per_line_hour(hook.cpu_s) / pipe.per_line_hour(pipe.cpu_s)
            print(f"summary: Hookline / arecord|lame at the same period = {ratio:.2f}x the CPU per line-hour "
                  f"(VOX lines {vox.per_line_hour(vox.cpu_s) / pipe.per_line_hour(pipe.cpu_s):.2f}x; against "
                  f"arecord's own period "
                  f"{hook.per_line_hour(hook.cpu_s) / pipe_default.per_line_hour(pipe_default.cpu_s):.2f}x)",
                  flush=True)
            loop.play(tmp / "call.raw")
            check, calls = run_hookline("check", loop, tmp / "check", args.check_lines, False, args.check_seconds,
                                        args.period_ms, core)
            checked += check_calls("check", calls, tmp / "check", args.check_lines, args.check_seconds, levels)
        finally:
            loop.stop()
    print_check(check, core, others is not None)
    print(f"mp3s:    {checked} files decoded: each as long as recorded, each leg within 3 dB of the signal, "
          f"and each call with {DIALED} for every cycle")


if __name__ == "__main__":
    try:
        main()
    except (BenchError, RuntimeError) as e:   # RuntimeError: the PulseAudio loopback did not start
        sys.exit(f"bench_live: {e}")
