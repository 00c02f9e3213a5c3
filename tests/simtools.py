"""Helpers for the recorder-core tests: drive the `hookline` command the way a user does, and
measure what ended up in the MP3 files (levels, dominant frequencies, where a tone starts).

Not a conftest: plain functions, imported by the test modules that need them.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
_venv_bin = REPO / ".venv" / "bin" / "hookline"
HOOKLINE = str(_venv_bin if _venv_bin.exists() else Path(sys.executable).with_name("hookline"))
if not Path(HOOKLINE).exists():  # pragma: no cover - only when run outside the project's venv
    HOOKLINE = shutil.which("hookline") or HOOKLINE

# Encoder + decoder padding: decoded audio lags the input by about this many samples (DESIGN.md).
CODEC_DELAY = 1105
PREROLL_S = 1.0
FORBIDDEN_ON_FAT = set(':*?"<>|\\')


def clean_env(tz: str = "UTC") -> dict[str, str]:
    """This process's environment without ALSA or gpiozero leftovers, in a fixed time zone (and
    without sudo's or ssh's marks, which change who the audit log names at the console, nor a
    systemd notify socket a CI runner may have)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ALSA_CONFIG_PATH", "GPIOZERO_PIN_FACTORY", "XDG_CONFIG_HOME", "SUDO_USER",
                        "SSH_CONNECTION", "SSH_CLIENT", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env["TZ"] = tz
    return env


