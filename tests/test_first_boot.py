"""What a box shows and holds when it first starts: every page leads to the administrator
set-up (there is no default user or password, in the app or in the image), there is no SSH
server, and the clock warning follows systemd-timesyncd's state.

The pages are the real app over HTTP on a fresh data folder, as install-on-box.sh leaves
/var/lib/hookline; the clock's state is the real flag file, in a folder the test owns."""
from __future__ import annotations

import re

import pytest

import simtools as st
import webtools as wt
from appliance import clock
from appliance.store import db as dbmod, users
from web import create_app

IMAGE = st.REPO / "image"


@pytest.fixture(scope="module")
def fresh_box(tmp_path_factory):
    """The web page on an empty data folder: what the box serves at its first start."""
    data = tmp_path_factory.mktemp("fresh") / "data"
    data.mkdir(mode=0o750)
    with wt.serving(data) as server:
        yield server


def _get_routes(folder) -> list[tuple[str, str]]:
    """(endpoint, a URL for it) for every GET route the app has, ids filled with a made-up value."""
    routes = []
    for rule in create_app(folder).url_map.iter_rules():
        if "GET" in rule.methods and rule.endpoint != "static":
            url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "1" if "line" in m.group(1) else "0000000000", rule.rule)
            routes.append((rule.endpoint, url))
    return routes


def test_a_fresh_box_sends_every_page_to_the_administrator_setup(fresh_box, tmp_path):
    routes = _get_routes(tmp_path / "route-list")
    assert len(routes) > 20, routes            # every page the app has, not a handful
    stranger = wt.Client(fresh_box.base)
    for endpoint, url in routes:
        r = stranger.get(url)
        if endpoint == "auth.setup":
            assert r.status_code == 200 and "There is no default password" in r.text
        elif url.startswith("/api/"):
            assert r.status_code == 401, (url, r.status_code)      # a script gets an answer it can read
        else:
            assert r.status_code == 302 and r.headers["Location"] == "/setup", (url, r.status_code)
    db = dbmod.connect(fresh_box.data)
    try:
        assert users.list_users(db) == []          # serving the page made no user
    finally:
        db.close()


@pytest.mark.parametrize("name, password", [("admin", "admin"), ("admin", "hookline"), ("pi", "raspberry"),
                                            ("root", "root"), ("hookline", "hookline"), ("admin", "")])
def test_no_default_login_opens_a_fresh_box(fresh_box, name, password):
    client = wt.Client(fresh_box.base)
    r = client.post("/login", data={"csrf_token": client.token_from("/setup"), "name": name, "password": password})
    assert r.status_code == 302 and r.headers["Location"] == "/setup"
    assert client.get("/calls").headers["Location"] == "/setup"


def test_the_image_scripts_set_no_password_and_install_no_ssh_server():
    scripts = [IMAGE / "install-on-box.sh", IMAGE / "build-image.sh", *sorted(IMAGE.glob("disk-*.sh")),
               *sorted((IMAGE / "stage-hookline").rglob("*.sh"))]
    assert all(s.exists() for s in scripts[:2])
    for script in scripts:
        text = "\n".join(line for line in script.read_text().splitlines() if not line.lstrip().startswith("#"))
        for setter in ("chpasswd", "passwd ", "usermod -p", "usermod --password", "useradd -p", "--password",
                       "openssl passwd", "mkpasswd"):
            assert setter not in text, f"{script.name} sets a password ({setter})"
        for ssh in ("openssh-server", "dropbear", "ssh.service", "sshd", "authorized_keys"):
            assert ssh not in text, f"{script.name} puts an SSH server on the box ({ssh})"
    # Every account install-on-box.sh makes has no login shell.
    for useradd in re.findall(r"useradd (?:[^\n\\]|\\\n)*", (IMAGE / "install-on-box.sh").read_text()):
        assert "--shell /usr/sbin/nologin" in useradd, useradd
    doc = " ".join((st.REPO / "docs" / "appliance.md").read_text().replace("*", "").split())
    assert "no SSH server" in doc and "no default password" in doc


# -- the clock --------------------------------------------------------------------------------------
def test_the_clock_counts_as_synchronised_exactly_while_timesyncd_says_so(tmp_path, monkeypatch):
    flag = tmp_path / "timesync" / "synchronized"
    monkeypatch.setattr(clock, "SYNC_FLAG", flag)
    real = clock.RealClock(8000)
    assert not clock.clock_synced() and not real.synced          # a boot before the first answer
    flag.parent.mkdir()
    flag.touch()                                                  # timesyncd set the clock
    assert clock.clock_synced() and real.synced
    flag.unlink()                                                 # a new boot: /run is empty again
    assert not real.synced


def test_the_page_warns_while_the_box_clock_is_not_synchronised(tmp_path, monkeypatch):
    flag = tmp_path / "synchronized"
    monkeypatch.setattr(clock, "SYNC_FLAG", flag)
    data = tmp_path / "data"
    db = dbmod.connect(data)
    try:
        users.create_user(db, "admin", "admin", wt.PASSWORDS["admin"])
    finally:
        db.close()
    with wt.serving(data) as server:
        client = wt.login(server.base, "admin")
        kinds = [w["kind"] for w in client.get("/api/v1/status").json()["warnings"]]
        assert "clock" in kinds                                  # the recorder is not running: the box's own state
        assert "The clock is not synchronised" in client.get("/").text
        flag.touch()
        assert "clock" not in [w["kind"] for w in client.get("/api/v1/status").json()["warnings"]]
        assert "The clock is not synchronised" not in client.get("/").text


def test_the_image_syncs_time_and_the_recorder_starts_after_the_saved_time_is_set():
    recorder = (st.REPO / "firmware_config" / "hookline-recorder.service").read_text()
    assert re.search(r"^After=.*\btime-set\.target\b", recorder, re.M)
    assert not re.search(r"^(After|Wants|Requires)=.*\btime-sync\.target\b", recorder, re.M), \
        "the recorder must not wait for the network to record"
    # Nothing in its sandbox hides timesyncd's state in /run.
    assert not re.search(r"^(InaccessiblePaths|TemporaryFileSystem)=.*/run", recorder, re.M)
    assert "systemd-timesyncd" in (IMAGE / "build-image.sh").read_text()
    assert "apt-get install -y -qq systemd-timesyncd" in (IMAGE / "install-on-box.sh").read_text()
