"""After an unclean stop, the recorder checks that its catalog and files agree, and says so.

The recorder leaves DATA/.recorder-running on the data disk (not in /run, which a power cut
empties) while it runs and removes it when it stops cleanly. Finding it at start means the
last stop was a crash, a kill or a power cut; so does recovery finding unfinished calls. Then
the store check (store/check.py, without repair: a person decides) runs on a background
thread, since hashing every recording can take minutes and recording must not wait for it.
What it finds is logged and written as one `warning` event (code store-check), which the
dashboard and `hookline events` show.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from pathlib import Path

from .files import fsync_dir
from .store import catalog, check as checkmod, db as dbmod
from .store.kinds import Event

log = logging.getLogger("hookline.after_crash")
MARKER = ".recorder-running"
CODE = "store-check"


def mark_running(data_dir: Path) -> bool:
    """Leave the marker; returns whether the last run left one (it did not stop cleanly)."""
    path = Path(data_dir) / MARKER
    unclean = path.exists()
    with open(path, "w") as f:
        f.write(f"{os.getpid()}\n")
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)
    return unclean


def mark_stopped(data_dir: Path) -> None:
    (Path(data_dir) / MARKER).unlink(missing_ok=True)
    fsync_dir(Path(data_dir))


def clean_stop(data_dir: Path, check: threading.Thread | None) -> None:
    """The recorder stopped cleanly: no check is owed at the next start, unless the one started
    after the last unclean stop is still running (its report would be lost)."""
    if check is not None and check.is_alive():
        log.warning("the store check after the last unclean stop has not finished; it runs again at the next start")
    else:
        mark_stopped(data_dir)


def check_and_report(data_dir: Path, now: float) -> checkmod.Report:
    """Run the store check and report it: the log, and one warning event when it found anything."""
    db = dbmod.connect(data_dir)
    try:
        report = checkmod.check(db, data_dir)
        if not report.findings:
            log.info("store check after an unclean stop: the catalog and the %d recording(s) agree",
                     report.kept_calls)
            return report
        counts = dict(Counter(f.kind for f in report.findings))
        for finding in report.findings:
            log.warning("store check after an unclean stop: %s %s (call %s)", finding.kind, finding.path,
                        finding.call_id or "-")
        catalog.log_event(db, None, Event.WARNING, now, None, code=CODE, findings=counts,
                          kept_calls=report.kept_calls,
                          message=f"after an unclean stop, the store check found {len(report.findings)} thing(s) "
                                  f"to look at: {', '.join(f'{n} {kind}' for kind, n in sorted(counts.items()))}")
        return report
    finally:
        db.close()


def start_check(data_dir: Path, now: float) -> threading.Thread:
    def run() -> None:
        try:
            check_and_report(data_dir, now)
        except Exception:      # a report that failed costs the report, never the recorder
            log.exception("the store check after an unclean stop failed")
    thread = threading.Thread(target=run, name="store-check", daemon=True)
    thread.start()
    return thread
