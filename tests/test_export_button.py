"""The box's export button and LED (appliance/export/button.py) on gpiozero mock pins, driving the
recorder's real export runner onto a USB stick made of a real ext4 volume under the test's mount
root. What the owner notices: the LED blinking while copying and steady once the stick is safe to
remove (until it is pulled out), fast flashes on an error, the files on the stick, a long press
that cancels mid-file and leaves nothing half-written, and a second press that changes nothing.
Also the `[export]` keys of hookline.toml and the runner inside a running `hookline run`."""
from __future__ import annotations

import json
import re
import signal
import statistics
import time

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

import exporttools as et
import simtools as st
from appliance import config as configmod, control
from appliance.config import ExportConfig
from appliance.export import button as buttonmod, runner as runnermod, stick
from appliance.store import catalog, db as dbmod
from appliance.store.kinds import Event
from sticktools import tmpfs_stick

pytestmark = pytest.mark.xdist_group("export-runner")

BUTTON, LED = 20, 21
LONG_PRESS_S = 0.3


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return et.recorded_box(tmp_path_factory.mktemp("button"))


class Box:
    def __init__(self, data, rows, root, pins: MockFactory, button: buttonmod.ExportButton) -> None:
        self.data, self.rows, self.root, self.pins, self.button = data, rows, root, pins, button
        self.runner = button.runner
        self.led = pins.pin(LED)

    def press(self, hold_s: float = 0.0) -> None:
        """Press and release the button (pulled up: pressed is low); a long press holds it until
        the runner has seen it."""
        pin = self.pins.pin(BUTTON)
        pin.drive_low()
        if hold_s:
            et.wait_for(lambda: self.button._held, timeout=hold_s + 10)
        pin.drive_high()

    def state(self) -> str:
        return self.runner.status()["state"]

    def finished(self) -> dict:
        return et.wait_for(lambda: (s := self.runner.status())["state"] != "copying" and s)

    def changes(self) -> list[tuple[float, bool]]:
        """The LED's changes since the test began: (seconds the previous level lasted, new level)."""
        return [(s.timestamp, bool(s.state)) for s in self.led.states[1:]]

    def events(self) -> list[dict]:
        db = dbmod.connect(self.data)
        try:
            return [e["detail"] for e in catalog.list_events(db) if e["kind"] == Event.EXPORT]
        finally:
            db.close()


@pytest.fixture
def box(template, tmp_path):
    data = et.copy_box(template[0], tmp_path / "data")
    root = tmp_path / "media"
    root.mkdir()
    before, Device.pin_factory = Device.pin_factory, MockFactory()
    runner = runnermod.ExportRunner(data, root, seal_path=data / "no-seal.json")
    cfg = ExportConfig(mount_root=root, button=BUTTON, led=LED, long_press_s=LONG_PRESS_S)
    button = buttonmod.ExportButton(cfg, runner, flash_for_s=0.6, poll_s=0.05)
    button.start()
    try:
        yield Box(data, template[1], root, Device.pin_factory, button)
    finally:
        runner.stop()
        button.close()
        Device.pin_factory.close()
        Device.pin_factory = before


def blinks(changes: list[tuple[float, bool]], lo: float, hi: float) -> int:
    """How many of the LED's levels (after the first) lasted between lo and hi seconds."""
    return sum(1 for lasted, _ in changes[1:] if lo <= lasted <= hi)


def test_a_press_copies_everything_new_blinking_then_steady_until_the_stick_is_pulled(box):
    trickle = et.Trickle(box.data, box.rows[3])        # holds the copy mid-way, so the blinking shows
    try:
        with et.usb_stick(box.root) as usb:
            box.led.clear_states()
            box.press()
            et.wait_for(lambda: len(box.changes()) >= 4)            # on, off, on, off: blinking
            assert blinks(box.changes(), 0.35, 0.9) >= 2, box.changes()
            assert box.state() == "copying"
            trickle.finish()
            status = box.finished()
            assert status["state"] == "done", status
            assert status["message"].endswith("The stick OFFICE is safe to remove.")
            et.wait_for(lambda: box.led.state)            # the LED follows right after: steady
            assert not usb.point.is_mount()
            time.sleep(1.2)            # an observation window, two blink periods long: it stays on
            assert box.led.state and box.changes()[-1][1] is True
            usb.pull()
            et.wait_for(lambda: not box.led.state)
            assert box.changes()[-1][0] >= 1.2, "on from the end of the copy until the stick was pulled"
            with usb.mounted_again() as hookline:
                assert len(list(hookline.rglob("*.mp3"))) == 6 and not (hookline / stick.INCOMPLETE).exists()
    finally:
        trickle.close()
    assert [(e["outcome"], e["via"]) for e in box.events()] == [("started", "button"), ("done", "button")]


