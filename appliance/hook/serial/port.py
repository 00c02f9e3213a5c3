"""The serial port both sources share: the reader thread, (re)opening with backoff, splitting
bytes into lines, garbage accounting, and one device-error per outage (see the package doc)."""
from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import serial

from ..base import HookEvent, Post

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
        if kind in ("device-error", "device-ok", "serial-garbage"):
            detail["device_kind"] = self.kind     # "modem", "line monitor": how the pages name it
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
