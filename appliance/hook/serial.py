"""Ring, caller ID and hook state from serial devices (pyserial): a voice modem, a line monitor.

Each source owns its port in one reader thread and only posts HookEvents; the line applies
them in its own thread. Serial devices misbehave, and each way has an answer here:
- a port that vanishes (USB unplugged, a brown-out) or a device that stops answering: one
  "device-error" per outage, re-open with backoff (1 s doubling to 30 s), the whole modem
  initialisation again (a reset modem forgets AT+VCID=1), one "device-ok" when it is back;
- line noise and binary junk (random bytes, NULs, invalid UTF-8, lone CRs, kilobytes with no
  newline): bytes are decoded as ASCII with replacement and split on CR and LF; a line that is
  not printable text, is longer than MAX_LINE, or is left unfinished for PARTIAL_TIMEOUT_S
  is garbage. Garbage is logged and summarised in at most one "serial-garbage" event per
  GARBAGE_REPORT_S; it never stops or stalls the reader;
- modems that echo commands, answer in any order, or print unknown caller-ID fields.

`lines_seen` counts complete lines (garbage included) once everything they cause has been
posted (a caller-ID line counts when its block is posted), so whoever writes N lines to the
device can wait for `lines_seen` to grow by N and know the resulting events are queued.
`healthy` is True while the port is open and the device answers.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import serial

from ..config import LineMonitorHook, ModemCallerId
from .base import HookEvent, Post

log = logging.getLogger("hookline.serial")

READ_TIMEOUT_S = 0.1      # one read waits at most this long: the thread notices close() quickly
WRITE_TIMEOUT_S = 1.0     # a write to a wedged port gives up (and counts as the port failing)
_TERMINATOR = re.compile(rb"[\r\n]")


class _Splitter:
    """Bytes in, lines out: split on CR and LF (empty lines dropped), with a length cap.

    feed() and expire() return (raw bytes, problem) pairs; problem is None for a normal line,
    else why the line is garbage. An over-long line is reported once, when it crosses the cap,
    and the rest of it (up to its terminator) is dropped."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.buf = bytearray()
        self.skipping = False       # inside an over-long line that was already reported
        self.last = 0.0             # when bytes last arrived

    @property
    def partial(self) -> bool:
        return bool(self.buf) or self.skipping

    def feed(self, data: bytes, now: float) -> list[tuple[bytes, str | None]]:
        self.last = now
        out: list[tuple[bytes, str | None]] = []
        parts = _TERMINATOR.split(data)
        for i, part in enumerate(parts):
            terminated = i < len(parts) - 1
            if self.skipping:
                self.skipping = not terminated
                continue
            self.buf += part
            if len(self.buf) > self.max_line:
                out.append((bytes(self.buf[:self.max_line]), f"longer than {self.max_line} characters"))
                self.buf.clear()
                self.skipping = not terminated
            elif terminated and self.buf:
                out.append((bytes(self.buf), None))
                self.buf.clear()
        return out

    def expire(self, now: float, timeout: float) -> list[tuple[bytes, str | None]]:
        """A line left unfinished for `timeout` is garbage (and must not swallow the next one)."""
        if not self.partial or now - self.last < timeout:
            return []
        stale, self.skipping = bytes(self.buf), False
        self.buf.clear()
        return [(stale, f"unfinished for {timeout:g} s")] if stale else []

    def clear(self) -> None:
        self.buf.clear()
        self.skipping = False


def _printable(text: str) -> bool:
    return all(" " <= c <= "~" or c == "\t" for c in text)


def _sample(text: str, limit: int = 48) -> str:
    """A short, log-safe rendering of a discarded line."""
    return text[:limit].encode("unicode_escape").decode("ascii") + ("..." if len(text) > limit else "")


