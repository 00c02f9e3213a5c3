"""Serving the web UI with waitress, with limits fit for a box on an office LAN.

waitress's defaults (100 connections, 120 s before an idle connection is closed, no deadline for
a request to arrive) let one slow client take the page down: a hundred sockets that trickle
header lines hold every connection slot. Here the server keeps:

- many connection slots (`Limits.connection_limit`), with the open-file limit raised to match;
- a cap per client address (`Limits.per_address`): connections over it are closed at once (the
  trusted reverse proxy's address is exempt with `--trust-proxy`, every client comes through it);
- a deadline for a request to arrive whole, headers and body (`Limits.request_timeout`, nginx's
  client_header_timeout/client_body_timeout, Apache's mod_reqtimeout): a connection that began a
  request and has not finished it in time gets a 408 and is closed;
- a short idle keep-alive timeout (`Limits.idle_timeout`), checked every second;
- a cap on the size of a request's headers (`Limits.max_header_bytes`).

A client must take what it asked for: while an answer waits on the client (a long MP3, a
pile of pipelined answers), it must take at least `Limits.min_send_rate` bytes a second over
each `Limits.send_window`, or the connection is closed (a paused player's browser asks again
with a Range when it resumes). This also frees a worker thread blocked on a client that stopped
reading an answer bigger than waitress's output buffer. A client that keeps taking is never cut.

This relies on waitress 3.0's HTTPChannel and TcpWSGIServer internals (pinned in pyproject.toml):
the server's `maintenance`, `handle_accept`, `add_task`, `active_channels` and `readable`'s
cleanup schedule; the channel's `received`, `request`/`requests`, their locks, `outbufs`,
`total_outbufs_len`, `last_activity`, `will_close`/`close_when_flushed` and `del_channel`.
"""
from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher
from waitress.utilities import Error

from appliance import logformat

log = logging.getLogger("hookline.web")

TRUSTED_PROXY = "127.0.0.1"     # `hookline web --trust-proxy`: the reverse proxy on this box
FD_RESERVE = 64                 # listening socket, trigger pipe, SQLite, logs, status file
FDS_PER_CONNECTION = 2          # its socket, and the recording it may be sending


@dataclass(frozen=True)
class Limits:
    """How much the web server gives each client (seconds, bytes). The defaults are the box's."""

    connection_limit: int = 1000     # open connections in all (waitress: 100)
    per_address: int = 32            # open connections from one client address (a browser opens <= 6)
    request_timeout: float = 10.0    # from a request's first byte until it has arrived whole
    idle_timeout: float = 15.0       # a keep-alive connection with no request (waitress: 120)
    send_window: float = 60.0        # an answer waiting on its client must move at least ...
    min_send_rate: int = 1024        # ... this many bytes a second over each window (32 kbit/s MP3: 4 KB/s)
    max_header_bytes: int = 16 * 1024   # request line and headers (waitress: 256 KB)
    threads: int = 4


class RequestTimeout(Error):
    code = 408
    reason = "Request Timeout"


