"""How `hookline export` shows its progress: a bar redrawn in place on a terminal (files, bytes,
time left), plain lines otherwise (a log, a pipe), nothing with --json."""
from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from ..present.words import clock, size

REDRAW_S = 0.2


class Bar:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.files = self.total_bytes = self.done_files = self.done_bytes = 0
        self.began = self.drawn = 0.0
        self.open_line = False          # a bar is on screen with no newline after it

    def start(self, files: int, total_bytes: int) -> None:
        self.files, self.total_bytes, self.began = files, total_bytes, time.monotonic()
        self._draw(force=True)

    def advance(self, n: int) -> None:
        self.done_bytes += n
        self._draw()

    def file_done(self, name: str) -> None:
        self.done_files += 1
        self._draw(force=True)
        if self.done_files == self.files:
            self.close()

    def close(self) -> None:
        """End the bar's line (a job that stopped early leaves it open), before the last message."""
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False

    def left(self) -> str:
        spent = time.monotonic() - self.began
        if not self.done_bytes or spent <= 0:
            return "time left not known yet"
        rate = self.done_bytes / spent
        return f"{clock(max(0.0, (self.total_bytes - self.done_bytes) / rate))} left"

    def line(self, width: int) -> str:
        share = self.done_bytes / self.total_bytes if self.total_bytes else 1.0
        text = (f" {self.done_files}/{self.files} files, {size(self.done_bytes) or '0 B'} of "
                f"{size(self.total_bytes) or '0 B'}, {self.left()}")
        room = max(10, width - len(text) - 3)
        filled = int(room * min(1.0, share))
        return f"[{'#' * filled}{'.' * (room - filled)}]{text}"

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.drawn < REDRAW_S:
            return
        self.drawn = now
        width = shutil.get_terminal_size((80, 24)).columns
        self.stream.write("\r" + self.line(width)[: width - 1])
        self.stream.flush()
        self.open_line = True


class Lines:
    """One line per file copied, for logs."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.files = self.done = 0

    def start(self, files: int, total_bytes: int) -> None:
        self.files = files
        self.stream.write(f"exporting {files} recording(s), {size(total_bytes) or '0 B'}\n")

    def advance(self, n: int) -> None:
        pass

    def file_done(self, name: str) -> None:
        self.done += 1
        self.stream.write(f"copied and verified {self.done}/{self.files}: {name}\n")
        self.stream.flush()

    def close(self) -> None:
        pass