def start(*args: str) -> subprocess.Popen:
    """Start `hookline ARGS` in the background (to kill it, or to change things while it runs)."""
    return subprocess.Popen([HOOKLINE, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=clean_env())


def run(*args: str, tz: str = "UTC", timeout: float = 120, check: bool = False,
        input: str | None = None) -> subprocess.CompletedProcess:
    """Run `hookline ARGS` in a clean environment (no ALSA or gpiozero leftovers)."""
    proc = subprocess.run([HOOKLINE, *map(str, args)], capture_output=True, text=True, env=clean_env(tz),
                          timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"hookline {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def check(*args: str, **kw) -> subprocess.CompletedProcess:
    """`hookline ARGS`, which must succeed."""
    return run(*args, check=True, **kw)


def simulate(scenario: Path, data: Path, speed: str = "max", tz: str = "UTC") -> subprocess.CompletedProcess:
    return run("simulate", scenario, "--data", data, "--speed", speed, tz=tz, check=True)


def calls(data: Path) -> list[dict]:
    proc = run("calls", "--data", data, "--json", check=True)
    return json.loads(proc.stdout)


def events(data: Path) -> list[dict]:
    proc = run("events", "--data", data, "--json", check=True)
    return json.loads(proc.stdout)


def write_scenario(directory: Path, text: str, name: str = "scenario.toml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def simulate_hook_changes(directory: Path, text: str, changes: list[tuple[int, bool]]) -> tuple[list, list]:
    """Play a scenario in this process with line 1's scheduled events replaced by hook levels,
    (stream frame, offhook) pairs driven on its mock sense pin (a bouncing contact, a ringing
    sense input): (calls, events) from the catalog."""
    from appliance.sim import scenario as scenariomod
    from appliance.store import catalog, db as dbmod

    sc = scenariomod.load(write_scenario(directory, text))
    data = directory / "data"
    play_in_process(sc, data, lambda daemon, hw: hw.set_schedule(1, changes))
    db = dbmod.connect(data)
    try:
        return catalog.list_calls(db), catalog.list_events(db)
    finally:
        db.close()


def play_in_process(sc, data: Path, prepare=None) -> None:
    """Play a parsed scenario through the daemon in this process at max speed, until line 1 is
    done; prepare(daemon, hw), if given, runs before anything starts (to change the schedule,
    or to watch each read through daemon._tick)."""
    from appliance.sim import runner
    daemon, hw = runner.build_daemon(sc, data, realtime=False)
    if prepare:
        prepare(daemon, hw)
    hw.start()
    daemon.start()
    try:
        daemon.lines[0].join(60)
    finally:
        hw.stop()
        daemon.stop()


# Two lines, and a call on line 1 that lasts until the test stops the simulation (`--speed
# realtime`, with wait_for_recording): for commands sent to a running recorder.
CALL_IN_PROGRESS = """
    [[line]]
    id = 1

    [[line]]
    id = 2

    [[call]]
    line = 1
    at = 0.5
    direction = "outbound"
    talk = 120.0                      # stopped once the test is done
    near = "noise@-30"
"""


def wait_for_recording(data: Path, line: int = 1, deadline_s: float = 15.0) -> dict:
    """Poll `hookline status` until a running simulation records a call on the line: its status."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        proc = run("status", "--data", data, "--json")
        if proc.returncode == 0:
            status = next((x for x in json.loads(proc.stdout)["lines"] if x["line"] == line), None)
            if status and status["state"] == "recording":
                return status
        time.sleep(0.05)
    raise AssertionError(f"no call started on line {line}")


def wait_for(condition, timeout: float = 30.0, what: str = "", step: float = 0.02):
    """Poll until condition() is true and return its value, or fail the test after timeout seconds."""
    import pytest
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"not within {timeout} s: {what or condition}")
        time.sleep(step)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single non-empty stderr line of a refused command (asserts there is exactly one)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one clear line on stderr, got {len(lines)}:\n{proc.stderr}"
    return lines[0]


# -- time ----------------------------------------------------------------------------------------
def ts(iso_text: str) -> float:
    return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


# -- audio measurements --------------------------------------------------------------------------
def decode(data: Path, call: dict) -> tuple[np.ndarray, int]:
    """The call's MP3 as float frames (n, 2) and its sample rate."""
    audio, rate = soundfile.read(str(data / call["path"]), dtype="float64", always_2d=True)
    return audio, rate


def rms_dbfs(x: np.ndarray) -> float:
    """Plain RMS level in dBFS (a sine whose peak is at −12 dBFS measures about −15)."""
    rms = float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
    return 20 * np.log10(max(rms, 1e-9))


def spectrum(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    window = np.hanning(len(x))
    mag = np.abs(np.fft.rfft(x * window))
    return np.fft.rfftfreq(len(x), 1 / rate), mag


def dominant_hz(x: np.ndarray, rate: int) -> float:
    freqs, mag = spectrum(x, rate)
    mag[freqs < 30] = 0
    return float(freqs[int(np.argmax(mag))])


def band_db(x: np.ndarray, rate: int, hz: float, width: float = 25.0) -> float:
    """Power in a narrow band around hz, in dB (relative; compare two channels of one segment)."""
    freqs, mag = spectrum(x, rate)
    band = (freqs > hz - width) & (freqs < hz + width)
    return 10 * np.log10(float(np.sum(np.square(mag[band]))) + 1e-20)


def loud_span(x: np.ndarray, rate: int, threshold_dbfs: float, window_s: float = 0.01) -> tuple[float, float]:
    """(first, last) time in s where x, in windows of window_s, is louder than threshold_dbfs."""
    w = max(1, int(rate * window_s))
    n = len(x) // w
    levels = [rms_dbfs(x[i * w:(i + 1) * w]) for i in range(n)]
    loud = [i for i, level in enumerate(levels) if level > threshold_dbfs]
    assert loud, f"nothing louder than {threshold_dbfs} dBFS"
    return loud[0] * w / rate, (loud[-1] + 1) * w / rate


# -- a real, small disk ----------------------------------------------------------------------------
@contextlib.contextmanager
def small_tmpfs(directory: Path, size: str):
    """A tmpfs of `size` (e.g. "400k") mounted at directory (made here) for full-disk tests;
    skips the test where mounting is not allowed (it needs root)."""
    import pytest
    directory.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


# -- a running recorder ----------------------------------------------------------------------------
def start_recorder(config: Path, **env_extra: str) -> subprocess.Popen:
    """`hookline run --config CONFIG`, the box's own command, on this machine: gpiozero's mock pins
    stand in for the sense inputs (every line on-hook), and a capture device ALSA does not know is
    retried as on a box whose interface is unplugged. env_extra: more of its environment (as
    systemd sets NOTIFY_SOCKET, or an ALSA_CONFIG_PATH naming simulated PCMs)."""
    env = {**clean_env(), **env_extra}
    env["GPIOZERO_PIN_FACTORY"] = "mock"
    return subprocess.Popen([HOOKLINE, "run", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def await_status(proc: subprocess.Popen, *where: str, until=lambda lines: True, timeout: float = 30) -> dict:
    """The first `hookline status WHERE --json` answer (from the recorder `proc` runs) whose
    lines satisfy `until`."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the recorder exited {proc.returncode}: {proc.stderr.read()}"
        answer = run("status", *where, "--json")
        if answer.returncode == 0:
            status = json.loads(answer.stdout)
            if until(status["lines"]):
                return status
        assert time.monotonic() < deadline, f"no such status within {timeout} s: {answer.stdout}{answer.stderr}"
        time.sleep(0.05)
