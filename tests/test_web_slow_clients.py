"""Slow clients cannot take the web page down (web/server.py), over real sockets on loopback.

The pen-test finding: 105 sockets that trickle header lines made /login time out for everyone
(waitress's defaults: 100 connections, 120 s idle, no deadline for a request). Here 200 such
sockets from four addresses (Linux routes all of 127/8 to lo: a client socket bound to
127.0.0.2 comes from there) leave the login page answering within a second, and the server
closes them once the request deadline passes; one address over the per-address cap has its
extra connections closed at once; idle keep-alive connections are closed; and a client reading
a big download slowly, or pausing, is never cut. The deadlines are shortened for the test
(`web.server.Limits`); every other limit is the box's.
"""
from __future__ import annotations

import socket
import threading
import time
from collections import Counter

import pytest
import requests

import simtools as st
import web
import webtools as wt
from appliance.store import db as dbmod
from web.server import Limits

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

TRICKLERS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
PERIOD_S = 0.5        # one more header line this often


def wait_for(condition, timeout: float, what: str):
    return st.wait_for(condition, timeout, what, step=0.05)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return wt.make_data(tmp_path_factory.mktemp("slow"))


@pytest.fixture
def serve(data):
    """serve(limits, trust_proxy=False) -> port of the real app under web.serve_in_thread."""
    handles = []

    def start(limits: Limits, trust_proxy: bool = False) -> int:
        handle = web.serve_in_thread(data, "127.0.0.1", 0, trust_proxy=trust_proxy, limits=limits)
        handles.append(handle)
        return int(handle.port)
    yield start
    for handle in handles:
        handle.close()


