"""Hardware configuration: hookline.toml -> frozen dataclasses.

Every problem is reported as one ConfigError naming the key (``line[2].offhook.pin``) and
the fix, so `hookline run` can print one line and exit 2 before anything starts.
"""
from __future__ import annotations

import math
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers

from .config_checks import ConfigError, _check_keys, _get

SAMPLE_RATES = (8000, 16000)
# lameenc clamps silently above these; refuse instead of lying about the bitrate.
BITRATES = {8000: (8, 16, 24, 32, 40, 48, 56, 64), 16000: (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}


@dataclass(frozen=True)
class GpioHook:
    pin: int
    active: str = "low"        # level of the sense input while the line is off-hook
    pull: str = "up"           # up | down | none
    debounce_ms: int = 50
    rings: bool = False        # the input also blinks while the line rings: count those bursts as rings
    ring_hz: tuple[float, float] = (15.0, 30.0)   # the blink rate a ring burst has (appliance/hook/sense_rings.py)
    source: str = "gpio"


@dataclass(frozen=True)
class LineMonitorHook:
    """A board that reports the line's hook state (and rings) as text lines on a serial port."""
    port: str
    baud: int = 9600
    offhook_pattern: str = r"^\s*OFF[- _]?HOOK\b"     # regular expressions, matched per line
    onhook_pattern: str = r"^\s*ON[- _]?HOOK\b"
    ring_pattern: str | None = r"^\s*RING\b"
    debounce_ms: int = 50
    source: str = "serial"


@dataclass(frozen=True)
class VoxHook:
    """Voice activation: the line's own audio says when it is in use (thresholds are settings)."""
    debounce_ms: int = 0
    source: str = "vox"


@dataclass(frozen=True)
class ModemCallerId:
    """A voice modem on the line for RING and caller ID."""
    port: str
    baud: int = 115200
    # Tried in order on every open until one answers OK: Conexant/Agere/most USB modems take
    # AT+VCID=1; Rockwell and US Robotics chipsets AT#CID=1; some Lucent ones AT%CCID=1.
    init: tuple[str, ...] = ("AT+VCID=1", "AT#CID=1", "AT%CCID=1")
    probe_interval_s: float = 30.0      # an idle modem is asked "AT" this often; no OK means hung
    reply_timeout_s: float = 2.0
    source: str = "modem"


HookConfig = GpioHook | LineMonitorHook | VoxHook


@dataclass(frozen=True)
class PauseInputs:
    """`[line.pause]`: a button that pauses and resumes the call in progress, and an LED lit while paused."""
    button: int
    led: int | None = None
    pull: str = "up"           # up: the button shorts the pin to ground; down: to 3.3 V


@dataclass(frozen=True)
class LineConfig:
    id: int
    name: str
    capture: str               # ALSA PCM name to capture the line's two legs from
    playback: str | None       # ALSA PCM name to play the consent beep into (None: no beep)
    near_channel: str          # "left" | "right": which capture channel is the office handset
    offhook: HookConfig
    preroll_s: float
    min_call_s: float
    max_call_s: float
    bitrate_kbps: int
    callerid: ModemCallerId | None = None
    pause: PauseInputs | None = None

    @property
    def swap_legs(self) -> bool:
        return self.near_channel == "right"


@dataclass(frozen=True)
class ExportConfig:
    """`[export]`: where the box mounts USB sticks (firmware_config/hookline-stick@.service), and
    the box's export button and LED (appliance/export/button.py), each optional."""
    mount_root: Path = Path("/media/hookline")
    button: int | None = None      # a press exports everything new; a long press cancels
    led: int | None = None         # blinks while copying, steady when safe to remove, flashes on an error
    pull: str = "up"               # up: the button shorts the pin to ground; down: to 3.3 V
    long_press_s: float = 2.0


@dataclass(frozen=True)
class Config:
    data_dir: Path
    status_file: Path
    sample_rate: int
    period_ms: int
    lines: tuple[LineConfig, ...] = field(default_factory=tuple)
    source: Path | None = None
    # The sealed head of the audit log (appliance.store.audit_seal): where only the sealer may write.
    audit_seal_file: Path = Path("/var/lib/hookline-seal/audit-head.json")
    timezone: str | None = None       # IANA zone the pages and the CLI show times in (None: the system's)
    phone_region: str = "US"          # ISO 3166 region numbers are read and written for (phonenumbers)
    export: ExportConfig = ExportConfig()

    def line(self, line_id: int) -> LineConfig:
        for line in self.lines:
            if line.id == line_id:
                return line
        raise KeyError(line_id)


_TOP = {"data_dir", "status_file", "audit_seal_file", "timezone", "phone_region", "audio", "recording", "line",
        "export"}
_EXPORT = {"mount_root", "button", "led", "pull", "long_press_s"}
_AUDIO = {"sample_rate", "period_ms", "bitrate_kbps"}
_RECORDING = {"preroll_s", "min_call_s", "max_call_s"}
_LINE = ({"id", "name", "capture", "playback", "near_channel", "offhook", "callerid", "pause"} | _RECORDING
         | {"bitrate_kbps"})
_PAUSE = {"button", "led", "pull"}
_GPIO = {"source", "pin", "active", "pull", "debounce_ms", "rings", "ring_hz"}
_MONITOR = {"source", "port", "baud", "offhook_pattern", "onhook_pattern", "ring_pattern", "debounce_ms"}
_VOX = {"source", "debounce_ms"}
_MODEM = {"source", "port", "baud", "init", "probe_interval_s", "reply_timeout_s"}
BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)