class _SerialSource:
    """What both sources share: the reader thread, (re)opening with backoff, line splitting,
    garbage accounting, and one device-error per outage."""

    MAX_LINE = 256                # characters; longer is garbage
    PARTIAL_TIMEOUT_S = 1.0       # an unfinished line older than this is garbage
    GARBAGE_REPORT_S = 10.0       # at most one serial-garbage event this often
    kind = "serial device"

    def __init__(self, port: str, baud: int, *, backoff_s: float = 1.0, backoff_max_s: float = 30.0) -> None:
        if backoff_s <= 0 or backoff_max_s < backoff_s:
            raise ValueError("backoff_s must be > 0 and backoff_max_s >= backoff_s")
        self.port = port
        self.baud = baud
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.lines_seen = 0           # complete lines processed (garbage included), see the module doc
        self.garbage_lines = 0        # of those, how many were discarded as garbage
        self.healthy = False          # port open and the device answering
        self._post: Post | None = None
        self._ser: serial.Serial | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage: str | None = None          # the error already posted for the current outage
        self._splitter = _Splitter(self.MAX_LINE)
        self._garbage_count = 0
        self._garbage_sample: tuple[str, str] | None = None
        self._garbage_reported: float | None = None

    # -- the HookSource interface --------------------------------------------------------------
    def start(self, post: Post) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.kind} source on {self.port} is already started")
        self._post = post
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"serial-{self.port.rsplit('/', 1)[-1]}",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the reader; it closes the port itself. Returns within about READ_TIMEOUT_S
        (WRITE_TIMEOUT_S if a write to a wedged port is under way)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(WRITE_TIMEOUT_S + 1.0)
            if thread.is_alive():
                log.warning("%s: reader thread did not stop within %.1f s", self.port, WRITE_TIMEOUT_S + 1.0)

    # -- for subclasses --------------------------------------------------------------------------
    def _on_open(self) -> bool:
        """Bring a freshly opened device up; False (after _fail) if it does not answer."""
        self._ok({})
        return True

    def _on_line(self, text: str, now: float) -> bool:
        """Handle one printable line; True if its counting is deferred (the subclass counts it)."""
        raise NotImplementedError

    def _on_idle(self, now: float) -> bool:
        """Called between reads; False (after _fail) means re-open the port."""
        return True

    def _on_close(self) -> None:
        """The port is closing: drop what belonged to this connection."""

    # -- events ----------------------------------------------------------------------------------
    def _emit(self, kind: str, **detail: Any) -> None:
        try:
            self._post(HookEvent(kind, detail={"device": self.port, **detail}))
        except Exception:   # the consumer's problem must not end the reader
            log.exception("%s: posting %s failed", self.port, kind)

    def _fail(self, message: str) -> None:
        """The device is unusable: tell once per outage, log the rest quietly."""
        self.healthy = False
        if self._outage is None:
            log.error("%s %s: %s; re-opening with backoff up to %g s", self.kind, self.port, message,
                      self.backoff_max_s)
            self._emit("device-error", error=message)
        else:
            log.debug("%s %s still failing: %s", self.kind, self.port, message)
        self._outage = message

    def _ok(self, detail: dict[str, Any]) -> None:
        if self._outage is not None:
            log.info("%s %s is back", self.kind, self.port)
        else:
            log.info("%s %s ready %s", self.kind, self.port, detail)
        self._outage = None
        self.healthy = True
        self._emit("device-ok", **detail)

    # -- the reader thread -----------------------------------------------------------------------
    def _run(self) -> None:
        backoff = self.backoff_s
        while not self._stop.is_set():
            try:
                self._ser = serial.Serial(self.port, self.baud, timeout=READ_TIMEOUT_S,
                                          write_timeout=WRITE_TIMEOUT_S)
            except (serial.SerialException, OSError, ValueError) as e:
                self._fail(f"cannot open {self.port}: {e}")
            else:
                try:
                    self._splitter.clear()
                    if self._on_open():
                        backoff = self.backoff_s
                        while not self._stop.is_set() and self._on_idle(time.monotonic()):
                            self._pump()
                except (serial.SerialException, OSError) as e:
                    self._fail(f"{self.port} failed: {e}")
                except Exception as e:   # a bug here must not silence the line for good
                    log.exception("%s: unexpected error in the reader", self.port)
                    self._fail(f"internal error: {type(e).__name__}: {e}")
                finally:
                    self._close_port()
            if not self._stop.is_set():
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
        self.healthy = False

    def _close_port(self) -> None:
        try:
            self._on_close()
        except Exception:
            log.exception("%s: cleaning up after the port", self.port)
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError) as e:
                log.debug("%s: close: %s", self.port, e)
        self._splitter.clear()

    def _write(self, text: str) -> None:
        self._ser.write(text.encode("ascii", "replace"))

    def _pump(self) -> None:
        """One read (at most READ_TIMEOUT_S), then every line it completed."""
        data = self._ser.read(1)
        if data:
            waiting = self._ser.in_waiting
            if waiting:
                data += self._ser.read(min(waiting, 4096))
        now = time.monotonic()
        lines = self._splitter.feed(data, now) if data else []
        lines += self._splitter.expire(now, self.PARTIAL_TIMEOUT_S)
        for raw, problem in lines:
            self._take(raw, problem, now)
        self._report_garbage(now)

    def _take(self, raw: bytes, problem: str | None, now: float) -> None:
        text = raw.decode("ascii", errors="replace")
        if problem is None and not _printable(text):
            problem = "not printable text"
        deferred = False
        if problem is not None:
            self._garbage(text, problem)
        elif text.strip():
            try:
                deferred = self._on_line(text.strip(), now)
            except (serial.SerialException, OSError):
                raise
            except Exception:
                log.exception("%s: cannot handle line %r", self.port, text)
        if not deferred:
            self.lines_seen += 1

    def _garbage(self, text: str, problem: str) -> None:
        self.garbage_lines += 1
        self._garbage_count += 1
        if self._garbage_sample is None:
            self._garbage_sample = (_sample(text), problem)
            log.warning("%s: discarding garbage (%s): %s", self.port, problem, _sample(text))
        else:
            log.debug("%s: discarding garbage (%s): %s", self.port, problem, _sample(text))

    def _report_garbage(self, now: float) -> None:
        if not self._garbage_count:
            return
        if self._garbage_reported is not None and now - self._garbage_reported < self.GARBAGE_REPORT_S:
            return
        sample, problem = self._garbage_sample
        log.warning("%s: %d garbage line(s) discarded (check the cable, baud rate %d and grounding)",
                    self.port, self._garbage_count, self.baud)
        self._emit("serial-garbage", sample=sample, count=self._garbage_count, reason=problem)
        self._garbage_count, self._garbage_sample, self._garbage_reported = 0, None, now


