"""A running daemon picks up a settings change within a second, without a restart."""
from __future__ import annotations

import json
import time

import pytest

import simtools as st
from appliance.store import db as dbmod, settings

SCENARIO = """
    [appliance]
    start = "2026-03-15T09:00:00Z"

    [[line]]
    id = 1
    offhook = "gpio"

    [[call]]
    line = 1
    at = 0.3
    direction = "outbound"
    talk = 2.5
    near = "tone:440@-12"
    far = "silence"

    [[call]]
    line = 1
    at = 4.5
    direction = "outbound"
    talk = 2.5
    near = "tone:440@-12"
    far = "silence"
"""


def _stream_s(data) -> float:
    try:
        return json.loads((data / "run" / "status.json").read_text())["lines"][0]["stream_s"]
    except (OSError, ValueError, KeyError, IndexError):
        return 0.0


@pytest.mark.slow
def test_turning_recording_off_takes_effect_within_a_second(tmp_path):
    data = tmp_path / "data"
    scenario = st.write_scenario(tmp_path, name="s.toml", text=SCENARIO)
    proc = st.start("simulate", scenario, "--data", data, "--speed", "realtime")
    try:
        deadline = time.monotonic() + 20
        while _stream_s(data) < 2.0:            # the first call is being recorded
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        db = dbmod.connect(data)                # as the web page will: a row in SQLite, no signal
        settings.set_value(db, "recording", "off", line=1)
        db.close()
        # status.json is at most a second old, so the stream is now below 3.5 s: the second
        # call goes off-hook at 4.5 s, more than a second after the change.
        assert _stream_s(data) < 3.5
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    first, second = st.calls(data)
    assert first["status"] == "complete"            # already recording when the change came
    assert second["status"] == "discarded" and second["path"] is None
    reasons = [e["detail"].get("reason") for e in st.events(data) if e["call_id"] == second["id"]]
    assert "recording is off for this line" in reasons
