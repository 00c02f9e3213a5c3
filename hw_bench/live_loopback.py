"""A real-time ALSA capture device without a sound card, for hw_bench/bench_live.py.

A private PulseAudio server (its own socket in a temporary folder, nothing loaded but the native
protocol and one null sink at the recorder's rate) paces audio by its clock as a sound card does.
Two ALSA PCMs of `type pulse` (libasound2-plugins) reach it: PLAY_PCM plays into the sink and
LINE_PCM captures the sink's monitor, so what is played into PLAY_PCM is what every reader of
LINE_PCM hears, in real time, however many readers there are.

The signal played is a two-leg call rendered by call_signal(): the office (near, left) dials a
number and the two parties take turns speaking, over a line hiss on both legs.
"""
from __future__ import annotations

import glob
import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from appliance.audio import tones
from appliance.sim.devices import use_alsa_config

SINK = "hookline_bench"
PLAY_PCM = "hookline_bench_play"
LINE_PCM = "hookline_bench_line"
START_TIMEOUT_S = 10.0
CLIENTS_PER_SERVER = 60      # PulseAudio refuses a 65th client; the player is one too

CYCLE_S = 10.0                 # the call's pattern repeats this often
DIALED = "5551234"             # what the office dials at the start of every cycle
DTMF_AT_S, DTMF_ON_S, DTMF_OFF_S, DTMF_DBFS = 0.2, 0.07, 0.07, -10.0
# Who speaks when within a cycle: (leg, start s, end s); leg 0 near (office), 1 far (line).
TURNS = ((0, 1.5, 3.8), (1, 4.0, 6.3), (0, 6.5, 8.0), (1, 8.2, 9.8))
SPEECH_DBFS = -20.0            # RMS while speaking
HISS_DBFS = -70.0              # line hiss on both legs (the simulator's default line noise)

# What the loopback needs, and the Debian package that has it.
NEEDS = (("pulseaudio", "pulseaudio"), ("aplay", "alsa-utils"), ("arecord", "alsa-utils"), ("lame", "lame"))
PULSE_PLUGIN = "libasound_module_pcm_pulse.so"
PLUGIN_PACKAGE = "libasound2-plugins"


def missing_packages() -> list[str]:
    """Debian packages whose programs or ALSA plugin are not here (empty: all present)."""
    missing = [package for tool, package in NEEDS if shutil.which(tool) is None]
    if not glob.glob(f"/usr/lib/*/alsa-lib/{PULSE_PLUGIN}") + glob.glob(f"/usr/lib/alsa-lib/{PULSE_PLUGIN}"):
        missing.append(PLUGIN_PACKAGE)
    return sorted(set(missing))


def pinned(cpus: set[int] | None):
    """A preexec_fn that runs the child on `cpus` (None: anywhere)."""
    return None if not cpus else (lambda: os.sched_setaffinity(0, cpus))


class PulseLoopback:
    """The private servers and their PCMs; ALSA_CONFIG_PATH points this process and its children
    at them while they run. A PulseAudio server takes at most 64 clients (each reader of a PCM is
    one), so more lines than CLIENTS_PER_SERVER get more servers, each playing the same signal:
    line_pcm(i) is the PCM for the i-th reader."""

    def __init__(self, folder: Path, rate: int, cpus: set[int] | None = None, readers: int = 1) -> None:
        self.folder = folder
        self.rate = rate
        self.cpus = cpus                # where the servers and the players run (away from what is measured)
        self.count = max(1, math.ceil(readers / CLIENTS_PER_SERVER))
        self.servers: list[subprocess.Popen] = []
        self.players: list[subprocess.Popen] = []

    @staticmethod
    def line_pcm(reader: int) -> str:
        k = reader // CLIENTS_PER_SERVER
        return LINE_PCM if k == 0 else f"{LINE_PCM}{k}"

    @staticmethod
    def _play_pcm(k: int) -> str:
        return PLAY_PCM if k == 0 else f"{PLAY_PCM}{k}"

    def start(self) -> None:
        self.log = open(self.folder / "pulseaudio.log", "w")
        conf = []
        for k in range(self.count):
            home = self.folder / f"server{k}"
            home.mkdir()
            socket = home / "native"
            env = {**os.environ, "HOME": str(home), "PULSE_RUNTIME_PATH": str(home / "run"),
                   "PULSE_STATE_PATH": str(home / "state")}
            self.servers.append(subprocess.Popen(
                ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no",
                 "--realtime=no", "--high-priority=no", "--log-target=stderr",
                 "-L", f"module-native-protocol-unix socket={socket} auth-anonymous=1",
                 "-L", f"module-null-sink sink_name={SINK} rate={self.rate} channels=2 format=s16le"],
                env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=pinned(self.cpus)))
            deadline = time.monotonic() + START_TIMEOUT_S
            while not socket.exists():
                if self.servers[-1].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pulseaudio did not start: see {self.folder / 'pulseaudio.log'}")
                time.sleep(0.05)
            server = f'"unix:{socket}"'
            conf.append(f'pcm.{self._play_pcm(k)} {{ type pulse; server {server}; device "{SINK}" }}\n'
                        f'pcm.{self.line_pcm(k * CLIENTS_PER_SERVER)} {{ type pulse; server {server}; '
                        f'device "{SINK}.monitor" }}\n')
        path = self.folder / "asound.conf"
        path.write_text("".join(conf))
        use_alsa_config(path)

    def server_cpu_s(self) -> float:
        """CPU seconds the servers have used so far."""
        return sum(task_cpu_s(server.pid) for server in self.servers)

    def play(self, raw: Path) -> None:
        """Play raw S16_LE stereo into every server's sink (until its end or stop_playing())."""
        self.stop_playing()
        for k in range(self.count):
            self.players.append(subprocess.Popen(
                ["aplay", "-q", "-D", self._play_pcm(k), "-f", "S16_LE", "-c", "2", "-r", str(self.rate),
                 "-t", "raw", str(raw)], stderr=subprocess.DEVNULL, preexec_fn=pinned(self.cpus)))
        time.sleep(0.3)   # the monitors carry the signal before anyone starts listening
        for player in self.players:
            if player.poll() is not None:
                raise RuntimeError(f"aplay into PulseAudio failed (exit {player.returncode})")

    def stop_playing(self) -> None:
        for player in self.players:
            player.terminate()
            player.wait()
        self.players = []

    def stop(self) -> None:
        self.stop_playing()
        for server in self.servers:
            server.terminate()
            server.wait()
        if getattr(self, "log", None):
            self.log.close()
        self.servers = []


