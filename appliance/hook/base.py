"""What hook sources tell a line: the events, and the small interface every source has.

A source runs in its own context (gpiozero callbacks, a serial reader thread) and only posts
events; the line's own thread applies them, so a line's state is touched by one thread only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol


@dataclass(frozen=True)
class HookEvent:
    kind: str                        # "offhook" | "onhook" | "ring" | "callerid" | ...
    frame: int | None = None         # stream position it happened at; None: when posted
    detail: dict[str, Any] = field(default_factory=dict)


Post = Callable[[HookEvent], None]


class HookSource(Protocol):
    def start(self, post: Post) -> None:
        """Begin reporting; post the current hook state at once if the source knows it."""

    def close(self) -> None:
        ...
