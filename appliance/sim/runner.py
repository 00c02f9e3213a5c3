"""`hookline simulate` and `hookline demo`: the real daemon on simulated hardware."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from ..daemon import Daemon, hook_source
from ..hook.gpio import GpioHookSource
from ..notice import convert, stored
from ..stopping import StopRequests
from ..store import db as dbmod, dnr, settings as settingsmod
from . import scenario as scenariomod
from .hardware import SimHardware

log = logging.getLogger("hookline.sim")

DEMO_SCENARIO = Path(__file__).with_name("demo.toml")
STALL_LIMIT_S = 15.0
DEMO_WIND_DOWN_S = 90.0   # the demo's first Ctrl-C waits at most this for the calls in progress (one loop)


def apply_scenario_settings(sc: scenariomod.Scenario, data_dir: Path) -> None:
    """Scenario settings go through the same validation as `hookline settings set`, and its
    announcement through the same checks as an upload; all of them are checked before any is
    written, so a refused scenario changes nothing."""
    wanted = [("appliance.settings", name, value, None) for name, value in sc.settings.items()]
    wanted += [(f"line[{i}].settings", name, value, line.id)
               for i, line in enumerate(sc.lines, 1) for name, value in line.settings.items()]
    for where, name, value, line in wanted:
        try:
            setting, _ = settingsmod.split_name(name, line)
            setting.parse(value)
        except settingsmod.SettingError as e:
            raise scenariomod.ScenarioError(where, str(e)) from None
    announcement = _announcement(sc)
    db = dbmod.connect(data_dir)
    try:
        for _, name, value, line in wanted:
            settingsmod.set_value(db, name, value, line)
        for pattern, label in sc.dnr:      # checked when the scenario was read
            try:
                dnr.add(db, pattern, label, "scenario", sc.phone_region)
            except dnr.DnrError:           # on the list already: a data folder simulated before
                pass
    finally:
        db.close()
    if announcement is not None:
        stored.save(data_dir, *announcement, sc.announcement.name, by=None)


def _announcement(sc: scenariomod.Scenario) -> tuple | None:
    """The scenario's announcement, decoded and checked as an upload is."""
    if sc.announcement is None:
        return None
    try:
        return convert.decode(sc.announcement.read_bytes())
    except convert.NoticeError as e:
        raise scenariomod.ScenarioError("appliance.announcement", str(e)) from None


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


class Stopped(RuntimeError):
    """`hookline simulate` was stopped (SIGINT or SIGTERM) before the scenario's end."""


def simulate(path: Path, data_dir: Path, speed: str = "max") -> None:
    """Play a scenario through the daemon and return once every call is finalized; a SIGINT or
    SIGTERM stops it at once, finalizing the calls in progress, and raises Stopped."""
    sc = scenariomod.load(path)
    data_dir = Path(data_dir)
    apply_scenario_settings(sc, data_dir)            # checks them first; then makes the folder, private
    daemon, hw = build_daemon(sc, data_dir, realtime=speed == "realtime")
    with StopRequests() as stop:
        hw.start()
        daemon.start()
        try:
            _play(daemon, hw, stop)
        finally:
            _stop(daemon, hw)
    if stop.first.is_set():
        raise Stopped("stopped before the scenario's end; the calls in progress were kept up to that moment")


def _play(daemon: Daemon, hw: SimHardware, stop: StopRequests) -> None:
    """Until every line has played its part of the scenario, or a stop is asked for."""
    stalled_since = None
    while any(line.is_alive() for line in daemon.lines) and not stop.first.wait(0.05):
        broken = [line for line in daemon.lines if line.device_error and line.cfg.id not in hw.unplugged]
        if broken:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > STALL_LIMIT_S:
                raise RuntimeError(f"simulated line {broken[0].cfg.id} stalled: {broken[0].device_error}")
        else:
            stalled_since = None


def _stop(daemon: Daemon, hw: SimHardware) -> None:
    """The daemon first, while the simulated wires still feed it: each line ends its call in
    progress as a stop, not as a capture device that vanished."""
    daemon.stop()
    hw.stop()


def demo(data_dir: Path, host: str = "127.0.0.1", port: int = 8080) -> None:
    """A two-line office making calls in real time, forever, with the web page on host:port."""
    from web import serve_in_thread  # the appliance never needs the web package except here

    sc = scenariomod.load(DEMO_SCENARIO)
    data_dir = Path(data_dir)
    server = serve_in_thread(data_dir, host, port)   # first: a busy port fails before anything runs
    apply_scenario_settings(sc, data_dir)
    now = datetime.now(timezone.utc).timestamp()
    daemon, hw = build_daemon(sc, data_dir, realtime=True, forever=True, start=now)
    with StopRequests() as stop:
        hw.start()
        daemon.start()
        login = _demo_login(data_dir)
        print(f"Hookline demo: recording {len(sc.lines)} simulated lines into {data_dir.resolve()}", flush=True)
        print(f"Open http://{host}:{port}/ to see the lines and play the calls ({len(sc.calls)} calls every "
              f"{sc.loop_s:g} s). Ctrl-C stops.", flush=True)
        print(login, flush=True)
        print("Ctrl-C lets the calls in progress end, then stops; Ctrl-C twice stops at once.", flush=True)
        try:
            stop.wait_first()
            _let_calls_end(daemon, hw, stop)
        finally:
            _stop(daemon, hw)
            server.close()
    print("stopped", flush=True)


def _let_calls_end(daemon: Daemon, hw: SimHardware, stop: StopRequests) -> None:
    """The demo's first Ctrl-C (or SIGTERM): no new call starts, and the scripted calls in
    progress end as scripted (at most DEMO_WIND_DOWN_S); the second one stops at once."""
    busy = daemon.calls_in_progress()
    if not busy:
        print("stopping: no call in progress", flush=True)
        return
    hw.finish_calls()
    print(f"stopping: letting the {busy} call{'s' if busy > 1 else ''} in progress end (at most "
          f"{DEMO_WIND_DOWN_S:.0f} s; Ctrl-C again stops at once, keeping what they recorded)", flush=True)
    deadline = time.monotonic() + DEMO_WIND_DOWN_S
    while daemon.calls_in_progress() and time.monotonic() < deadline:
        if stop.again.wait(0.1):
            print("stopping now: the calls in progress are kept up to this moment", flush=True)
            return
