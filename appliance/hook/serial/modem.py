"""RING and caller ID from a voice modem (AT+VCID=1 or a chipset's variant)."""
from __future__ import annotations

import logging
import re
import time
from typing import Any

from ...config import ModemCallerId
from .port import _SerialSource

log = logging.getLogger("hookline.serial")

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
            # Not at INFO: the journal would keep numbers on the do-not-record list (the line decides).
            log.debug("%s: caller ID %s", self.port, " | ".join(raw))
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