def test_a_long_press_cancels_mid_file_and_a_second_press_changes_nothing(box):
    trickle = et.Trickle(box.data, box.rows[2])
    try:
        with et.usb_stick(box.root) as usb:
            box.press()
            trickle.feed()
            partial = et.wait_for(lambda: list(usb.point.rglob("*.partial")))
            box.press()                                       # again, while it runs: refused, still blinking
            assert box.state() == "copying"
            blinking = len(box.changes())
            et.wait_for(lambda: len(box.changes()) >= blinking + 2)
            box.press(hold_s=LONG_PRESS_S)                    # a long press: cancel
            trickle.finish()
            status = box.finished()
            assert status["state"] == "cancelled" and status["result"]["exit_code"] == 6, status
            et.wait_for(lambda: not box.led.state)        # the LED follows right after: off
            hookline = usb.point / "Hookline"
            assert not partial[0].exists() and not list(usb.point.rglob("*.partial"))
            assert (hookline / stick.INCOMPLETE).exists() and len(list(hookline.rglob("*.mp3"))) == 2
    finally:
        trickle.close()
    events = box.events()
    assert [(e["outcome"], e.get("code")) for e in events] == [("started", None), ("refused", "busy"),
                                                              ("cancelled", None)]
    assert events[1]["message"] == "An export is already running: wait for it to finish, or cancel it."


def flashed(box) -> list[tuple[float, bool]]:
    """Wait for a fast flash to end, and the LED's changes since the last long level (the
    copying's 0.5 s blink, or the quiet before the press). A flash is told by its levels' median,
    so a busy machine that stretches one or two 0.1 s sleeps does not turn it into a blink."""
    def tail() -> list[tuple[float, bool]]:
        changes = box.changes()
        longs = [i for i, (lasted, _) in enumerate(changes) if lasted >= 0.45]
        return changes[longs[-1] + 1:] if longs else changes[1:]
    et.wait_for(lambda: len(tail()) >= 5 and not box.led.state)
    return tail()


def fast(changes: list[tuple[float, bool]]) -> bool:
    return len(changes) >= 5 and statistics.median(lasted for lasted, _ in changes) < 0.3


def test_errors_flash_fast_for_a_while_and_say_why(box):
    box.led.clear_states()
    box.press()                                            # no stick
    assert len(flashed(box)) == 5 and fast(flashed(box))    # 3 flashes in 0.6 s, then off
    with tmpfs_stick(box.root, "RAMDISK"):                  # a filesystem the box does not write
        box.led.clear_states()
        box.press()
        assert fast(flashed(box))
    (box.data / box.rows[0]["path"]).write_bytes(b"changed behind the catalog's back")
    with et.usb_stick(box.root):
        box.led.clear_states()
        box.press()
        status = box.finished()
        assert status["state"] == "error" and status["result"]["exit_code"] == 1
        assert status["message"].startswith("1 recording no longer matches the checksum the box holds and was not "
                                            "exported (see the export's log); 5 recordings copied and verified")
        assert fast(flashed(box))
    said = [(e["outcome"], e.get("code"), e["message"][:40]) for e in box.events()]
    assert said == [("refused", "no-stick", "No USB stick is plugged in: plug one int"),
                    ("refused", "stick-problem", "The stick's filesystem is tmpfs, which t"),
                    ("started", None, "An export to the stick OFFICE started."),
                    ("error", None, "1 recording no longer matches the checks")]


# -- the config --------------------------------------------------------------------------------------
GOOD = """
[[line]]
id = 1
capture = "line1"
[line.offhook]
pin = 17
[line.pause]
button = 5
led = 6
"""


