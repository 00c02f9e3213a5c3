"""`hookline ARGS` with faults injected from outside the shipped code, for tests/test_export.py:

    python tests/export_faults.py [--batch-files N] [--kill-after-bytes N] [--kill-at-journal K]
                                  [--kill-after-journal K] -- ARGS...

--batch-files N        the copy runs at most N files ahead of what is verified (batches.py's
                       BATCH_FILES; 1: one file at a time, each journaled before the next starts);
--kill-after-bytes N   SIGKILL once N bytes of recordings were written to the target;
--kill-at-journal K    SIGKILL just before the K-th group is journaled (its files written,
                       flushed and verified, still under their temporary names);
--kill-after-journal K SIGKILL just after the K-th group was journaled, before any rename.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

from appliance import cli
from appliance.export import batches, stick


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser()
    for flag in ("--batch-files", "--kill-after-bytes", "--kill-at-journal", "--kill-after-journal"):
        ap.add_argument(flag, type=int)
    ap.add_argument("args", nargs=argparse.REMAINDER)
    opts = ap.parse_args()
    if opts.batch_files:
        batches.BATCH_FILES = opts.batch_files
    if opts.kill_after_bytes is not None:
        copy_all, written = batches.copy_all, [0]

        def counting(data_dir, root, items, on_bytes, sink):
            def on_bytes_then_die(n: int) -> None:
                on_bytes(n)
                written[0] += n
                if written[0] >= opts.kill_after_bytes:
                    _die()
            copy_all(data_dir, root, items, on_bytes_then_die, sink)
        batches.copy_all = counting
    append, journaled = stick.append_journal, [0]

    def journal(root, entries):
        journaled[0] += 1
        if journaled[0] == opts.kill_at_journal:
            _die()
        append(root, entries)
        if journaled[0] == opts.kill_after_journal:
            _die()
    stick.append_journal = journal
    sys.argv = ["hookline", *[a for a in opts.args if a != "--"]]
    cli.main()


if __name__ == "__main__":
    main()
