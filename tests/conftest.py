"""Fixtures shared by the test modules (plain helper functions live in simtools.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

import simtools


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
        proc = simtools.run("simulate", scenario_path, "--data", data, "--speed", speed)
        if proc.returncode != 0:
            pytest.fail(f"hookline simulate exited {proc.returncode}:\n{proc.stderr}")
        return data
    return build