def connect(port: int, source: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return s


def is_closed(s: socket.socket) -> bool:
    """Has the server closed it (EOF or reset)? Reads and drops whatever it had sent before."""
    s.setblocking(False)
    try:
        while True:
            if not s.recv(65536):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.settimeout(5.0)


def read_response(s: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length; leaves the connection open."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before a whole response: {buf[:200]!r}"
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed in the middle of a body"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def status_from(port: int, source: str, path: str = "/login") -> int | None:
    """GET path on a new connection from source; None if the server closed it unanswered."""
    with connect(port, source) as s:
        try:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            return read_response(s)[0]
        except (AssertionError, OSError):
            return None


def login_page_answers(port: int, within: float = 1.0) -> float:
    """A normal browser-like GET /login from 127.0.0.1 on a fresh connection: 200 within `within` s."""
    client = wt.Client(f"http://127.0.0.1:{port}")
    try:
        started = time.monotonic()
        try:
            r = client.get("/login", timeout=within)
        except requests.RequestException as e:
            r = e
        if isinstance(r, Exception):
            pytest.fail(f"/login did not answer within {within} s: {r!r}")
        elapsed = time.monotonic() - started
        assert r.status_code == 200 and 'name="password"' in r.text
        assert elapsed < within
        return elapsed
    finally:
        client.close()


class Trickle:
    """Sockets that each began `GET /login` and send one more header line every PERIOD_S: the
    slow client of the finding. A thread keeps them going and notes when the server closed each."""

    def __init__(self, port: int, sources: tuple[str, ...], count: int) -> None:
        self.socks: list[socket.socket] = []
        self.source: list[str] = []
        self.opened: list[float] = []
        self.closed_at: dict[int, float] = {}
        self.rounds = 0
        self.lock = threading.Lock()
        self._stop = threading.Event()
        try:
            for i in range(count):
                source = sources[i % len(sources)]
                s = connect(port, source)
                self.socks.append(s)
                self.source.append(source)
                self.opened.append(time.monotonic())
                s.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(PERIOD_S):
            n += 1
            for i, s in enumerate(self.socks):
                if i in self.closed_at:
                    continue
                closed = is_closed(s)
                if not closed:
                    try:
                        s.setblocking(False)
                        s.send(f"X-Trickle-{n}: {'a' * 20}\r\n".encode())
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed = True
                    finally:
                        s.settimeout(5.0)
                if closed:
                    with self.lock:
                        self.closed_at[i] = time.monotonic()
            self.rounds = n

    def open_per_source(self) -> Counter:
        with self.lock:
            return Counter(src for i, src in enumerate(self.source) if i not in self.closed_at)

    def close(self) -> None:
        self._stop.set()
        if getattr(self, "_thread", None):
            self._thread.join(5)
        for s in self.socks:
            s.close()


@pytest.mark.parametrize("per_address", [Limits.per_address, 10_000], ids=["box-cap", "no-cap"])
@pytest.mark.slow
def test_200_trickling_sockets_leave_the_login_page_answering(serve, per_address):
    """The finding's scenario with 200 sockets. /login answers within a second while they
    trickle; with the box's cap (32 an address) the server keeps 128 of them and closes the rest
    at once, with no cap it holds all 200 (connection_limit is far above waitress's 100); then
    the request deadline closes every one it kept, none before its time."""
    deadline = 3.0
    port = serve(Limits(request_timeout=deadline, per_address=per_address))
    login_page_answers(port, within=5.0)       # warmed up (the first page renders templates)
    trickle = Trickle(port, TRICKLERS, 200)
    try:
        wait_for(lambda: trickle.rounds >= 1, 5.0, "every socket has sent one more header line")
        for _ in range(3):
            login_page_answers(port)
        expected = {src: min(50, per_address) for src in TRICKLERS}
        wait_for(lambda: trickle.open_per_source() == expected,
                 deadline - 0.5 - (time.monotonic() - trickle.opened[-1]),
                 f"the server keeps {expected} trickling connections until the deadline")

        wait_for(lambda: not trickle.open_per_source(), deadline + 5.0,
                 "the server closes the trickling connections after the request deadline")
        life = {i: trickle.closed_at[i] - trickle.opened[i] for i in trickle.closed_at}
        kept = [i for i in life if life[i] > deadline / 2]
        assert len(kept) == sum(expected.values())
        assert min(life[i] for i in kept) >= deadline - 0.2
        login_page_answers(port)
    finally:
        trickle.close()


def test_one_address_over_the_cap_gets_its_extra_connections_closed_at_once(serve):
    cap = Limits.per_address
    port = serve(Limits())
    hog = []
    try:
        for _ in range(cap + 4):
            hog.append(connect(port, "127.0.0.6"))
        wait_for(lambda: sum(is_closed(s) for s in hog[cap:]) == 4, 3.0, "the 4 extra connections closed")
        assert not any(is_closed(s) for s in hog[:cap])
        assert status_from(port, "127.0.0.6") is None           # a new one from it: closed unanswered
        assert status_from(port, "127.0.0.7") == 200            # anyone else is served
        login_page_answers(port)
        # Its connections are counted until they close, no longer.
        hog[0].close()
        wait_for(lambda: status_from(port, "127.0.0.6") == 200, 5.0, "a freed slot serves it again")
    finally:
        for s in hog:
            s.close()


def test_the_trusted_proxy_is_not_capped(serve):
    """With --trust-proxy every client comes through 127.0.0.1: it has no per-address cap."""
    port = serve(Limits(per_address=2), trust_proxy=True)
    held = []
    try:
        for source in ("127.0.0.1",) * 5 + ("127.0.0.8",) * 2:
            held.append(connect(port, source))
        assert status_from(port, "127.0.0.1") == 200
        assert status_from(port, "127.0.0.8") is None
        assert not any(is_closed(s) for s in held)
    finally:
        for s in held:
            s.close()


def test_requests_that_do_not_arrive_whole_in_time_get_a_408(serve):
    deadline = 1.0
    port = serve(Limits(request_timeout=deadline, idle_timeout=6.0))
    socks = {name: connect(port) for name in ("headers", "body", "blank lines", "keep-alive")}
    try:
        started = time.monotonic()
        socks["headers"].sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks["body"].sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                              b"application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\nname=ad")
        results = {}
        last_answer = 0.0
        while len(results) < 3 and time.monotonic() - started < deadline + 6.0:
            # Blank lines (allowed between requests) never make a request: they keep nothing alive.
            if "blank lines" not in results:
                try:
                    socks["blank lines"].sendall(b"\r\n")
                except OSError:
                    pass
            # Whole requests one after another on a keep-alive connection are never timed out.
            socks["keep-alive"].sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_response(socks["keep-alive"])[0] == 200
            last_answer = time.monotonic() - started
            for name in ("headers", "body"):
                if name not in results:
                    socks[name].setblocking(False)
                    try:
                        got = socks[name].recv(65536)
                    except BlockingIOError:
                        continue
                    finally:
                        socks[name].settimeout(5.0)
                    results[name] = (time.monotonic() - started, got)
            if "blank lines" not in results and is_closed(socks["blank lines"]):
                results["blank lines"] = (time.monotonic() - started, b"")
            time.sleep(0.2)
        assert set(results) == {"headers", "body", "blank lines"}, results
        for name in ("headers", "body"):
            elapsed, got = results[name]
            assert got.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), (name, got)
            assert b"\r\nConnection: close\r\n" in got
            assert deadline - 0.2 <= elapsed < deadline + 4.0
            wait_for(lambda name=name: is_closed(socks[name]), 3.0, f"{name}: closed after its 408")
        elapsed, _ = results["blank lines"]
        assert deadline - 0.2 <= elapsed < deadline + 4.0
        assert last_answer > deadline                    # the keep-alive one outlived the deadline
        assert not is_closed(socks["keep-alive"])
    finally:
        for s in socks.values():
            s.close()


def test_idle_connections_are_closed_after_the_idle_timeout(serve):
    idle = 1.0
    port = serve(Limits(idle_timeout=idle))
    kept_alive, silent = connect(port), connect(port)
    try:
        opened = time.monotonic()
        kept_alive.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(kept_alive)[0] == 200
        answered = time.monotonic()
        assert not is_closed(kept_alive)                   # kept alive for the next request...
        wait_for(lambda: is_closed(kept_alive), idle + 4.0, "the idle keep-alive connection closed")
        assert time.monotonic() - answered >= idle - 0.2   # ...until it has been idle that long
        wait_for(lambda: is_closed(silent), idle + 4.0, "a connection that never sent anything closed")
        assert time.monotonic() - opened >= idle - 0.2
    finally:
        kept_alive.close()
        silent.close()


