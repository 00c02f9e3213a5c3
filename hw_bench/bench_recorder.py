"""Recorder CPU benchmark: Hookline's capture -> MP3 path against `arecord | lame`.

Prints, for 8 kHz stereo S16_LE audio encoded to 32 kbit/s MP3 (the product defaults):

1. Hookline's path: the daemon's own CaptureDevice (pyalsaaudio, 20 ms periods) -> StreamEncoder
   (lameenc) -> spool.PartWriter, fsynced once per second of audio as a live line is. CPU is
   user+sys of a fresh worker process from opening the PCM to closing the file (interpreter
   start-up is left out: the daemon pays it once), given as CPU seconds per line-hour.
2. The obvious alternative, `arecord ... | lame ...` on the same PCM with the same LAME
   settings (joint stereo, quality mp3.QUALITY, as lameenc does): CPU of both processes, their
   start-up (a few ms) included.
3. Lines one core keeps up with: the estimate 3600 / (CPU s per line-hour) for both paths, and
   for Hookline a check: K lines as threads of one process (as the daemon runs them) pinned to
   one core, each capturing CHECK_SECONDS of audio as fast as the PCM delivers it. They keep up
   if K x CHECK_SECONDS / wall >= K; that throughput is the verified lines per core.
4. Peak RSS of the one-line Hookline worker process: VmHWM from /proc/self/status, because a
   spawned child's ru_maxrss starts at its parent's high-water mark (Linux keeps it across exec).

Input: a tone on the left leg and white noise on the right, rendered to a raw file and captured
through an ALSA `file`-plugin PCM defined in a generated config (ALSA_CONFIG_PATH); it runs as
fast as it is read. On a box, `--device PCM` captures items 1, 2 and 4 from that PCM in real
time instead (one path after the other); the check in item 3 always uses the generated input,
since it measures how much faster than real time one core goes. The file plugin never makes a
reader wait, so its figures leave out the cost of waking up for every period of a live line;
only --device measures that. Set TMPDIR to put the output on the recordings disk (fsync costs).

Every MP3 is decoded with soundfile: its duration must be within 0.5 s of what was captured
and (generated input) each leg's level within LEVEL_TOLERANCE_DB of the input's, or the
benchmark fails instead of printing figures.

    .venv/bin/python hw_bench/bench_recorder.py [--seconds N] [--lines K] [--device PCM]
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from appliance.audio.capture import CaptureDevice
from appliance.recording import mp3, spool
from appliance.sim.devices import use_alsa_config

RATE = 8000                       # the product defaults (appliance/config.py)
PERIOD_FRAMES = RATE * 20 // 1000
BITRATE_KBPS = 32
BENCH_PCM = "benchcap"
TONE_HZ, TONE_DBFS, NOISE_DBFS = 1000, -12.0, -24.0
INPUT_MARGIN_S = 5                # the file plugin returns garbage past the end of its infile
CHECK_SECONDS = 10                # audio per line in the lines-per-core check
DURATION_TOLERANCE_S = 0.5
LEVEL_TOLERANCE_DB = 3.0          # LAME's low-pass takes a little of the noise's top octave
LINE_HOUR_S = 3600.0


class BenchError(RuntimeError):
    """The benchmark cannot give a trustworthy figure; str() says why."""


@dataclass
class Run:
    lines: int
    audio_s: float                # per line
    cpu_s: float
    wall_s: float
    peak_rss_kib: int = 0

    @property
    def cpu_per_line_hour(self) -> float:
        return self.cpu_s / (self.lines * self.audio_s) * LINE_HOUR_S

    @property
    def lines_per_core(self) -> float:
        """Lines one core could carry, from CPU time alone."""
        return LINE_HOUR_S / self.cpu_per_line_hour

    @property
    def throughput(self) -> float:
        """Seconds of audio recorded per second of wall time, all lines together."""
        return self.lines * self.audio_s / self.wall_s


# -- input ------------------------------------------------------------------------------------
def render_input(path: Path, seconds: float) -> tuple[float, float]:
    """Write tone-left / noise-right S16_LE stereo; return each leg's RMS level in dBFS."""
    rng = np.random.default_rng(1)
    total = int(seconds * RATE)
    tone_amp = 32768 * 10 ** (TONE_DBFS / 20) * math.sqrt(2)
    noise_rms = 32768 * 10 ** (NOISE_DBFS / 20)
    power = np.zeros(2)
    with open(path, "wb") as f:
        for start in range(0, total, 60 * RATE):
            n = np.arange(start, min(start + 60 * RATE, total))
            legs = np.stack([tone_amp * np.sin(2 * np.pi * TONE_HZ * n / RATE),
                             rng.normal(0, noise_rms, len(n))], axis=1)
            frames = np.clip(np.round(legs), -32768, 32767).astype("<i2")
            power += np.square(frames.astype(np.float64)).sum(axis=0)
            f.write(frames.tobytes())
    return tuple(10 * math.log10(p / total) - 20 * math.log10(32768) for p in power)