def test_the_export_button_is_read_from_the_config():
    cfg = configmod.parse(configmod.tomllib.loads(GOOD + "[export]\nbutton = 20\nled = 21\npull = \"down\"\n"
                                                         "long_press_s = 3\n")).export
    assert (cfg.button, cfg.led, cfg.pull, cfg.long_press_s) == (20, 21, "down", 3.0)
    plain = configmod.parse(configmod.tomllib.loads(GOOD)).export
    assert (plain.button, plain.led, plain.pull, plain.long_press_s) == (None, None, "up", 2.0)


@pytest.mark.parametrize("table, message", [
    ("button = 17", "export.button: GPIO17 is already used"),
    ("led = 6", "export.led: GPIO6 is already used"),
    ("button = 20\nled = 20", "export.led: GPIO20 is already used"),
    ("button = 28", "export.button: 28 is out of range"),
    ("button = 20\npull = \"sideways\"", "export.pull: 'sideways' is not allowed"),
    ("long_press_s = 0", "export.long_press_s: 0 is out of range"),
    ("leds = 21", "export.leds: unknown key (did you mean 'led'?)"),
])
def test_the_export_button_config_is_checked(table, message):
    with pytest.raises(configmod.ConfigError, match=re.escape(message)):
        configmod.parse(configmod.tomllib.loads(GOOD + "[export]\n" + table + "\n"))


def test_the_example_config_s_export_table_works_once_uncommented():
    text = (st.REPO / "firmware_config" / "hookline.toml").read_text()
    start = text.index("[export]\n")
    block = text[start:text.index("\n\n", start)]
    opened = text.replace(block, "\n".join(re.sub(r"^# (\w+ = )", r"\1", line) for line in block.splitlines()))
    opened = opened.replace("# [line.pause]\n# button = 5 ", "[line.pause]\nbutton = 5 ")     # and a pause button
    cfg = configmod.parse(configmod.tomllib.loads(opened)).export
    assert (cfg.button, cfg.led, cfg.pull, cfg.long_press_s) == (16, 26, "up", 2.0)


# -- inside the recorder -----------------------------------------------------------------------------
BOX_CONFIG = """
data_dir = "{data}"
status_file = "{data}/run/status.json"

[[line]]
id = 1
capture = "hookline_test_unplugged1"
[line.offhook]
pin = 17

[export]
mount_root = "{root}"
button = 20
led = 21
"""


def test_the_running_recorder_exports_on_command_and_cancels_when_it_stops(template, tmp_path):
    data = et.copy_box(template[0], tmp_path / "data")
    root = tmp_path / "media"
    config = tmp_path / "hookline.toml"
    config.write_text(BOX_CONFIG.format(data=data, root=root))
    ask = lambda command, **args: control.ask(data / "run" / "control.sock", command, **args)   # noqa: E731
    trickle = et.Trickle(data, template[1][1])
    recorder = st.start_recorder(config)
    try:
        with et.usb_stick(root) as usb:
            et.wait_for(lambda: (data / "run" / "control.sock").exists())
            assert ask("export-status")["stick"]["label"] == "OFFICE"
            assert ask("export-start", selection={"new": True}, by="ann")["job"]["state"] == "copying"
            trickle.feed()
            et.wait_for(lambda: ask("export-status")["files_done"] == 1)      # the first is verified
            et.wait_for(lambda: list(usb.point.rglob("*.partial")))
            recorder.send_signal(signal.SIGTERM)              # the box shuts down mid-file
            et.wait_for(lambda: ask("export-status")["message"].startswith("Cancelling"))
            trickle.finish()                                  # the rest comes, but the copy stops there
            recorder.communicate(timeout=60)
            assert recorder.returncode == 0
            hookline = usb.point / "Hookline"
            assert not list(usb.point.rglob("*.partial")) and (hookline / stick.INCOMPLETE).exists()
            assert len(list(hookline.rglob("*.mp3"))) == 1
    finally:
        trickle.close()
        if recorder.poll() is None:
            recorder.kill()
            recorder.communicate()
    audit = json.loads(st.check("audit", "--data", data, "--json").stdout)
    assert audit[0]["action"] == "export" and audit[0]["user"] == "ann"
    assert audit[0]["detail"]["stopped_because"] == "Cancelled."