class _Channel(HTTPChannel):
    """One client connection: knows since when a request it has not finished has been arriving."""

    # time.monotonic() of the first byte of a request not yet complete (waitress's own times are
    # time.time(): the box's clock jumps when NTP first sets it)
    request_started: float | None = None
    bytes_sent = 0
    # (time.monotonic(), bytes_sent then) since an answer has been waiting on the client
    send_window: tuple[float, int] | None = None
    _counted = False

    def __init__(self, server, sock, addr, adj, map=None):
        super().__init__(server, sock, addr, adj, map=map)
        server.connections_from[addr[0]] += 1
        self._counted = True

    def del_channel(self, map=None):
        super().del_channel(map)
        if self._counted:
            self._counted = False
            self.server.connection_closed(self.addr[0])

    def send(self, data, do_close=True):
        sent = super().send(data, do_close=do_close)
        self.bytes_sent += sent or 0
        return sent

    def close_now(self, reset: bool = False) -> None:
        """Close the connection from the loop's thread (maintenance). waitress's will_close alone
        is not enough: a socket whose client does not read never becomes writable, so waitress
        would never get to close it. Shut down, the poll loop closes it as it would a client that
        hung up, which also wakes a worker blocked on it. reset: with an RST, dropping what the
        kernel still holds for a client that stopped taking its answer."""
        self.will_close = True
        try:
            if reset:
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def received(self, data):
        # The clock starts at the first byte and stops when a whole request is queued
        # (_LanServer.add_task): blank lines between requests do not restart it.
        if data and self.request_started is None:
            self.request_started = time.monotonic()
        result = super().received(data)
        if self.request is not None and self.request_started is None:
            self.request_started = time.monotonic()     # the next request began in the same read
        return result

    def time_out_request(self, timeout: float) -> bool:
        """Close the connection now: with a 408 if it had begun a request, silently if it has
        only sent blank lines. Only while no request is being answered (the loop's thread)."""
        with self.requests_lock:
            if self.requests or self.will_close or self.close_when_flushed:
                return False
            request, self.request = self.request, None
            self.request_started = None
        began = request is not None and (request.headers_finished or request.header_plus.strip())
        if request is not None:
            request.close()
        if not began:
            self.close_now()
            return True
        status, headers, body = RequestTimeout(
            f"The request did not arrive whole within {timeout:g} s.").to_response(self.adj.ident)
        head = [f"HTTP/1.1 {status}", "Connection: close", f"Content-Length: {len(body)}",
                f"Date: {formatdate(usegmt=True)}", f"Server: {self.adj.ident}"]
        head += [f"{name}: {value}" for name, value in headers]
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        with self.outbuf_lock:     # as waitress's own send_continue() does
            self.outbufs[-1].append(payload)
            self.current_outbuf_count += len(payload)
            self.total_outbufs_len += len(payload)
        self.close_when_flushed = True
        return True


