"""`hookline simulate` and `hookline demo`: the real daemon on simulated hardware."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from ..daemon import Daemon, hook_source
from ..hook.gpio import GpioHookSource
from ..store import db as dbmod, settings as settingsmod
from . import scenario as scenariomod
from .hardware import SimHardware

log = logging.getLogger("hookline.sim")

DEMO_SCENARIO = Path(__file__).with_name("demo.toml")
STALL_LIMIT_S = 15.0


def apply_scenario_settings(sc: scenariomod.Scenario, data_dir: Path) -> None:
    """Scenario settings go through the same validation as `hookline settings set`; all of them
    are checked before any is written, so a refused scenario changes nothing."""
    wanted = [("appliance.settings", name, value, None) for name, value in sc.settings.items()]
    wanted += [(f"line[{i}].settings", name, value, line.id)
               for i, line in enumerate(sc.lines, 1) for name, value in line.settings.items()]
    for where, name, value, line in wanted:
        try:
            setting, _ = settingsmod.split_name(name, line)
            setting.parse(value)
        except settingsmod.SettingError as e:
            raise scenariomod.ScenarioError(where, str(e)) from None
    db = dbmod.connect(data_dir)
    try:
        for _, name, value, line in wanted:
            settingsmod.set_value(db, name, value, line)
    finally:
        db.close()


def _demo_login(data_dir: Path) -> str:
    """The demo makes its own administrator (never a fixed default password) and says how to log in."""
    from ..store import users
    db = dbmod.connect(data_dir)
    try:
        made = users.ensure_demo_admin(db)
    finally:
        db.close()
    if made:
        return f"Log in as: {made[0]}   password: {made[1]}   (made for this demo folder; keep it or change it)"
    return (f"Log in with a user of this demo folder (forgot the password? "
            f"hookline users passwd admin --data {data_dir})")


def build_daemon(sc: scenariomod.Scenario, data_dir: Path, realtime: bool, forever: bool = False,
                 start: float | None = None) -> tuple[Daemon, SimHardware]:
    hw = SimHardware(sc, data_dir, realtime=realtime, forever=forever)
    t0 = sc.start if start is None else start
    daemon = Daemon(hw.config, data_dir, status_file=hw.config.status_file,
                    clock_factory=lambda line: hw.clock(line.id, t0),
                    hook_factory=lambda line: GpioHookSource(line.offhook, pin_factory=hw.pins)
                    if line.offhook.source == "gpio" else hook_source(line),
                    tick=hw.tick)
    return daemon, hw


def simulate(path: Path, data_dir: Path, speed: str = "max") -> None:
    """Play a scenario through the daemon and return once every call is finalized."""
    sc = scenariomod.load(path)
    data_dir = Path(data_dir)
    apply_scenario_settings(sc, data_dir)
    daemon, hw = build_daemon(sc, data_dir, realtime=speed == "realtime")
    hw.start()
    daemon.start()
    stalled_since = None
    try:
        while any(line.is_alive() for line in daemon.lines):
            time.sleep(0.05)
            broken = [line for line in daemon.lines if line.device_error and line.cfg.id not in hw.unplugged]
            if broken:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > STALL_LIMIT_S:
                    raise RuntimeError(f"simulated line {broken[0].cfg.id} stalled: {broken[0].device_error}")
            else:
                stalled_since = None
    finally:
        hw.stop()
        daemon.stop()


def demo(data_dir: Path, host: str = "127.0.0.1", port: int = 8080) -> None:
    """A two-line office making calls in real time, forever, with the web page on host:port."""
    from web import serve_in_thread  # the appliance never needs the web package except here

    sc = scenariomod.load(DEMO_SCENARIO)
    data_dir = Path(data_dir)
    server = serve_in_thread(data_dir, host, port)   # first: a busy port fails before anything runs
    apply_scenario_settings(sc, data_dir)
    now = datetime.now(timezone.utc).timestamp()
    daemon, hw = build_daemon(sc, data_dir, realtime=True, forever=True, start=now)
    hw.start()
    daemon.start()
    login = _demo_login(data_dir)
    print(f"Hookline demo: recording {len(sc.lines)} simulated lines into {data_dir.resolve()}", flush=True)
    print(f"Open http://{host}:{port}/ to see the lines and play the calls ({len(sc.calls)} calls every "
          f"{sc.loop_s:g} s). Ctrl-C stops.", flush=True)
    print(login, flush=True)
    try:
        daemon.wait()
    except KeyboardInterrupt:
        print("stopping: finishing the calls in progress...", flush=True)
    finally:
        hw.stop()
        daemon.stop()
        server.close()