def _pattern(table: dict, key: str, where: str, default: str | None) -> str | None:
    value = _get(table, key, where, str, default)
    if value is not None:
        try:
            re.compile(value)
        except re.error as e:
            raise ConfigError(f"{where}.{key}", f"not a valid regular expression: {e}") from None
    return value


def _port(table: dict, where: str, seen_ports: set[str]) -> str:
    port = _get(table, "port", where, str)
    if port in seen_ports:
        raise ConfigError(f"{where}.port", f"{port} is used twice", "give each modem or monitor its own port")
    seen_ports.add(port)
    return port


def _parse_hook(hook: dict, where: str, seen_pins: set[int], seen_ports: set[str]) -> HookConfig:
    source = _get(hook, "source", where, str, "gpio", choices=("gpio", "serial", "vox"))
    if source == "vox":
        _check_keys(hook, _VOX, where)
        return VoxHook(debounce_ms=_get(hook, "debounce_ms", where, int, 0, lo=0, hi=2000))
    if source == "serial":
        _check_keys(hook, _MONITOR, where)
        d = LineMonitorHook(port="")
        return LineMonitorHook(
            port=_port(hook, where, seen_ports),
            baud=_get(hook, "baud", where, int, d.baud, choices=BAUDS),
            offhook_pattern=_pattern(hook, "offhook_pattern", where, d.offhook_pattern),
            onhook_pattern=_pattern(hook, "onhook_pattern", where, d.onhook_pattern),
            ring_pattern=_pattern(hook, "ring_pattern", where, d.ring_pattern),
            debounce_ms=_get(hook, "debounce_ms", where, int, d.debounce_ms, lo=0, hi=2000),
        )
    _check_keys(hook, _GPIO, where)
    pin = _get(hook, "pin", where, int, lo=0, hi=27)
    if pin in seen_pins:
        raise ConfigError(f"{where}.pin", f"GPIO{pin} is used by two lines", "wire each line's sense to its own pin")
    seen_pins.add(pin)
    rings = _get(hook, "rings", where, bool, False)
    ring_hz = _ring_band(hook, where)
    # On a ringing line a level must outlast the ring's cycles to be a hook change.
    least = ring_hold_ms(ring_hz) if rings else 0
    debounce = _get(hook, "debounce_ms", where, int, max(50, least), lo=0, hi=2000)
    if debounce < least:
        raise ConfigError(f"{where}.debounce_ms", f"{debounce} ms is too short for rings down to "
                          f"{ring_hz[0]:g} Hz (they need {least} ms), so rings would look like off-hooks",
                          f"use at least {least}, or leave it out")
    return GpioHook(
        pin=pin,
        active=_get(hook, "active", where, str, "low", choices=("low", "high")),
        pull=_get(hook, "pull", where, str, "up", choices=("up", "down", "none")),
        debounce_ms=debounce,
        rings=rings,
        ring_hz=ring_hz,
    )


