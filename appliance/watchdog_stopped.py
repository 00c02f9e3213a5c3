"""The recorder unit's ExecStopPost: after systemd's watchdog killed the recorder, make sure the
next start can say why.

A hung line leaves its own reason before the pings stop (watchdog.Watchdog._give_up). When the
whole process stopped responding instead (stopped with SIGSTOP, frozen, starved of CPU), nothing
in it could write anything: systemd then runs this with SERVICE_RESULT=watchdog, and it leaves
that reason in the same file, for watchdog.log_last_restart.

    python -m appliance.watchdog_stopped --config /etc/hookline/hookline.toml
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import config as configmod
from .files import write_atomic
from .watchdog import REASON_FILE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    args = ap.parse_args(argv)
    if os.environ.get("SERVICE_RESULT") != "watchdog":
        return 0        # a stop, a crash, an exit: the event log already has what it needs
    path = Path(configmod.load(args.config).data_dir) / REASON_FILE
    if path.exists():
        return 0        # a hung line said why itself
    reason = {"line": None, "at": time.time(), "process": "unresponsive"}
    write_atomic(path, json.dumps(reason).encode(), mode=0o640)
    print("the recorder stopped answering systemd's watchdog; the next start logs it", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
