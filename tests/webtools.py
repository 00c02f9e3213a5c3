"""Helpers for the web tests: a data folder with simulated calls and users, the real app under
waitress on a free port, and logged-in HTTP sessions (requests) that carry CSRF tokens."""
from __future__ import annotations

import contextlib
import html
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import requests

import simtools as st
import web
from appliance.store import db as dbmod, users

# The pages show times in the box's zone; the tests read them in UTC, as the simulator writes them.
os.environ["TZ"] = "UTC"
time.tzset()

PASSWORDS = {"admin": "correct horse admin 1", "manager": "owner of the office 2", "listener": "just listening here 3"}

SCENARIO = """
[appliance]
start = "2026-03-15T14:12:00Z"
sample_rate = 8000
seed = 5

[[line]]
id = 1
offhook = "gpio"
callerid = "modem"

[[line]]
id = 2
offhook = "gpio"
callerid = "none"

[[call]]
line = 1
at = 0.5
direction = "inbound"
rings = 1
caller_id = { number = "5551234567", name = "DOE JOHN" }
talk = 4.0
near = "tone:440@-12"
far = "tone:1000@-12"

[[call]]
line = 2
at = 1.0
direction = "outbound"
dial = "02079460000"
talk = 3.0
near = "noise@-30"
far = "tone:660@-16"

[[call]]
line = 1
at = 12.0
direction = "outbound"
talk = 1.0                       # shorter than min_call_s (2 s): discarded
near = "tone:700@-12"
far = "silence"

[[call]]
line = 2
at = 10.0
direction = "inbound"
rings = 1
talk = 5.0
near = "tone:350@-20"
far = "noise@-28"
"""


def make_data(directory: Path, with_users: bool = True) -> Path:
    """A data folder holding four simulated calls (three kept, one discarded) and three users."""
    data = directory / "data"
    st.simulate(st.write_scenario(directory, SCENARIO), data)
    if with_users:
        db = dbmod.connect(data)
        try:
            for role, password in PASSWORDS.items():
                users.create_user(db, role, role, password)
        finally:
            db.close()
    return data


@dataclass
class Server:
    base: str
    data: Path
    handle: object

    def close(self) -> None:
        self.handle.close()


def start(data: Path, config_file: Path | None = None) -> Server:
    handle = web.serve_in_thread(data, "127.0.0.1", 0, config_file=config_file)
    return Server(f"http://127.0.0.1:{handle.port}", data, handle)


@contextlib.contextmanager
def serving(data: Path):
    """The web app on data for the length of a with block (a fixture's yield)."""
    server = start(data)
    try:
        yield server
    finally:
        server.close()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def form_value(page: str, name: str) -> str:
    """The value a page's form field holds (as a browser would submit it)."""
    match = re.search(rf'name="{re.escape(name)}"[^>]*?value="([^"]*)"', page)
    assert match, f"no field {name} in the page"
    return html.unescape(match.group(1))


class Client(requests.Session):
    """A browser-like session against one server: relative URLs, no automatic redirects."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False    # Session.get() asks for redirects; a test looks at each answer
        kwargs.setdefault("timeout", 30)
        return super().request(method, self.base + url if url.startswith("/") else url, *args, **kwargs)

    def token_from(self, path: str) -> str:
        r = self.get(path)
        assert r.status_code == 200, (path, r.status_code)
        return csrf(r.text)

    def post_form(self, path: str, data: dict, page: str | None = None) -> requests.Response:
        """POST a form the way the page would: with the CSRF token of the page it sits on."""
        return self.post(path, data={"csrf_token": self.token_from(page or path), **data})


def login(base: str, name: str, password: str | None = None) -> Client:
    client = Client(base)
    r = client.post_form("/login", {"name": name, "password": password or PASSWORDS[name]})
    assert r.status_code == 302, (r.status_code, r.text[:500])
    return client