def write_alsa_config(path: Path, infile: Path) -> None:
    """Define BENCH_PCM as a file-plugin capture of `infile` and point ALSA (and children) at it."""
    quoted = '"' + str(infile).replace("\\", "\\\\").replace('"', '\\"') + '"'
    path.write_text(f'pcm.{BENCH_PCM} {{ type file; slave.pcm {{ type null }}; file "/dev/null"; '
                    f'infile {quoted}; format "raw" }}\n')
    use_alsa_config(path)


# -- Hookline's path --------------------------------------------------------------------------
def record_line(pcm: str, frames: int, out: Path) -> None:
    """Capture `frames` frames from `pcm` and write them as MP3, the way a recording line does."""
    device = CaptureDevice(pcm, RATE, PERIOD_FRAMES)
    encoder = mp3.StreamEncoder(RATE, BITRATE_KBPS)
    writer = spool.PartWriter(out, fsync_interval_s=None)   # synced per second of audio below
    try:
        device.open()
        got = 0
        while got < frames:
            chunk = device.read()
            if isinstance(chunk, int):
                raise BenchError(f"capture overrun on '{pcm}' after {got / RATE:.1f} s: the path fell behind")
            chunk = chunk[: frames - got]
            writer.write(encoder.encode(chunk))
            if (got + len(chunk)) // RATE > got // RATE:
                writer.sync()
            got += len(chunk)
        writer.write(encoder.flush())
    finally:
        writer.close()
        device.close()


def cpu_seconds(before: resource.struct_rusage, after: resource.struct_rusage) -> float:
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def peak_rss_kib() -> int:
    """This process's peak RSS since exec (VmHWM); ru_maxrss would include the parent's."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def hookline_worker(conn, pcm: str, frames: int, lines: int, out_dir: Path, cpu: int | None) -> None:
    """Worker process body: `lines` threads each record one file; send back a Run or an error."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})   # threads started below inherit it
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))   # three descriptors per line
    errors: list[str] = []

    def line(i: int) -> None:
        try:
            record_line(pcm, frames, out_dir / f"line{i}.mp3")
        except Exception as e:   # reported to the parent, which fails the benchmark
            errors.append(str(e) or repr(e))

    threads = [threading.Thread(target=line, args=(i,)) for i in range(lines)]
    before, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    conn.send(errors[0] if errors else Run(lines, frames / RATE, cpu_seconds(before, after), wall1 - wall0,
                                           peak_rss_kib()))


def run_hookline(pcm: str, seconds: float, lines: int, out_dir: Path, cpu: int | None = None) -> Run:
    """Run Hookline's path for `lines` lines in a fresh process (so its RSS is its own)."""
    out_dir.mkdir()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=hookline_worker, args=(child, pcm, int(seconds * RATE), lines, out_dir, cpu))
    proc.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:
        result = None
    proc.join()
    if result is None:
        raise BenchError(f"Hookline worker died (exit code {proc.exitcode})")
    if isinstance(result, str):
        raise BenchError(result)
    return result


# -- arecord | lame ---------------------------------------------------------------------------
def pipeline_commands(pcm: str, seconds: float, out: Path) -> tuple[list[str], list[str]]:
    arecord = ["arecord", "-q", "-D", pcm, "-f", "S16_LE", "-c", "2", "-r", str(RATE), "-t", "raw",
               "-s", str(int(seconds * RATE))]
    lame = ["lame", "--silent", "-r", "-s", f"{RATE / 1000:g}", "--bitwidth", "16",
            "--signed", "--little-endian", "-m", "j", "-b", str(BITRATE_KBPS), "-q", str(mp3.QUALITY),
            "-", str(out)]
    return arecord, lame


