"""The dashboard's USB stick section, over real HTTP against the real app started with a box
config whose [export] mount_root is the test's: what it says of a good stick (its label,
filesystem and room in words), of one the box cannot export to (the sentence why), and of none."""
from __future__ import annotations

import html
import re

import pytest

import sticktools
import web
import webtools as wt
from appliance.export import sticks
from appliance.present.words import size

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")



@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(a listener's client, the mount root): the app serves the config's mount root."""
    base = tmp_path_factory.mktemp("sticks-web")
    data = wt.make_data(base)
    config = base / "hookline.toml"
    root = base / "media"
    sticktools.write_config(config, root, data)
    server = web.serve_in_thread(data, "127.0.0.1", 0, config_file=config)
    try:
        yield wt.login(f"http://127.0.0.1:{server.port}", "listener"), root
    finally:
        server.close()


def stick_section(client) -> list[str]:
    """What the section shows: one string per stick, or the one sentence saying there is none."""
    page = client.get("/")
    assert page.status_code == 200
    listed = re.search(r'<ul class="sticks" id="sticks"( hidden)?>(.*?)</ul>', page.text, re.S)
    empty = re.search(r'<p class="empty" id="sticks-empty"( hidden)?>(.*?)</p>', page.text, re.S)
    assert listed and empty, "the dashboard has no USB stick section"
    assert bool(listed[1]) != bool(empty[1]), "exactly one of the list and the sentence shows"
    if not empty[1]:
        return [empty[2]]
    items = re.findall(r'<li class="stick[^"]*">(.*?)</li>', listed[2], re.S)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item))).strip() for item in items]


def sticks_json(client) -> list[dict]:
    answer = client.get("/sticks")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    return answer.json()["sticks"]


NONE = ["No USB stick is plugged in."]


def test_no_stick(site):
    client, _ = site
    assert stick_section(client) == NONE


def test_a_good_stick_shows_its_label_filesystem_and_room(site, tmp_path):
    client, root = site
    with sticktools.ext4_stick(root, "OFFICE", 80, image=tmp_path / "office.img") as point:
        [stick] = sticks.find(root)
        [text] = stick_section(client)
        assert text == f"OFFICE ext4 · {size(stick.free_bytes)} free of {size(stick.total_bytes)}"
        assert sticks_json(client) == [{"label": "OFFICE", "filesystem": "ext4", "problem": None,
                                        "space": f"{size(stick.free_bytes)} free of {size(stick.total_bytes)}"}]
        assert re.search(r"\d+\.\d MB free of \d+\.\d MB$", text)
        (point / "big").write_bytes(b"\0" * (8 << 20))        # the room shown is the room now
        assert f"{size(sticks.find(root)[0].free_bytes)} free" in stick_section(client)[0]
    assert stick_section(client) == NONE and sticks_json(client) == []


def test_sticks_the_box_cannot_export_to_say_why(site, tmp_path):
    client, root = site
    with sticktools.tmpfs_stick(root, "RAMDISK"), \
            sticktools.ext4_stick(root, "LOCKED", 80, read_only=True, image=tmp_path / "locked.img"):
        locked, ramdisk = stick_section(client)           # in the order of their mount points
        assert locked.startswith("LOCKED ext4 · ") and "The stick is read-only: slide its lock switch off" in locked
        assert ramdisk.startswith("RAMDISK tmpfs · ")
        assert "The stick's filesystem is tmpfs, which the box does not export to: format it as FAT32 or exFAT" \
            in ramdisk
        assert [(s["label"], s["problem"][:20]) for s in sticks_json(client)] == [
            ("LOCKED", "The stick is read-on"), ("RAMDISK", "The stick's filesyst")]
