"""The simulator's unpluggable capture PCM: an ALSA external plugin built from alsa/unpluggable_pcm.c.

ALSA's `file` plugin cannot fail a read, so a line with an `audio-gone` fault gets this PCM
instead: it fails open while its FIFO is missing and fails reads with -ENODEV once the
simulator closes the FIFO, as a USB interface does when pulled out. It is compiled on first
use (gcc and libasound2-dev, which `make` installs) into the user's cache, keyed by the
source's hash so an edited source is rebuilt.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from .scenario import ScenarioError

SOURCE = Path(__file__).with_name("alsa") / "unpluggable_pcm.c"
PCM_TYPE = "hookline_unpluggable"


def library() -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hookline" / f"alsa-{digest}"
    lib = cache / f"libasound_module_pcm_{PCM_TYPE}.so"
    if lib.exists():
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{lib.name}.{os.getpid()}"
    # -DPIC: alsa-lib's plugin macros only export the versioned symbol libasound looks for when it is set.
    cmd = [os.environ.get("CC", "gcc"), "-shared", "-fPIC", "-DPIC", "-O2", "-o", str(tmp), str(SOURCE), "-lasound"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise ScenarioError("fault", "an audio-gone fault needs a C compiler to build the simulated interface",
                            "install gcc and libasound2-dev (make test does)") from None
    except subprocess.CalledProcessError as e:
        detail = " ".join(e.stderr.strip().splitlines()[-2:])
        raise ScenarioError("fault", f"building the simulated interface failed: {detail}",
                            "install libasound2-dev (make test does)") from None
    os.replace(tmp, lib)   # atomic: a parallel run never loads a half-written library
    return lib


def alsa_config(capture_pcms: dict[str, Path], rate: int, quote) -> list[str]:
    """ALSA config lines: the plugin type, and a stereo S16_LE capture PCM per (name, fifo)."""
    if not capture_pcms:
        return []
    return [f"pcm_type.{PCM_TYPE} {{ lib {quote(library())} }}"] + [
        f"pcm.{name} {{ type {PCM_TYPE}; path {quote(fifo)}; rate {rate}; channels 2 }}"
        for name, fifo in capture_pcms.items()]
