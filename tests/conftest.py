"""Fixtures shared by the test modules (plain helper functions live in helpers.py and simtools.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest


def _hookline_command() -> list[str]:
    exe = Path(sys.executable).with_name("hookline")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "appliance.cli"]


@pytest.fixture(scope="session")
def simulated_data(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Factory: `simulated_data(SCENARIO_TOML_TEXT)` writes the scenario, runs
    `hookline simulate SCENARIO --data DIR` on it (the real daemon on simulated hardware, in a
    subprocess with a clean ALSA/gpiozero environment and TZ=UTC) and returns DIR, a fresh data
    folder holding the catalog, the recordings and run/status.json."""
    def build(scenario: str, speed: str = "max", name: str = "sim") -> Path:
        base = tmp_path_factory.mktemp(name)
        scenario_path = base / "scenario.toml"
        scenario_path.write_text(scenario)
        data = base / "data"
        env = {k: v for k, v in os.environ.items()
               if k not in ("ALSA_CONFIG_PATH", "GPIOZERO_PIN_FACTORY", "XDG_CONFIG_HOME")}
        env["TZ"] = "UTC"
        proc = subprocess.run([*_hookline_command(), "simulate", str(scenario_path), "--data", str(data),
                               "--speed", speed], capture_output=True, text=True, env=env, timeout=120)
        if proc.returncode != 0:
            pytest.fail(f"hookline simulate exited {proc.returncode}:\n{proc.stderr}")
        return data
    return build