def ring_hold_ms(ring_hz: tuple[float, float]) -> int:
    """The shortest debounce that keeps a ring burst from looking like hook changes: one and a half
    cycles of the slowest ring the band accepts (its half-cycles are stamped to the line's 20 ms
    reads, and a late read may stretch one more: this leaves room for both)."""
    return math.ceil(1500 / ring_hz[0])


def _ring_band(hook: dict, where: str) -> tuple[float, float]:
    band = _get(hook, "ring_hz", where, list, [15, 30])
    if (len(band) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in band)
            or not 5 <= band[0] < band[1] <= 100):
        raise ConfigError(f"{where}.ring_hz", f"{band!r} is not a frequency band",
                          "give the lowest and highest blink rate in Hz, 5-100, e.g. [15, 30]")
    return float(band[0]), float(band[1])


def _parse_callerid(table: dict | None, where: str, seen_ports: set[str]) -> ModemCallerId | None:
    if table is None:
        return None
    _check_keys(table, _MODEM, where)
    if _get(table, "source", where, str, "modem", choices=("modem", "none")) == "none":
        return None
    d = ModemCallerId(port="")
    init = _get(table, "init", where, list, list(d.init))
    if not init or not all(isinstance(c, str) and c.upper().startswith("AT") for c in init):
        raise ConfigError(f"{where}.init", "must be a list of AT commands", 'e.g. ["AT+VCID=1", "AT#CID=1"]')
    return ModemCallerId(
        port=_port(table, where, seen_ports),
        baud=_get(table, "baud", where, int, d.baud, choices=BAUDS),
        init=tuple(init),
        probe_interval_s=float(_get(table, "probe_interval_s", where, (int, float), d.probe_interval_s, lo=1, hi=3600)),
        reply_timeout_s=float(_get(table, "reply_timeout_s", where, (int, float), d.reply_timeout_s, lo=0.1, hi=30)),
    )


def _parse_pause(table: dict | None, where: str, seen_pins: set[int]) -> PauseInputs | None:
    if table is None:
        return None
    _check_keys(table, _PAUSE, where)
    pins = {}
    for key in ("button", "led"):
        pin = _get(table, key, where, int, None if key == "led" else ..., lo=0, hi=27)
        if pin is not None and pin in seen_pins:
            raise ConfigError(f"{where}.{key}", f"GPIO{pin} is already used", "give it a pin of its own")
        if pin is not None:
            seen_pins.add(pin)
        pins[key] = pin
    return PauseInputs(**pins, pull=_get(table, "pull", where, str, "up", choices=("up", "down")))


def _parse_seal_file(doc: dict, data_dir: Path) -> Path:
    """audit_seal_file: outside data_dir, or refused."""
    seal_file = Path(_get(doc, "audit_seal_file", "", str, str(Config.audit_seal_file)))
    if Path(os.path.normpath(seal_file)).is_relative_to(os.path.normpath(data_dir)):
        # The web page and the recorder can write there: a seal they can rewrite protects nothing.
        raise ConfigError("audit_seal_file", f"{seal_file} is inside data_dir",
                          "keep it in /var/lib/hookline-seal/, which only the audit sealer may write")
    return seal_file


def _parse_timezone(doc: dict) -> str | None:
    name = _get(doc, "timezone", "", str, None)
    if name is None:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError("timezone", f"{name!r} is not a time zone this system knows",
                          "use an IANA name such as 'America/New_York' or 'Europe/London'") from None
    return name


def _parse_region(doc: dict) -> str:
    region = _get(doc, "phone_region", "", str, "US")
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError("phone_region", f"{region!r} is not a region phone numbers are known for",
                          "use the two-letter country code, such as 'US', 'GB' or 'DE'")
    return region.upper()


def _parse_export(doc: dict, seen_pins: set[int]) -> ExportConfig:
    table = _get(doc, "export", "", dict, {})
    _check_keys(table, _EXPORT, "export")
    root = _get(table, "mount_root", "export", str, str(ExportConfig.mount_root))
    if not os.path.isabs(root) or os.path.normpath(root) == "/":
        raise ConfigError("export.mount_root", f"{root!r} is not a folder to mount sticks under",
                          "give an absolute path such as '/media/hookline'")
    pins = {}
    for key in ("button", "led"):
        pin = pins[key] = _get(table, key, "export", int, None, lo=0, hi=27)
        if pin is not None and pin in seen_pins:
            raise ConfigError(f"export.{key}", f"GPIO{pin} is already used", "give it a pin of its own")
        if pin is not None:
            seen_pins.add(pin)
    return ExportConfig(mount_root=Path(os.path.normpath(root)), **pins,
                        pull=_get(table, "pull", "export", str, "up", choices=("up", "down")),
                        long_press_s=float(_get(table, "long_press_s", "export", (int, float), 2.0, lo=0.3, hi=10)))


