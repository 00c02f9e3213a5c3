"""Hook state (and rings) from a line-monitor board that prints a line per change."""
from __future__ import annotations

import logging
import re

from ...config import LineMonitorHook
from .port import _SerialSource

log = logging.getLogger("hookline.serial")


class LineMonitorSource(_SerialSource):
    """Hook state (and rings) from a board that prints a line per change.

    Each line is matched (re.search) against offhook_pattern, onhook_pattern, ring_pattern, in
    that order; the first match posts "offhook", "onhook" or "ring". Lines matching nothing are
    logged. Also posts "device-ok" on every (re)open, "device-error" once per outage, and
    "serial-garbage"."""

    kind = "line monitor"

    def __init__(self, cfg: LineMonitorHook, *, backoff_s: float = 1.0, backoff_max_s: float = 30.0) -> None:
        super().__init__(cfg.port, cfg.baud, backoff_s=backoff_s, backoff_max_s=backoff_max_s)
        self.cfg = cfg
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for kind, name in (("offhook", "offhook_pattern"), ("onhook", "onhook_pattern"),
                           ("ring", "ring_pattern")):
            pattern = getattr(cfg, name)
            if pattern is None:
                continue
            try:
                self._patterns.append((kind, re.compile(pattern)))
            except re.error as e:
                raise ValueError(f"line monitor on {cfg.port}: {name} {pattern!r} is not a valid "
                                 f"regular expression: {e}") from None
        self._unmatched = 0
        self._unmatched_logged: float | None = None

    def _on_line(self, text: str, now: float) -> bool:
        for kind, pattern in self._patterns:
            if pattern.search(text):
                self._emit(kind)
                return False
        self._unmatched += 1
        if self._unmatched_logged is None or now - self._unmatched_logged >= self.GARBAGE_REPORT_S:
            log.info("%s: %d line(s) matched no pattern, e.g. %r (check offhook_pattern/onhook_pattern)",
                     self.port, self._unmatched, text)
            self._unmatched, self._unmatched_logged = 0, now
        return False
