"""A missing capture device: a clear error event, the other lines keep recording, and the
daemon keeps retrying with backoff until the device appears."""
from __future__ import annotations

import dataclasses
import os
import time

import simtools as st
from appliance.sim import runner, scenario as scenariomod
from appliance.store import catalog, db as dbmod

SCENARIO = """
    [appliance]
    start = "2026-03-15T09:00:00Z"

    [[line]]
    id = 1
    offhook = "gpio"

    [[line]]
    id = 2
    offhook = "gpio"

    [[call]]
    line = 1
    at = 1.0
    direction = "outbound"
    talk = 4.0
    near = "tone:440@-12"
    far = "tone:1000@-12"

    [[call]]
    line = 2
    at = 1.0
    direction = "outbound"
    talk = 3.0
    near = "tone:600@-12"
    far = "silence"
"""


def _wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_missing_device_is_reported_retried_and_does_not_stop_other_lines(tmp_path):
    sc = scenariomod.load(st.write_scenario(tmp_path, name="s.toml", text=SCENARIO))
    data = tmp_path / "data"
    daemon, hw = runner.build_daemon(sc, data, realtime=False)
    # Line 2's interface is unplugged: its PCM is not defined anywhere.
    missing = "hookline_test_unplugged"
    line2 = dataclasses.replace(hw.config.line(2), capture=missing)
    daemon.config = dataclasses.replace(hw.config, lines=(hw.config.line(1), line2))
    hw.start()
    daemon.start()
    try:
        line1, line2_thread = daemon.lines
        line1.join(30)                         # line 1 plays its whole scenario regardless
        assert not line1.is_alive()
        assert daemon.disk.drain()             # its call is finalized off the capture thread
        db = dbmod.connect(data)
        rows = catalog.list_calls(db)
        assert [(r["line"], r["status"]) for r in rows] == [(1, "complete")]
        errors = [e for e in catalog.list_events(db, line=2) if e["kind"] == "device-error"]
        assert len(errors) == 1, "one event per outage, not one per retry"
        assert missing in errors[0]["detail"]["error"]
        assert line2_thread.snapshot()["state"] == "device-missing"

        # Plug it in: define the PCM (fed by the simulator's FIFO for line 2) and wait for the retry.
        plugged = tmp_path / "plugged.conf"
        plugged.write_text(f'pcm.{missing} {{ type file; slave.pcm {{ type null }}; file "/dev/null"; '
                           f'infile "{hw.dir / "line2.fifo"}"; format "raw" }}\n')
        # libasound re-reads its configuration at the next open when the file list changes.
        os.environ["ALSA_CONFIG_PATH"] += f":{plugged}"
        line2_thread.join(30)                  # backoff retries, then the scenario plays and ends
        assert not line2_thread.is_alive()
        assert daemon.disk.drain()
        kinds = [e["kind"] for e in catalog.list_events(db, line=2)]
        assert kinds.index("device-ok") > kinds.index("device-error")
        rows = catalog.list_calls(db, line=2)
        assert [r["status"] for r in rows] == ["complete"]
        db.close()
    finally:
        hw.stop()
        daemon.stop()
