"""USB export benchmark: `hookline export` against a plain `cp -r` of the same recording files to
the same kind of target, as a ratio of throughput (goal: at least 0.9x, hashing and read-back
included).

A catalog holds CALLS complete calls of 1-5 minutes on 4 lines, each with a real MP3 at the
recorder's bitrate (32 kbit/s, 8 kHz stereo: one call's audio encoded once with the recorder's
own encoder, each file a prefix of it as long as its call) in recordings/YYYY/MM/DD/, with its
size and SHA-256 in the catalog, as the recorder leaves them. Each run gets a fresh target:
a tmpfs mounted here and, where loop devices work, a FAT32 image (mkfs.vfat) and an ext4 image
(mkfs.ext4) in a file on this disk mounted through a loop device (each skipped with a message
where the kernel cannot mount it); it is unmounted after the run. Before every run the page cache
is dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`), so both sides read the recordings from
disk alike. The sides:
- `hookline export --to TARGET --json`, a new process: Python's start and imports (from disk, the
  cache being dropped), then the job: files copied with sendfile, flushed a group at a time
  (syncfs), read back and hashed in worker threads while the next copy, journaled, renamed; then
  the indexes and SHA256SUMS. Its summary must say complete, with every call copied, or the
  benchmark fails;
- the same job in a running process (job.run in this one, imports done), as the box's button and
  web UI run it in the recorder;
- `cp -r recordings TARGET/` then `sync -f TARGET` (the files are on the stick only then).
Each side runs RUNS times per target, alternating; prints files, MB, seconds and MB/s per run
and the median ratio of throughputs. Needs root (mount, drop_caches).

    .venv/bin/python hw_bench/bench_export.py [--calls N] [--runs R] [--tmpfs-only]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bench_search  # noqa: E402  (hw_bench/ is not a package)
from appliance.export import job as jobmod, selection  # noqa: E402
from appliance.recording.mp3 import StreamEncoder  # noqa: E402
from appliance.store import db as dbmod  # noqa: E402
from appliance.store.times import iso  # noqa: E402

CALLS = 300
RUNS = 3
RATE = 8000
KBPS = 32
SHORTEST_S, LONGEST_S = 60, 300
GOAL = 0.9
SEED = 20261205
HOOKLINE = str(Path(sys.executable).with_name("hookline"))


class BenchError(RuntimeError):
    pass


def longest_mp3(seconds: int) -> bytes:
    """A call's worth of MP3 made by the recorder's encoder: speech-like noise on both legs."""
    rng = np.random.default_rng(SEED)
    enc = StreamEncoder(RATE, KBPS)
    out = bytearray()
    for _ in range(seconds):
        legs = rng.normal(0, 2000, (RATE, 2)) * (0.5 + 0.5 * np.sin(np.arange(RATE) / 700))[:, None]
        out += enc.encode(legs.astype(np.int16))
    return bytes(out + enc.flush())


def make_catalog(data: Path, calls: int) -> int:
    """`calls` complete calls with real MP3 files; returns their bytes."""
    audio = longest_mp3(LONGEST_S)
    rng = random.Random(SEED)
    db = dbmod.connect(data)
    start = time.time() - 30 * 86400
    rows, total = [], 0
    for i in range(calls):
        at = start + i * 8000
        seconds = rng.uniform(SHORTEST_S, LONGEST_S)
        payload = audio[:int(len(audio) * seconds / LONGEST_S)]
        call_id = f"{i:010x}"
        line, inbound = 1 + i % 4, rng.random() < 0.6
        number = bench_search._number(rng)
        rel = f"recordings/{time.strftime('%Y/%m/%d/%Y-%m-%dT%H-%M-%S', time.gmtime(at))}_L{line}_{call_id}.mp3"
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(payload)
        total += len(payload)
        rows.append((call_id, line, "inbound" if inbound else "outbound", iso(at), iso(at + seconds), seconds,
                     number if inbound else None, None if inbound else number, "complete", rel, len(payload),
                     hashlib.sha256(payload).hexdigest(), seconds, RATE, KBPS, iso(at + seconds)))
    with dbmod.immediate(db):
        db.conn.executemany("INSERT INTO calls (id, line, direction, started_at, ended_at, duration_s, remote_number, "
                            "dialed, status, path, size_bytes, sha256, audio_s, sample_rate, bitrate_kbps, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()
    return total


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


@contextmanager
def tmpfs(mnt: Path, size_mb: int):
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "bench-export", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


MKFS = {"vfat": ["mkfs.vfat", "-F", "32", "-n", "STICK"], "ext4": ["mkfs.ext4", "-q", "-L", "STICK"]}
IMAGES = {"vfat": "FAT32 image (loop)", "ext4": "ext4 image (loop)"}


@contextmanager
def image(mnt: Path, path: Path, size_mb: int, fstype: str):
    """A new filesystem in a file on this disk, mounted through a loop device: a stick's stand-in
    whose writes and fsyncs reach a real block device."""
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(size_mb << 20)
    try:
        subprocess.run([*MKFS[fstype], str(path)], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", "-t", fstype, str(path), str(mnt)], check=True, capture_output=True)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
        path.unlink(missing_ok=True)


def loop_works(work: Path, fstype: str) -> str | None:
    """None when an image of fstype can be mounted through a loop device here, else why not."""
    if not shutil.which(MKFS[fstype][0]):
        return f"{MKFS[fstype][0]} is not installed"
    mnt = work / "probe"
    mnt.mkdir()
    try:
        with image(mnt, work / "probe.img", 64, fstype):
            return None
    except (subprocess.CalledProcessError, OSError) as e:
        err = (getattr(e, "stderr", b"") or b"").decode(errors="replace").strip().splitlines()
        return f"a loop mount failed: {err[0] if err else e}"
    finally:
        mnt.rmdir()


def run_export(data: Path, target: Path, calls: int) -> float:
    began = time.monotonic()
    proc = subprocess.run([HOOKLINE, "export", "--to", str(target), "--data", str(data), "--json"],
                          capture_output=True, text=True, env={**os.environ, "TZ": "UTC"})
    seconds = time.monotonic() - began
    summary = json.loads(proc.stdout or "{}")
    if proc.returncode or not summary.get("complete") or summary.get("copied") != calls:
        raise BenchError(f"the export did not finish (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    return seconds


def run_job(data: Path, target: Path, calls: int) -> float:
    """The same export as the box's button and web UI start it: job.run in the running recorder,
    whose Python is started and imported already (here: this process)."""
    db = dbmod.connect(data)
    try:
        began = time.monotonic()
        result = jobmod.run(db, data, target, selection.Selection(), by=None)
        seconds = time.monotonic() - began
    finally:
        db.close()
    if not result.complete or len(result.copied) != calls:
        raise BenchError(f"the export job did not finish: {result.stopped_because}")
    return seconds


def run_cp(data: Path, target: Path, calls: int) -> float:
    began = time.monotonic()
    subprocess.run(["cp", "-r", str(data / "recordings"), str(target)], check=True)
    subprocess.run(["sync", "-f", str(target)], check=True)
    seconds = time.monotonic() - began
    copied = sum(1 for _ in (target / "recordings").rglob("*.mp3"))
    if copied != calls:
        raise BenchError(f"cp -r copied {copied} of {calls} files")
    return seconds


def measure(work: Path, data: Path, calls: int, total: int, runs: int, kind: str) -> dict[str, list[float]]:
    mnt = work / "stick"
    size_mb = total * 2 // 1_000_000 + 64
    times: dict[str, list[float]] = {"export": [], "job": [], "cp": []}
    for _ in range(runs):
        for side, fn in (("export", run_export), ("job", run_job), ("cp", run_cp)):
            # A new catalog copy each run would change the source; --new is not used, so the same
            # catalog exports everything again onto each fresh target.
            target = tmpfs(mnt, size_mb) if kind == "tmpfs" else image(mnt, work / "stick.img", size_mb, kind)
            with target:
                drop_caches()
                times[side].append(fn(data, mnt, calls))
            print(f"  {IMAGES.get(kind, kind)} {side}: {times[side][-1]:.2f} s", file=sys.stderr)
    return times


SIDES = {"export": "`hookline export` (a new process: start, imports, copy, verify, indexes)",
         "job": "the export job in a running process (as the button and web UI start it)",
         "cp": "`cp -r` + `sync`"}


def report(kind: str, calls: int, total: int, times: dict[str, list[float]]) -> list[float]:
    mb = total / 1e6
    for side, name in SIDES.items():
        secs = times[side]
        print(f"| {kind} | {name} | {calls} | {mb:.1f} | {' / '.join(f'{s:.2f}' for s in secs)} | "
              f"{statistics.median(secs):.2f} | {mb / statistics.median(secs):.1f} |")
    medians = []
    for side in ("export", "job"):
        ratios = [c / e for e, c in zip(times[side], times["cp"])]
        medians.append(statistics.median(ratios))
        print(f"| {kind} | **ratio {side} / cp (throughput)** | | | {' / '.join(f'{r:.2f}x' for r in ratios)} | "
              f"**{medians[-1]:.2f}x** | |")
    return medians


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=CALLS)
    ap.add_argument("--runs", type=int, default=RUNS)
    ap.add_argument("--tmpfs-only", action="store_true", help="no loop-mounted images")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_export: needs root (it mounts its targets and drops the page cache)")
    work = Path(tempfile.mkdtemp(prefix="bench-export-", dir="/var/tmp"))
    try:
        data = work / "data"
        t = time.monotonic()
        total = make_catalog(data, args.calls)
        print(f"made {args.calls} calls, {total / 1e6:.1f} MB of MP3 in {data} in {time.monotonic() - t:.1f} s",
              file=sys.stderr)
        (work / "stick").mkdir()
        kinds = ["tmpfs"]
        for fstype in () if args.tmpfs_only else ("vfat", "ext4"):
            why_not = loop_works(work, fstype)
            if why_not:
                print(f"bench_export: skipping the {IMAGES[fstype]}: {why_not}", file=sys.stderr)
            else:
                kinds.append(fstype)
        results = {k: measure(work, data, args.calls, total, args.runs, k) for k in kinds}
    except BenchError as e:
        sys.exit(f"bench_export: {e}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"Export of {args.calls} calls of {SHORTEST_S // 60}-{LONGEST_S // 60} min ({KBPS} kbit/s MP3), "
          f"page cache dropped before each run; {bench_search.host_line()}")
    print("| target | side | files | MB | seconds (runs) | median s | MB/s |")
    print("| --- | --- | ---: | ---: | --- | ---: | ---: |")
    ratios = [report(IMAGES.get(k, k), args.calls, total, results[k]) for k in kinds]
    for i, side in enumerate(("export", "job")):
        print(f"goal for {side}: at least {GOAL}x: {'met' if min(r[i] for r in ratios) >= GOAL else 'MISSED'}")


if __name__ == "__main__":
    main()