class _LanServer(TcpWSGIServer):
    """waitress's TCP server with a per-address cap, a request deadline and Limits' timeouts."""

    channel_class = _Channel

    def __init__(self, application, *, limits: Limits, exempt: frozenset[str], **kw) -> None:
        self.limits = limits
        self.exempt = exempt
        self.connections_from: Counter[str] = Counter()
        self._refusal_logged: dict[str, float] = {}
        super().__init__(application, **kw)

    def handle_accept(self) -> None:
        # waitress's handle_accept, with the per-address cap before a channel is made.
        try:
            pair = self.accept()
            if pair is None:
                return
            conn, addr = pair
        except OSError:
            if self.adj.log_socket_errors:
                self.logger.warning("server accept() threw an exception", exc_info=True)
            return
        addr = self.fix_addr(addr)
        host = addr[0]
        if host not in self.exempt and self.connections_from[host] >= self.limits.per_address:
            conn.close()
            self._log_refusal(host)
            return
        try:
            self.set_socket_options(conn)
            self.channel_class(self, conn, addr, self.adj, map=self._map)
        except OSError:    # the client has already gone (an error here would close the listener)
            conn.close()

    def connection_closed(self, host: str) -> None:
        self.connections_from[host] -= 1
        if self.connections_from[host] <= 0:
            del self.connections_from[host]

    def _log_refusal(self, host: str) -> None:
        now = time.monotonic()
        if now - self._refusal_logged.get(host, -3600.0) < 60:
            return
        if len(self._refusal_logged) > 1000:
            self._refusal_logged.clear()
        self._refusal_logged[host] = now
        log.warning("%s has %d connections open, the most one address may: closing its new ones "
                    "(logged once a minute)", host, self.limits.per_address)

    def add_task(self, task) -> None:
        task.request_started = None    # the channel has queued a whole request: its clock stops
        super().add_task(task)

    def maintenance(self, now: float) -> None:
        """Called by waitress about every cleanup_interval (1 s). Replaces waitress's rule (close
        what has had no activity for channel_timeout, unless a request is being answered)."""
        limits = self.limits
        clock = time.monotonic()     # for request_started; `now` is waitress's time.time()
        timed_out, stalled = [], []
        for channel in list(self.active_channels.values()):
            if self._stalled(channel, clock):
                channel.close_now(reset=True)
                stalled.append(channel.addr[0])
                continue
            if channel.will_close or channel.close_when_flushed:
                continue
            if channel.requests or channel.total_outbufs_len:
                # An answer is being made or sent: the stall rule above is its only limit; a
                # request that came along with it gets its full time once the answer is out.
                if channel.request_started is not None:
                    channel.request_started = clock
                continue
            if channel.request is not None and channel.request_started is None:
                channel.request_started = clock
            if channel.request_started is not None and clock - channel.request_started > limits.request_timeout:
                if channel.time_out_request(limits.request_timeout):
                    timed_out.append(channel.addr[0])
            elif now - channel.last_activity > limits.idle_timeout:
                # Answers the kernel still holds for a client that reads nothing are dropped (RST):
                # a FIN queued behind them would never reach it, and the kernel would keep them.
                channel.close_now(reset=_kernel_unsent(channel.socket) > 0)
        if timed_out:
            log.info("closed %d connection(s) that had not sent a whole request within %g s (from %s)",
                     len(timed_out), limits.request_timeout, ", ".join(sorted(set(timed_out))[:5]))
        if stalled:
            log.info("closed %d connection(s) whose client took less than %d bytes/s of its answer for %g s "
                     "(from %s)", len(stalled), limits.min_send_rate, limits.send_window,
                     ", ".join(sorted(set(stalled))[:5]))

    def _stalled(self, channel: _Channel, clock: float) -> bool:
        """Has an answer waited on this client for a whole send window while it took less than
        min_send_rate? Only while the loop would be sending if it could: not while the app is
        still making a small answer (waitress sends that once it has send_bytes of it)."""
        waiting = channel.total_outbufs_len and (not channel.requests or
                                                 channel.total_outbufs_len >= channel.adj.send_bytes)
        if not waiting:
            channel.send_window = None
            return False
        if channel.send_window is None:
            channel.send_window = (clock, channel.bytes_sent)
            return False
        began, sent_then = channel.send_window
        if clock - began < self.limits.send_window:
            return False
        if channel.bytes_sent - sent_then < self.limits.min_send_rate * (clock - began):
            return True
        channel.send_window = (clock, channel.bytes_sent)
        return False


def _kernel_unsent(sock: socket.socket) -> int:
    """Bytes the kernel has not yet sent on this socket (Linux SIOCOUTQ); 0 where unknown."""
    try:
        import fcntl
        import termios
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except (ImportError, OSError, AttributeError):
        return 0


