"""Recorded calls' tags as other software reads them: a simulated office through the real
recorder, then each MP3 read by id3lib (`id3v2 -l`), by eyeD3 and checked by mp3val, as a car
stereo or Windows would see it. Also: a call recovered after a crash is tagged as a live one is,
and a call on the do-not-record list leaves its number in no file."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import simtools as st
from appliance.recording import mp3frames
from appliance.store import catalog, db as dbmod
from appliance.store.kinds import Status

SCENARIO = """
[appliance]
start = "2026-03-04T22:12:00Z"
timezone = "America/Los_Angeles"
phone_region = "US"
dnr = [{ pattern = "+1 212 555 0100", label = "Doctor" }]

[[line]]
id = 1
offhook = "gpio"
callerid = "modem"

[[line]]
id = 2
name = "北京 José"
offhook = "gpio"
callerid = "none"

"""
# (line, first ring or off-hook, how the box learns who it is)
CALLS = [(1, 1.0, 'direction = "inbound"\nrings = 1\ncaller_id = { number = "4155550123", name = "ACME PLUMBING" }'),
         (2, 1.0, 'direction = "outbound"\ndial = "4155550124"'),
         (1, 10.0, 'direction = "inbound"\nrings = 1\ncaller_id = { number = "P", name = "P" }'),
         (2, 10.0, 'direction = "inbound"\nrings = 1'),                 # no caller ID, no ring input
         (1, 20.0, 'direction = "inbound"\nrings = 1\ncaller_id = { number = "2125550100", name = "DR WHO" }')]
SCENARIO += "".join(f'\n[[call]]\nline = {line}\nat = {at}\n{who}\ntalk = 3.0\nnear = "tone:440@-12"\n'
                    for line, at, who in CALLS)
# (title, artist) by the number the catalog keeps; the line names itself, the zone is Los Angeles.
EXPECTED = {
    "4155550123": ("Inbound from ACME PLUMBING, 4 Mar 2026 14:12, line 1", "ACME PLUMBING"),
    "4155550124": ("Outbound to (415) 555-0124, 4 Mar 2026 14:12, 北京 José", "(415) 555-0124"),
    "withheld": ("Inbound from a withheld number, 4 Mar 2026 14:12, line 1", "Number withheld"),
    None: ("Call on 北京 José, 4 Mar 2026 14:12", "Number not known"),
}
UTF8 = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}   # a terminal that shows 北京


def _key(row: dict):
    return "withheld" if row["remote_withheld"] else (row["remote_number"] or row["dialed"])


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tags")
    data = directory / "data"
    st.simulate(st.write_scenario(directory, SCENARIO), data)
    kept = {_key(r): r for r in st.calls(data) if r["status"] == "complete"}
    assert set(kept) == set(EXPECTED)
    return {"data": data, "kept": kept}


def _tool(*args) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, env=UTF8, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("key", list(EXPECTED))
def test_id3lib_reads_title_artist_and_year(office, key):
    title, artist = EXPECTED[key]
    out = _tool("id3v2", "-l", office["data"] / office["kept"][key]["path"])
    assert "No ID3 tag" not in out
    assert f"TIT2 (Title/songname/content description): {title}\n" in out, out
    assert f"TPE1 (Lead performer(s)/Soloist(s)): {artist}\n" in out, out
    assert "TYER (Year): 2026\n" in out, out


@pytest.mark.parametrize("key", list(EXPECTED))
def test_eyed3_reads_title_artist_and_year(office, key):
    title, artist = EXPECTED[key]
    out = _tool("eyeD3", "--no-color", office["data"] / office["kept"][key]["path"])
    assert "ID3 v2.3:" in out, out
    assert f"title: {title}\n" in out and f"artist: {artist}\n" in out, out
    assert "recording date: 2026\n" in out, out
    album = "北京 José" if office["kept"][key]["line"] == 2 else "Line 1"
    assert f"album: Hookline — {album}\n" in out, out


@pytest.mark.parametrize("key", list(EXPECTED))
def test_mp3val_finds_no_problem(office, key):
    out = _tool("mp3val", office["data"] / office["kept"][key]["path"])
    assert "+ID3v2" in out and "WARNING" not in out and "PROBLEM" not in out and "ERROR" not in out, out


def test_a_number_on_the_do_not_record_list_is_in_no_file(office):
    files = [p for p in office["data"].rglob("*") if p.is_file() and p.suffix in (".mp3", ".part")]
    assert len(files) == len(EXPECTED)
    for path in files:
        raw = path.read_bytes()
        for text in ("2125550100", "555-0100", "DR WHO"):
            assert text.encode("latin-1") not in raw and text.encode("utf-16-le") not in raw, (path, text)


def test_a_recovered_call_is_tagged_as_a_live_one(office, tmp_path):
    """The outbound call's audio, left in the spool by a 'crash', as `hookline recover` finds it."""
    data = tmp_path / "data"
    shutil.copytree(office["data"], data, ignore=shutil.ignore_patterns("sim", "run"))
    live = office["kept"]["4155550124"]
    audio = (data / live["path"]).read_bytes()
    db = dbmod.connect(data)
    row = catalog.get_call(db, live["id"])
    row.update(id="feedc0ffee", status=Status.RECORDING, path=None, sha256=None, size_bytes=None,
               spool_path="spool/feedc0ffee.mp3.part", ended_at=None)
    catalog.create_call(db, row)
    (data / "spool").mkdir(exist_ok=True)
    (data / row["spool_path"]).write_bytes(audio[mp3frames.id3v2_size(audio):])
    db.close()
    assert "recovered 1 call" in st.check("recover", "--data", data).stdout
    [recovered] = [r for r in st.calls(data) if r["id"] == "feedc0ffee"]
    assert recovered["status"] == "recovered"
    out = _tool("id3v2", "-l", data / recovered["path"])
    title, artist = EXPECTED["4155550124"]
    assert f"TIT2 (Title/songname/content description): {title}\n" in out, out
    assert f"TPE1 (Lead performer(s)/Soloist(s)): {artist}\n" in out and "TALB (Album/Movie/Show title): " \
        "Hookline — 北京 José\n" in out, out
