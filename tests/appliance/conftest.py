"""The virtual box for `make appliance-test`: the built amd64 image, booted once under qemu.

Needs root (qemu's disk copy, debugfs) and build/hookline-amd64.img (`make image TARGET=amd64`);
HOOKLINE_IMAGE names another image. The box's console logs, the stick and the figures measured
are kept in build/appliance-test/.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from disk import prepare
from vm import Box

REPO = Path(__file__).resolve().parents[2]
NEAR_HZ, FAR_HZ, RATE = 440.0, 1000.0, 8000


def tone_file(path: Path, seconds: float = 120.0) -> Path:
    """Both legs at once: the office handset (left) 440 Hz, the far end (right) 1000 Hz, -12 dBFS,
    in 0.35 s bursts with 0.15 s gaps, as speech comes: a steady tone already playing when the
    recorder starts is the line's noise floor to VOX, never a call."""
    t = np.arange(int(seconds * RATE)) / RATE
    bursts = (t % 0.5) < 0.35
    legs = np.stack([np.sin(2 * np.pi * NEAR_HZ * t), np.sin(2 * np.pi * FAR_HZ * t)], axis=1) * 0.25
    legs *= bursts[:, None]
    soundfile.write(str(path), legs, RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def work() -> Path:
    path = REPO / "build" / "appliance-test"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def figures(work: Path):
    """What the run measured, for the README: written to build/appliance-test/figures.json."""
    found: dict = {}
    yield found
    (work / "figures.json").write_text(json.dumps(found, indent=2) + "\n")
    print("\nappliance-test figures:", json.dumps(found, indent=2))


@pytest.fixture(scope="session")
def box(work: Path, figures: dict):
    image = Path(os.environ.get("HOOKLINE_IMAGE", REPO / "build" / "hookline-amd64.img"))
    if not image.exists():
        pytest.fail(f"{image} is missing: run `make image TARGET=amd64` first")
    disk = prepare(image, work, tone_file(work / "tone.wav"))
    vm = Box(disk, work)
    figures["boot_to_agent_s"] = round(vm.boot(), 1)
    yield vm
    vm.shutdown()