def run_pipeline(arecord: list[str], lame: list[str], seconds: float, log_dir: Path) -> Run:
    """Run arecord | lame; CPU is both processes' user+sys from RUSAGE_CHILDREN deltas."""
    before, wall0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    with open(log_dir / "arecord.err", "w+") as rec_err, open(log_dir / "lame.err", "w+") as lame_err:
        rec = subprocess.Popen(arecord, stdout=subprocess.PIPE, stderr=rec_err)
        enc = subprocess.Popen(lame, stdin=rec.stdout, stderr=lame_err)
        rec.stdout.close()   # lame holds the only read end: arecord sees EPIPE if lame dies
        codes = enc.wait(), rec.wait()
        after, wall1 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        if any(codes):
            rec_err.seek(0)
            lame_err.seek(0)
            raise BenchError(f"arecord | lame failed (exit {codes[1]} | {codes[0]}): "
                             f"{(rec_err.read() + lame_err.read()).strip()}")
    return Run(1, seconds, cpu_seconds(before, after), wall1 - wall0)


# -- checks -----------------------------------------------------------------------------------
def check_mp3(path: Path, seconds: float, levels: tuple[float, float] | None) -> None:
    """Fail unless the MP3 decodes to `seconds` of audio (and each leg has the input's level)."""
    import soundfile  # here, not at the top: the Hookline workers re-import this module

    frames, power = 0, np.zeros(2)
    try:
        with soundfile.SoundFile(path) as f:
            if f.channels != 2:
                raise BenchError(f"{path.name}: {f.channels} channel(s), expected 2")
            rate = f.samplerate
            # A minute at a time, by read() and not blocks(): blocks() trusts the frame count that
            # libsndfile estimates from the bitrate, and pads a short last block with garbage.
            while len(block := f.read(60 * RATE, dtype="float32", always_2d=True)):
                frames += len(block)
                power += np.square(block, dtype=np.float64).sum(axis=0)
    except soundfile.SoundFileError as e:
        raise BenchError(f"{path.name} does not decode: {e}") from None
    duration = frames / rate
    if abs(duration - seconds) > DURATION_TOLERANCE_S:
        raise BenchError(f"{path.name}: {duration:.2f} s decoded, expected {seconds:.2f} s")
    if levels is None:
        return
    got = 10 * np.log10(np.maximum(power / frames, 1e-12))
    if np.any(np.abs(got - levels) > LEVEL_TOLERANCE_DB):
        raise BenchError(f"{path.name}: leg levels {got[0]:.1f}/{got[1]:.1f} dBFS, "
                         f"input {levels[0]:.1f}/{levels[1]:.1f} dBFS")


def check_all(paths: list[Path], seconds: float, levels: tuple[float, float] | None) -> int:
    for path in paths:
        check_mp3(path, seconds, levels)
    return len(paths)


# -- report -----------------------------------------------------------------------------------
def filesystem(path: Path) -> str:
    """Type of the filesystem holding `path` (ext4, tmpfs...): fsync costs depend on it."""
    best, kind = "", "unknown"
    with open("/proc/self/mounts") as f:
        for entry in f:
            mount, fstype = entry.split()[1:3]
            if f"{path}/".startswith(f"{mount.rstrip('/')}/") and len(mount) >= len(best):
                best, kind = mount, fstype
    return kind


def host_line() -> str:
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("lameenc", "pyalsaaudio"))
    lame = subprocess.run(["lame", "--version"], capture_output=True, text=True).stdout.split("(")[0]
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"Python {platform.python_version()}, {versions}, {lame.strip()}")


def print_header(source: str, out_dir: Path, pipe_cmd: str) -> None:
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"host:    {host_line()}")
    print(f"input:   {source}")
    print(f"audio:   {RATE} Hz stereo S16_LE, {PERIOD_FRAMES}-frame periods -> {BITRATE_KBPS} kbit/s "
          f"joint-stereo MP3, LAME quality {mp3.QUALITY}")
    print(f"output:  {out_dir} ({filesystem(out_dir.resolve())}; set TMPDIR to choose)")
    print(f"pipe:    {pipe_cmd}", flush=True)