def _fit_open_files(connection_limit: int) -> int:
    """Raise the soft RLIMIT_NOFILE to what connection_limit needs (up to the hard limit); returns
    the connection limit the open-file limit allows (accept() failing with EMFILE would make the
    loop spin)."""
    try:
        import resource
    except ImportError:    # not a POSIX system
        return connection_limit
    need = FDS_PER_CONNECTION * connection_limit + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return connection_limit
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, e)
    if soft >= need:
        return connection_limit
    fitted = max(1, (soft - FD_RESERVE) // FDS_PER_CONNECTION)
    log.warning("the open-file limit (%d, hard %s) allows %d connections, not %d: serving at most "
                "that many (raise LimitNOFILE)", soft, "unlimited" if hard == resource.RLIM_INFINITY else hard,
                fitted, connection_limit)
    return fitted


def _waitress_options(trust_proxy: bool, limits: Limits, connection_limit: int) -> dict:
    from . import MAX_BODY_BYTES
    options = {
        "threads": limits.threads, "max_request_body_size": MAX_BODY_BYTES, "ident": "Hookline",
        "connection_limit": connection_limit,
        "max_request_header_size": limits.max_header_bytes,
        # _LanServer.maintenance applies Limits' timeouts (waitress's channel_timeout is unused);
        # waitress calls it every cleanup_interval seconds, and its loop wakes at least every second.
        "cleanup_interval": 1,
        # select() cannot watch file descriptors above 1023; poll() can.
        "asyncore_use_poll": True,
    }
    if trust_proxy:
        # A reverse proxy on this box (Caddy, nginx doing HTTPS): waitress takes the client's
        # address and scheme from its X-Forwarded-For/-Proto, so the login rate limit and the
        # audit log see real addresses and cookies get Secure. From anyone else those headers
        # are dropped (waitress's default).
        options.update(trusted_proxy=TRUSTED_PROXY, trusted_proxy_count=1,
                       trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"})
    return options


def create_server(app, host: str, port: int, *, trust_proxy: bool = False, limits: Limits | None = None):
    """waitress's create_server() with _LanServer: one per address `host` resolves to."""
    limits = limits or Limits()
    adj = Adjustments(host=host, port=port,
                      **_waitress_options(trust_proxy, limits, _fit_open_files(limits.connection_limit)))
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict = {}
    exempt = frozenset({TRUSTED_PROXY}) if trust_proxy else frozenset()
    servers = [_LanServer(app, map=socket_map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo,
                          limits=limits, exempt=exempt)
               for sockinfo in adj.listen]
    if len(servers) == 1:
        return servers[0]
    return MultiSocketServer(socket_map, adj, [(s.effective_host, s.effective_port) for s in servers],
                             dispatcher, servers[-1].log_info)


def serve(data_dir: str | Path, host: str, port: int, status_file: str | Path | None = None,
          config_file: str | Path | None = None, trust_proxy: bool = False, *,
          limits: Limits | None = None) -> None:
    from . import create_app
    logformat.configure(logging.WARNING, logging.BASIC_FORMAT)    # as waitress.serve() does; idempotent
    server = create_server(create_app(data_dir, status_file, config_file=config_file), host, port,
                           trust_proxy=trust_proxy, limits=limits)
    server.print_listen("Serving on http://{}:{}")
    server.run()


class _Server:
    """waitress running in a background thread; close() stops it from any other thread.

    The socket loop itself closes the sockets once asked to stop: closing them from another
    thread while the loop is inside select() makes it fail with EBADF.
    """

    def __init__(self, server) -> None:
        self._server = server
        self.port = server.effective_port
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        server = self._server
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map,
                               use_poll=server.adj.asyncore_use_poll, count=1)
        finally:
            server.task_dispatcher.shutdown()
            wasyncore.close_all(server._map, ignore_all=True)

    def close(self, timeout: float = 10.0) -> None:
        """Stop serving: the loop ends, waitress's workers finish their current task (it waits up
        to 5 s), and every socket is closed; returns when the server thread has ended."""
        # The flag is set by the loop thread itself when the trigger wakes it: setting it from
        # here first could let the loop close the trigger before we pull it.
        try:
            self._server.trigger.pull_trigger(self._stopping.set)
        except OSError:   # already closed: the loop has ended
            self._stopping.set()
        self._thread.join(timeout)


def serve_in_thread(data_dir: str | Path, host: str, port: int, status_file: str | Path | None = None,
                    trust_proxy: bool = False, *, limits: Limits | None = None,
                    config_file: str | Path | None = None) -> _Server:
    """Start waitress in a background thread (the demo and the tests run it beside the daemon)."""
    from . import create_app
    return _Server(create_server(create_app(data_dir, status_file, config_file=config_file), host, port,
                                 trust_proxy=trust_proxy, limits=limits))
