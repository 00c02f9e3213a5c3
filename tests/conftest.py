"""Fixtures shared by the test modules (plain helper functions live in simtools.py), and how the
suite is spread over pytest-xdist's workers (`make test` runs `pytest -n auto --dist loadgroup`)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

import simtools

# About a third of the suite's wall time is spent waiting, not computing: real-time simulations,
# a daemon polled until it gets going, slow HTTP clients. Two workers per core overlap that
# waiting with other tests' work; more than 8 only adds start-up cost and memory (each worker
# may run a daemon, a web server and Chromium) for a suite whose longest test is ~40 s.
WORKERS_PER_CORE = 2
MAX_WORKERS = 8

# tests/appliance boots the built image under qemu (root, minutes): only `make appliance-test`.
if not os.environ.get("HOOKLINE_APPLIANCE_TEST"):
    collect_ignore = ["appliance"]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """What `-n auto` means for this suite (PYTEST_XDIST_AUTO_NUM_WORKERS still overrides it)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(WORKERS_PER_CORE * cores, MAX_WORKERS))


def _uses_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else ()
    return any(fixturedef.scope == "module" for chain in defs for fixturedef in chain)


@pytest.hookimpl(tryfirst=True)    # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist (--dist loadgroup):
    - the tests of a module that share a module-scoped fixture (a simulated data folder, a web
      server, a browser) go to one worker together, so that fixture is built once, not once
      per worker;
    - tests marked `slow` are handed out first, so no worker starts a 40 s test near the end
      while the others sit idle. A serial run keeps the files' order."""
    for item in items:
        if _uses_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.path.stem))   # reports show it as "...@test_web_page"
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)   # stable: files' order within


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


# Logged-in HTTP clients for a module whose `site` fixture is a running web server (webtools).
@pytest.fixture(scope="module")
def listener(site):
    import webtools
    return webtools.login(site.base, "listener")


@pytest.fixture(scope="module")
def manager(site):
    import webtools
    return webtools.login(site.base, "manager")