def print_results(hook: Run, pipe: Run, check: Run, core: int, mp3s: int, device: bool) -> None:
    rows = [("Hookline, 1 line", hook, f"{math.floor(hook.lines_per_core)} est.", hook.peak_rss_kib),
            (f"Hookline, {check.lines} lines on CPU {core}", check, f"{math.floor(check.throughput)} verified",
             check.peak_rss_kib),
            ("arecord | lame, 1 line", pipe, f"{math.floor(pipe.lines_per_core)} est.", 0)]
    widths = (30, 9, 9, 8, 13, 14, 9)
    table = [("path", "audio s", "wall s", "CPU s", "CPU s/line-h", "lines/core", "peak RSS")]
    table += [(name, f"{r.lines * r.audio_s:.0f}", f"{r.wall_s:.2f}", f"{r.cpu_s:.2f}",
               f"{r.cpu_per_line_hour:.2f}", per_core, f"{rss / 1024:.1f} MiB" if rss else "-")
              for name, r, per_core, rss in rows]
    print()
    for cells in table:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    print()
    verdict = "keeps up" if check.throughput >= check.lines else "does NOT keep up"
    print(f"check:   {check.lines} lines as threads of one process pinned to CPU {core}, {check.audio_s:.0f} s of "
          f"audio each: {check.throughput:.2f}x real time -> {verdict} (needs >= {check.lines}x)")
    levels = (f"the check's also have each leg within {LEVEL_TOLERANCE_DB:g} dB of the generated input's level"
              if device else f"each leg within {LEVEL_TOLERANCE_DB:g} dB of the input's level")
    print(f"mp3s:    {mp3s} files decoded with soundfile: each within {DURATION_TOLERANCE_S} s of the length "
          f"captured; {levels}")
    print(f"summary: Hookline / arecord|lame = {hook.cpu_per_line_hour / pipe.cpu_per_line_hour:.2f}x the CPU per "
          f"line-hour; lines per core: Hookline {math.floor(hook.lines_per_core)} estimated, "
          f"{math.floor(check.throughput)} verified ({check.lines} running), arecord|lame "
          f"{math.floor(pipe.lines_per_core)} estimated (Hookline / arecord|lame = "
          f"{hook.lines_per_core / pipe.lines_per_core:.2f}x)")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=None,
                   help="audio per path (default 1800; with --device 120, captured in real time per path)")
    p.add_argument("--lines", type=int, default=None,
                   help="lines in the one-core check (default: the estimated lines per core)")
    p.add_argument("--device", metavar="PCM",
                   help="capture items 1, 2 and 4 from this ALSA PCM (e.g. line1) in real time instead")
    args = p.parse_args()
    if args.seconds is None:
        args.seconds = 120.0 if args.device else 1800.0
    if args.seconds < 1 or (args.lines is not None and args.lines < 1):
        p.error("--seconds must be >= 1 and --lines >= 1")
    return args


def main() -> None:
    args = parse_args()
    for tool, package in (("arecord", "alsa-utils"), ("lame", "lame")):
        if not shutil.which(tool):
            sys.exit(f"bench_recorder: '{tool}' not found: install it (apt-get install {package})")
    with tempfile.TemporaryDirectory(prefix="hookline-bench-") as tmp:
        tmp = Path(tmp)
        rendered = CHECK_SECONDS if args.device else max(args.seconds, CHECK_SECONDS)
        levels = render_input(tmp / "in.raw", rendered + INPUT_MARGIN_S)
        write_alsa_config(tmp / "bench-asound.conf", tmp / "in.raw")
        pcm = args.device or BENCH_PCM
        arecord, lame = pipeline_commands(pcm, args.seconds, tmp / "pipeline.mp3")
        print_header(f"ALSA PCM '{pcm}' in real time (the lines-per-core check: generated input)" if args.device
                     else f"generated, {TONE_HZ} Hz tone left at {TONE_DBFS:g} dBFS, white noise right at "
                          f"{NOISE_DBFS:g} dBFS, through ALSA file-plugin PCM '{pcm}'",
                     tmp, f"{shlex.join(arecord)} | {shlex.join(lame)}")

        hook = run_hookline(pcm, args.seconds, 1, tmp / "hookline")
        pipe = run_pipeline(arecord, lame, args.seconds, tmp)
        mp3s = check_all([tmp / "hookline" / "line0.mp3", tmp / "pipeline.mp3"], args.seconds,
                         None if args.device else levels)

        core = max(os.sched_getaffinity(0))
        lines = args.lines or max(1, math.floor(hook.lines_per_core))
        check = run_hookline(BENCH_PCM, CHECK_SECONDS, lines, tmp / "check", cpu=core)
        mp3s += check_all(sorted((tmp / "check").glob("*.mp3")), CHECK_SECONDS, levels)

        print_results(hook, pipe, check, core, mp3s, bool(args.device))


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit(f"bench_recorder: {e}")