# -- the voice modem ----------------------------------------------------------------------------

_FINAL = re.compile(r"^(OK|0|ERROR|4|NO CARRIER|COMMAND NOT SUPPORTED|\+CM[ES] ERROR\b.*)$")
_RING = re.compile(r"^RING\b")
_CID_FIELD = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=\s*(.*)$", re.IGNORECASE)
_CID_KNOWN = ("DATE", "TIME", "NMBR", "NAME")
_WITHHELD = {"P": "private", "O": "unavailable"}


class ModemSource(_SerialSource):
    """RING and caller ID from a voice modem (AT+VCID=1 or a chipset's variant).

    Posts "ring", "callerid" (one per caller-ID block), "device-ok" (after every successful
    initialisation: detail device, modem (ATI text), modem_info (ATI3 text or None), init (the
    caller-ID command accepted, or None)), "device-error" (once per outage; also once per
    initialisation when the modem refuses every caller-ID command) and "serial-garbage".
    """

    CALLERID_GAP_S = 0.3      # a caller-ID block ends this long after its last line
    RING_QUIET_S = 5.0        # no "AT" probes this soon after a RING: caller ID may be on its way
    kind = "modem"

    def __init__(self, cfg: ModemCallerId, *, backoff_s: float = 1.0, backoff_max_s: float = 30.0) -> None:
        super().__init__(cfg.port, cfg.baud, backoff_s=backoff_s, backoff_max_s=backoff_max_s)
        self.cfg = cfg
        self.ident: str | None = None           # the modem's ATI answer, once it has answered
        self.init_command: str | None = None    # the caller-ID command it accepted (None: none)
        self._expect: str | None = None         # the command awaiting its final result
        self._result: str | None = None
        self._reply: list[str] = []
        self._block: dict[str, Any] | None = None   # the caller-ID block being collected
        self._last_ring: float | None = None
        self._last_probe = 0.0

    @property
    def callerid_pending(self) -> bool:
        """True while caller-ID lines are held, waiting for their block to end."""
        return self._block is not None

    # -- commands --------------------------------------------------------------------------------
    def _command(self, command: str) -> tuple[str | None, list[str]]:
        """Send a command and wait up to reply_timeout_s for its final result ("OK", "ERROR";
        None: no answer). Unsolicited lines arriving meanwhile are handled as usual."""
        self._expect, self._result, self._reply = command.upper(), None, []
        try:
            self._write(command + "\r")
            deadline = time.monotonic() + self.cfg.reply_timeout_s
            while self._result is None and time.monotonic() < deadline and not self._stop.is_set():
                self._pump()
                self._end_block_if_quiet(time.monotonic())
            return self._result, self._reply
        finally:
            self._expect = None

    def _on_open(self) -> bool:
        result, _ = self._command("AT")
        if result == "ERROR":   # junk in the modem's command buffer: one more try
            result, _ = self._command("AT")
        if result != "OK":
            if not self._stop.is_set():
                self._not_answering("AT", result)
            return False
        self._command("ATE0")   # echo off (echoes are recognised anyway)
        result, ident = self._command("ATI")
        if result is None:
            if not self._stop.is_set():
                self._not_answering("ATI")
            return False
        result3, info = self._command("ATI3")
        self.ident = " ".join(ident) or None
        info_text = " ".join(info) if result3 == "OK" and info else None
        self.init_command = None
        refused: list[str] = []
        for command in self.cfg.init:
            result, _ = self._command(command)
            if result == "OK":
                self.init_command = command
                break
            if result is None:
                if not self._stop.is_set():
                    self._not_answering(command)
                return False
            refused.append(command)
        self._last_probe = time.monotonic()
        self._ok({"modem": self.ident, "modem_info": info_text, "init": self.init_command})
        if self.init_command is None:
            message = (f"caller ID unsupported: the modem ({self.ident or 'unidentified'}) refused "
                       f"{', '.join(self.cfg.init)}; RINGs are still reported "
                       "(add this chipset's caller-ID command to callerid.init)")
            log.error("%s: %s", self.port, message)
            self._emit("device-error", error=message, refused=refused)
        return True

    def _not_answering(self, command: str, result: str | None = None) -> None:
        if result is None:
            self._fail(f"modem not answering (no reply to {command} within {self.cfg.reply_timeout_s:g} s; "
                       "check its power and cable)")
        else:
            self._fail(f"modem confused (answered {result} to {command}); resetting it")

    def _on_idle(self, now: float) -> bool:
        self._end_block_if_quiet(now)
        if self._probe_due(now):
            self._last_probe = now
            result, _ = self._command("AT")
            self._last_probe = time.monotonic()
            if result != "OK":
                if not self._stop.is_set():
                    self._not_answering("AT", result)
                return False
        return True

    def _probe_due(self, now: float) -> bool:
        if now - self._last_probe < self.cfg.probe_interval_s:
            return False
        if self._block is not None or self._splitter.partial:
            return False        # in the middle of something the modem is telling us
        return self._last_ring is None or now - self._last_ring >= self.RING_QUIET_S

    def _on_close(self) -> None:
        self._end_block()       # what arrived before the port failed is still worth posting
        self._expect = None

    # -- lines -----------------------------------------------------------------------------------
    def _on_line(self, text: str, now: float) -> bool:
        upper = text.upper()
        if self._expect is not None:
            if upper == self._expect:
                return False                    # the modem echoing our command
            if _FINAL.match(upper):
                self._end_block()
                self._result = "OK" if upper in ("OK", "0") else "ERROR"
                if self._result == "ERROR":
                    self._reply.append(text)
                return False
        if _RING.match(upper):
            self._end_block()
            self._last_ring = now
            self._emit("ring")
            return False
        field = _CID_FIELD.match(text)
        # While a command runs, only a real caller-ID field (or more of an open block) counts as
        # caller ID: an ATI3 answer may well look like "Version = 2.1".
        if field and (self._expect is None or self._block is not None or field.group(1).upper() in _CID_KNOWN):
            return self._caller_id_line(field.group(1).upper(), field.group(2).strip(), text, now)
        self._end_block()
        if self._expect is not None:
            self._reply.append(text)
        else:
            log.debug("%s: ignoring modem line %r", self.port, text)
        return False

    def _caller_id_line(self, tag: str, value: str, text: str, now: float) -> bool:
        if self._block is not None and tag in _CID_KNOWN and tag in self._block["fields"]:
            self._end_block()                   # the same field again: a new call's block
        if self._block is None:
            self._block = {"fields": {}, "raw": []}
        block = self._block
        block["raw"].append(text)
        block["last"] = now
        if tag in _CID_KNOWN:
            block["fields"][tag] = value
        else:
            log.info("%s: caller ID field %s not used: %r", self.port, tag, text)
        return True

    def _end_block_if_quiet(self, now: float) -> None:
        if self._block is not None and now - self._block["last"] >= self.CALLERID_GAP_S:
            self._end_block()

    def _end_block(self) -> None:
        block, self._block = self._block, None
        if block is None:
            return
        fields, raw = block["fields"], block["raw"]
        if fields:
            self._emit("callerid", **parse_caller_id(fields), raw=raw)
            log.info("%s: caller ID %s", self.port, " | ".join(raw))
        else:
            log.info("%s: caller-ID lines without number, name, date or time ignored: %s", self.port, raw)
        self.lines_seen += len(raw)


def parse_caller_id(fields: dict[str, str]) -> dict[str, Any]:
    """DATE/TIME/NMBR/NAME values -> number, name, withheld, withheld_reason, date, time.

    "P" (private) and "O" (out of area / unavailable) are markers, not values. The call counts
    as withheld when the number is marked, or when there is no number and the name is marked;
    a number with a marked name ("NAME = O": no name on file) is not withheld."""
    def value(tag: str) -> tuple[str | None, str | None]:
        raw = fields.get(tag, "").strip()
        if raw.upper() in _WITHHELD:
            return None, _WITHHELD[raw.upper()]
        return raw or None, None

    number, number_marker = value("NMBR")
    name, name_marker = value("NAME")
    reason = number_marker or (name_marker if number is None else None)
    return {"number": number, "name": name, "withheld": reason is not None, "withheld_reason": reason,
            "date": fields.get("DATE") or None, "time": fields.get("TIME") or None}


# -- the line-monitor board ---------------------------------------------------------------------

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
