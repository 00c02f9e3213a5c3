"""The command channel to the running recorder: a Unix socket beside its status file (on the
box /run/hookline/control.sock), one JSON request and one JSON answer per connection.

The recorder answers from a thread of its own, within a fraction of a second; a client that
finds nobody listening fails at once with a message saying the recorder is not running. The
socket is the box user's and its group's (0660): the web page and root may ask, nobody else.

    {"command": "status"}   ->  {"ok": true, "result": {...}}
    {"command": "pause", "line": 1, "by": "web", "user": "ann"}
                            ->  {"ok": true, "result": {"line": 1, "paused": true, "paused_s": 0.0, "changed": true}}
    {"command": "resume", "line": 1, ...}   (the same; resuming a call that is not paused changes
                                             nothing: "changed": false and a message)
    {"command": "export-start" | "export-status" | "export-cancel", ...}
                            (the USB export runner: appliance/export/commands.py)
    {"command": "nope"}     ->  {"ok": false, "error": "unknown command 'nope' (known: pause, resume, status)"}
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("hookline.control")

SOCKET_NAME = "control.sock"
MAX_REQUEST = 64 * 1024
ANSWER_TIMEOUT_S = 2.0          # a client gives up on an answer after this (the recorder answers in ms)
MAX_PATH = 107                  # sockaddr_un's sun_path, with its NUL


class ControlError(RuntimeError):
    """The recorder did not answer, or answered with an error; the message says which, and code
    (for programs) what kind of refusal it was: "not-running", or the handler's code."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class Refused(ValueError):
    """A handler's answer that the command cannot be done (no such line, no call): its message
    goes back as the error, with its code, and nothing is logged."""

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


def socket_path(status_file: str | Path) -> Path:
    """Where the command channel of the recorder writing this status file listens."""
    return Path(status_file).with_name(SOCKET_NAME)


# -- the recorder's side ------------------------------------------------------------------------------
class ControlServer:
    """Answers commands on the socket, each from a registered handler, in a thread of its own."""

    def __init__(self, path: str | Path, handlers: dict[str, Callable[[dict[str, Any]], Any]]) -> None:
        self.path = Path(path)
        self.handlers = handlers
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> bool:
        """Listen; False (logged) when the socket cannot be made, which leaves the recorder
        recording: only the channel is missing."""
        if len(os.fsencode(self.path)) > MAX_PATH:
            log.warning("no command channel: the socket path %s is longer than a Unix socket allows", self.path)
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._remove_stale()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(self.path))
            os.chmod(self.path, 0o660)
            sock.listen(16)
            sock.settimeout(0.2)            # so stop() is noticed promptly
        except OSError as e:
            log.warning("no command channel at %s: %s", self.path, e)
            return False
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()
        return True

    def _remove_stale(self) -> None:
        """A socket left by a recorder that died: remove it, unless a live one answers there."""
        if not self.path.exists():
            return
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.path))
        except OSError:
            self.path.unlink()
            return
        finally:
            probe.close()
        raise OSError(f"another recorder answers at {self.path}")

    def stop(self) -> None:
        self._stopping.set()
        if self._thread:
            self._thread.join(5)
        if self._sock:
            self._sock.close()
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if not self._stopping.is_set():
                    log.exception("command channel: accept failed")
                return
            with conn:
                conn.settimeout(ANSWER_TIMEOUT_S)
                try:
                    conn.sendall(json.dumps(self._answer(_read_line(conn))).encode() + b"\n")
                except OSError:
                    pass        # the client went away: its loss

    def _answer(self, raw: bytes | None) -> dict[str, Any]:
        try:
            request = json.loads(raw) if raw else None
        except ValueError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return {"ok": False, "error": 'send one JSON object with a "command" on one line'}
        handler = self.handlers.get(request["command"])
        if handler is None:
            return {"ok": False, "error": f"unknown command {request['command'][:40]!r} "
                                          f"(known: {', '.join(sorted(self.handlers))})"}
        try:
            return {"ok": True, "result": handler(request)}
        except Refused as e:
            return {"ok": False, "error": str(e), "code": e.code}
        except Exception as e:      # a failing command must not take the channel down
            log.exception("command channel: %s failed", request["command"])
            return {"ok": False, "error": f"{request['command']} failed: {e}"}


def _read_line(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\n" not in data and len(data) <= MAX_REQUEST:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0] if len(data) <= MAX_REQUEST else None


# -- a client's side ----------------------------------------------------------------------------------
def ask(path: str | Path, command: str, timeout: float = ANSWER_TIMEOUT_S, **arguments: Any) -> Any:
    """Send a command to the recorder listening at path; its result, or ControlError."""
    path = Path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(f"the recorder is not running (nothing answers at {path})", "not-running") from None
        except PermissionError:
            raise ControlError(f"not allowed to talk to the recorder at {path} "
                               "(run as root or the box's user)") from None
        sock.sendall(json.dumps({**arguments, "command": command}).encode() + b"\n")
        raw = _read_line(sock)
    except TimeoutError:
        raise ControlError(f"the recorder did not answer within {timeout:g} s") from None
    except OSError as e:
        raise ControlError(f"cannot talk to the recorder at {path}: {e.strerror or e}") from None
    finally:
        sock.close()
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ControlError("the recorder's answer was not understood")
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error") or "the recorder refused"), answer.get("code"))
    return answer.get("result")