def task_cpu_s(pid: int | str) -> float:
    """CPU seconds run so far by every thread of a process (ns-exact, unlike getrusage's ticks)."""
    total = 0
    for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):   # a thread that just ended
            pass
    return total / 1e9


# -- the signal ---------------------------------------------------------------------------------
def _speech(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Voiced-speech-like sound, RMS 1: harmonics of a gliding pitch shaped by two formants that move
    every syllable (250 ms), with a syllabic envelope."""
    t = np.arange(n) / rate
    f0 = rng.uniform(100, 220) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    syllable = np.minimum((t / 0.25).astype(int), math.ceil(n / rate / 0.25))
    f1 = rng.uniform(300, 850, syllable.max() + 1)[syllable]
    f2 = rng.uniform(900, 2300, syllable.max() + 1)[syllable]
    out = np.zeros(n)
    for k in range(1, int(3400 / 100)):
        fk = k * f0
        gain = (1 + 3 * np.exp(-((fk - f1) / 150) ** 2) + 2 * np.exp(-((fk - f2) / 200) ** 2)) / k
        out += np.where(fk < 3400, gain, 0.0) * np.sin(k * phase)
    out *= 0.2 + 0.8 * np.abs(np.sin(np.pi * t / 0.25))
    return out / np.sqrt(np.mean(out ** 2))


def call_cycle(rate: int, seed: int = 1) -> np.ndarray:
    """One CYCLE_S of the call as float (n, 2), full scale 1.0: near leg left, far leg right."""
    rng = np.random.default_rng(seed)
    n = int(CYCLE_S * rate)
    out = rng.standard_normal((n, 2)) * tones.amplitude(HISS_DBFS)
    at = DTMF_AT_S
    for digit in DIALED:
        first, count = int(at * rate), int(DTMF_ON_S * rate)
        out[first:first + count, 0] += tones.dtmf(digit, DTMF_DBFS, 0, count, rate)
        at += DTMF_ON_S + DTMF_OFF_S
    for leg, start, end in TURNS:
        first, last = int(start * rate), int(end * rate)
        out[first:last, leg] += _speech(last - first, rate, rng) * 10 ** (SPEECH_DBFS / 20)
    return out


def render_call(path: Path, seconds: float, rate: int) -> tuple[float, float]:
    """Write `seconds` of the repeating call as raw S16_LE stereo; return each leg's RMS in dBFS
    (as bench_recorder measures a decoded file: 0 dBFS = full-scale RMS)."""
    cycle = np.clip(np.round(call_cycle(rate) * 32767), -32768, 32767).astype("<i2")
    repeats = math.ceil(seconds / CYCLE_S)
    path.write_bytes(np.tile(cycle, (repeats, 1)).tobytes())
    power = np.mean(np.square(cycle.astype(np.float64)), axis=0)
    return tuple(10 * math.log10(p) - 20 * math.log10(32768) for p in power)