def parse(doc: dict, source: Path | None = None) -> Config:
    """Validate a parsed TOML document and build the Config."""
    _check_keys(doc, _TOP, "")
    audio = _get(doc, "audio", "", dict, {})
    _check_keys(audio, _AUDIO, "audio")
    rec = _get(doc, "recording", "", dict, {})
    _check_keys(rec, _RECORDING, "recording")
    rate = _get(audio, "sample_rate", "audio", int, 8000, choices=SAMPLE_RATES)
    period_ms = _get(audio, "period_ms", "audio", int, 20, lo=5, hi=200)
    bitrate = _get(audio, "bitrate_kbps", "audio", int, 32, choices=BITRATES[rate])
    preroll = float(_get(rec, "preroll_s", "recording", (int, float), 1.0, lo=0, hi=10))
    min_call = float(_get(rec, "min_call_s", "recording", (int, float), 2.0, lo=0, hi=600))
    max_call = float(_get(rec, "max_call_s", "recording", (int, float), 4 * 3600, lo=10, hi=24 * 3600))

    raw_lines = _get(doc, "line", "", list, [])
    if not raw_lines:
        raise ConfigError("line", "no lines configured", "add at least one [[line]] table")
    lines: list[LineConfig] = []
    seen_ids, seen_pins, seen_ports = set(), set(), set()     # ids, GPIO pins and serial ports taken so far
    for i, raw in enumerate(raw_lines, 1):
        where = f"line[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(where, "must be a [[line]] table")
        _check_keys(raw, _LINE, where)
        line_id = _get(raw, "id", where, int, lo=1, hi=99)
        if line_id in seen_ids:
            raise ConfigError(f"{where}.id", f"line {line_id} is configured twice", "give each line its own id")
        seen_ids.add(line_id)
        hook = _parse_hook(_get(raw, "offhook", where, dict), f"{where}.offhook", seen_pins, seen_ports)
        callerid = _parse_callerid(_get(raw, "callerid", where, dict, None), f"{where}.callerid", seen_ports)
        pause = _parse_pause(_get(raw, "pause", where, dict, None), f"{where}.pause", seen_pins)
        line_min = float(_get(raw, "min_call_s", where, (int, float), min_call, lo=0, hi=600))
        line_max = float(_get(raw, "max_call_s", where, (int, float), max_call, lo=10, hi=24 * 3600))
        if line_min >= line_max:
            raise ConfigError(f"{where}.min_call_s", "must be below max_call_s")
        lines.append(LineConfig(
            id=line_id,
            name=_get(raw, "name", where, str, f"Line {line_id}"),
            capture=_get(raw, "capture", where, str),
            playback=_get(raw, "playback", where, str, None),
            near_channel=_get(raw, "near_channel", where, str, "left", choices=("left", "right")),
            offhook=hook,
            callerid=callerid,
            pause=pause,
            preroll_s=float(_get(raw, "preroll_s", where, (int, float), preroll, lo=0, hi=10)),
            min_call_s=line_min,
            max_call_s=line_max,
            bitrate_kbps=_get(raw, "bitrate_kbps", where, int, bitrate, choices=BITRATES[rate]),
        ))
    data_dir = Path(_get(doc, "data_dir", "", str, "/var/lib/hookline"))
    return Config(
        data_dir=data_dir, status_file=Path(_get(doc, "status_file", "", str, "/run/hookline/status.json")),
        sample_rate=rate, period_ms=period_ms, lines=tuple(lines), source=source,
        audit_seal_file=_parse_seal_file(doc, data_dir),
        timezone=_parse_timezone(doc), phone_region=_parse_region(doc), export=_parse_export(doc, seen_pins))


def load(path: str | Path) -> Config:
    """Read and validate a hookline.toml file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found", "pass --config with the path of hookline.toml") from None
    except OSError as e:
        raise ConfigError(str(path), f"cannot read: {e.strerror}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), f"not valid TOML: {e}", "fix the syntax at that line") from None
    return parse(doc, source=path)