def test_a_slow_reader_of_a_big_download_is_not_cut(serve, data):
    """A manager downloads a recording (made 12 MB here) over a small receive window, reading
    slowly and then pausing for several times the idle and request timeouts: all of it arrives."""
    db = dbmod.connect(data)
    try:
        call_id, rel = db.execute("SELECT id, path FROM calls WHERE status = 'complete' "
                                  "ORDER BY started_at LIMIT 1").fetchone()
    finally:
        db.close()
    path = data / rel
    mp3 = path.read_bytes()
    path.write_bytes(mp3 * (12 * 1024 * 1024 // len(mp3) + 1))
    expected = path.read_bytes()

    port = serve(Limits(request_timeout=0.5, idle_timeout=0.5))
    manager = wt.login(f"http://127.0.0.1:{port}", "manager")
    cookie = "; ".join(f"{c.name}={c.value}" for c in manager.cookies)
    manager.close()
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)    # before connect: the window
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET /calls/{call_id}/download HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Cookie: {cookie}\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            assert chunk
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert f"content-length: {len(expected)}".encode() in head.lower()
        body = bytearray(body)
        slow_until = time.monotonic() + 1.5
        while time.monotonic() < slow_until:        # slowly: 8 KB every 50 ms
            chunk = s.recv(8192)
            assert chunk, f"cut after {len(body)} bytes"
            body += chunk
            time.sleep(0.05)
        time.sleep(2.5)                              # a paused player: reads nothing for a while
        while len(body) < len(expected):
            chunk = s.recv(1 << 20)
            assert chunk, f"cut after {len(body)} of {len(expected)} bytes"
            body += chunk
        assert bytes(body) == expected
    finally:
        s.close()


def _big_recording(data, megabytes: int, offset: int) -> str:
    """Make one of the test calls' recordings `megabytes` long (its MP3 repeated); its call id."""
    db = dbmod.connect(data)
    try:
        call_id, rel = db.execute("SELECT id, path FROM calls WHERE status = 'complete' "
                                  "ORDER BY started_at LIMIT 1 OFFSET ?", [offset]).fetchone()
    finally:
        db.close()
    path = data / rel
    mp3 = path.read_bytes()
    path.write_bytes(mp3 * (megabytes * 1024 * 1024 // len(mp3) + 1))
    return call_id


def _cookie(port: int, role: str) -> str:
    client = wt.login(f"http://127.0.0.1:{port}", role)
    try:
        return "; ".join(f"{c.name}={c.value}" for c in client.cookies)
    finally:
        client.close()


TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8      # linux/tcp_states.h


def closed_unread(s: socket.socket) -> bool:
    """Has the server closed (or reset) it? Asked of the kernel's TCP state, without reading: a
    read would make the client one that takes its answer."""
    state = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    return state in (TCP_CLOSE, TCP_CLOSE_WAIT)


def _not_reading(port: int, source: str, request: bytes) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)     # before connect: a tiny window
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(request)
    return s


@pytest.mark.slow
def test_players_that_stop_reading_a_long_recording_do_not_hold_the_workers(serve, data):
    """Five listeners ask for a recording bigger than waitress's 16 MB output buffer with a Range
    (werkzeug streams those, so each worker thread blocks once the buffer is full) and never read:
    with all four workers stuck /login would never answer. The send rule closes them."""
    call_id = _big_recording(data, 20, offset=1)
    port = serve(Limits(send_window=1.0))
    cookie = _cookie(port, "listener")
    request = (f"GET /calls/{call_id}/audio HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-\r\n"
               f"Cookie: {cookie}\r\n\r\n").encode()
    stuck = [_not_reading(port, "127.0.0.8", request) for _ in range(5)]
    try:
        wait_for(lambda: all(closed_unread(s) for s in stuck), 15.0,
                 "the server closes the connections whose clients stopped reading")
        login_page_answers(port)
    finally:
        for s in stuck:
            s.close()


def test_pipelined_answers_nobody_takes_are_closed(serve):
    """No login needed: 150 pipelined requests for a stylesheet on each connection, never read.
    Without the send rule such connections stay open as long as the client takes a byte now and
    then; here each must move min_send_rate, or it is closed after one send window (what the
    kernel's send buffer took off the server's hands counts as idle: closed after idle_timeout,
    even though the socket never becomes writable again)."""
    port = serve(Limits(send_window=1.0, idle_timeout=1.0))
    request = b"GET /static/hookline.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 150
    hogs = [_not_reading(port, "127.0.0.9", request) for _ in range(8)]
    try:
        time.sleep(0.5)
        assert not any(closed_unread(s) for s in hogs), "closed before a whole window had passed"
        wait_for(lambda: all(closed_unread(s) for s in hogs), 10.0, "the hogging connections are closed")
        login_page_answers(port)
    finally:
        for s in hogs:
            s.close()
