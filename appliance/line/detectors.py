"""What a line hears in its own audio, as hook events: voice activation on a VOX line, the
watchdog that stands in for a silent serial hook monitor, and touch-tones on the office leg.
The events go to the line's queue like any source's, so they are applied in order with them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..audio.dtmf import DtmfDecoder
from ..hook.base import HookEvent
from ..hook.vox import VoxDetector, VoxSettings
from .hook_state import MonitorWatchdog


def vox_settings(settings: dict[str, Any]) -> VoxSettings:
    start = settings["vox_start_dbfs"]
    return VoxSettings(start_dbfs=start, stop_dbfs=min(settings["vox_stop_dbfs"], start - 1.0),
                       hang_s=settings["vox_hang_s"], min_burst_ms=settings["vox_min_burst_ms"])


class Detectors:
    def __init__(self, sample_rate: int, offhook_source: str, settings: dict[str, Any]) -> None:
        vox = vox_settings(settings)
        self.vox = VoxDetector(sample_rate, vox) if offhook_source == "vox" else None
        self.watchdog = MonitorWatchdog(sample_rate, vox) if offhook_source == "serial" else None
        self.dtmf = DtmfDecoder(sample_rate)

    def update(self, settings: dict[str, Any]) -> None:
        for detector in (self.vox, self.watchdog):
            if detector:
                detector.update(vox_settings(settings))

    def feed(self, frames: np.ndarray, first: int, *, monitor_healthy: bool,
             offhook: bool) -> tuple[list[HookEvent], str | None]:
        """Frames first.. of the line: (hook events, a watchdog warning to log or None)."""
        events = []
        if self.vox:
            events += [HookEvent(kind, frame, {"source": "vox"}) for kind, frame in self.vox.feed(frames, first)]
        warning = None
        if self.watchdog:
            stand_in, warning = self.watchdog.feed(frames, first, healthy=monitor_healthy, offhook=offhook)
            events += [HookEvent(kind, frame, {"source": "vox-fallback"}) for kind, frame in stand_in]
        events += [HookEvent("digit", frame, {"digit": digit}) for digit, frame in self.dtmf.feed(frames[:, 0], first)]
        events += [HookEvent("digit-end", end, {"digit": digit}) for digit, end in self.dtmf.take_releases()]
        return events, warning
