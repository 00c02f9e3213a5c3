"""Small helpers shared by tests: run the real `hookline` command, write scenario files."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

HOOKLINE = [sys.executable, "-m", "appliance.cli"]


def hookline(*args: str, check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([*HOOKLINE, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"hookline {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def calls(data: Path) -> list[dict]:
    return json.loads(hookline("calls", "--data", data, "--json").stdout)


def events(data: Path) -> list[dict]:
    return json.loads(hookline("events", "--data", data, "--json").stdout)


def write_scenario(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path
