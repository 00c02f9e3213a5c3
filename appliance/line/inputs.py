"""A line's hook and caller-ID sources (GPIO, serial monitor, modem; either may be absent):
started with the line's event queue, described for the status, and closed with the line."""
from __future__ import annotations

import logging
from typing import Any, Callable

from ..hook.base import HookEvent, HookSource

log = logging.getLogger("hookline.line")


class LineInputs:
    def __init__(self, line_id: int, hook: HookSource | None, callerid: HookSource | None) -> None:
        self.line_id = line_id
        self.sources = {name: source for name, source in (("hook", hook), ("callerid", callerid)) if source}

    def start(self, post: Callable[[HookEvent], None], failed: Callable[[str, Exception], None]) -> None:
        """Start each source posting its events; one that fails to start is reported and left out,
        so a broken hook input never stops the audio side."""
        for name, source in self.sources.items():
            try:
                source.start(post)
            except Exception as e:
                log.error("line %s: %s source failed to start: %s", self.line_id, name, e)
                failed(name, e)

    def status(self) -> dict[str, dict[str, Any]]:
        return {name: {"device": getattr(source, "port", None) or getattr(getattr(source, "cfg", None), "port", None),
                       "healthy": getattr(source, "healthy", None)}
                for name, source in self.sources.items()}

    def close(self) -> None:
        for source in self.sources.values():
            source.close()
