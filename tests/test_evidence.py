"""The access package by number through the real doors: `hookline export --number N --evidence`
as a subprocess into a folder and onto a real tmpfs filled up on purpose, and the web page's ZIP
over real HTTP under waitress. What the recipient would check: `sha256sum -c SHA256SUMS`, that
every call with the number is there and no other call, what each call's JSON says against the
catalog, the events and audit entries about those calls only, the audit head; and what the owner
would check: the exit code, a tampered recording left out and reported, and the audit entry,
which never holds the number."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

import simtools as st
import webtools as wt
from appliance.export import stick
from appliance.store import audit, catalog, db as dbmod, removal, users

pytestmark = pytest.mark.xdist_group("evidence")

NUMBER, KEY, OTHER = "(415) 555-0123", "14155550123", "4155550999"

# In Los Angeles (PDT): the first call is on 14 March in the box's zone, the others on 15 March.
# The number calls in twice and is dialed once with the country code; another number calls in
# (its caller ID is heard on line 1 between the number's calls) and is dialed once.
SCENARIO = f"""
[appliance]
start = "2026-03-15T06:59:50Z"
sample_rate = 8000
seed = 7
timezone = "America/Los_Angeles"

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
caller_id = {{ number = "4155550123", name = "ACME PLUMBING" }}
talk = 3.0
near = "tone:440@-12"
far = "tone:1000@-12"

[[call]]
line = 2
at = 12.0
direction = "outbound"
dial = "*67{OTHER}"
talk = 3.0
near = "noise@-20"
far = "tone:660@-16"

[[call]]
line = 1
at = 20.0
direction = "inbound"
rings = 2
caller_id = {{ number = "{OTHER}", name = "OTHER PARTY" }}
talk = 3.0
near = "tone:350@-20"
far = "noise@-28"

[[call]]
line = 2
at = 30.0
direction = "outbound"
dial = "{KEY}"
talk = 3.0
near = "noise@-20"
far = "tone:660@-16"

[[call]]
line = 1
at = 40.0
direction = "inbound"
rings = 1
caller_id = {{ number = "4155550123", name = "ACME PLUMBING" }}
talk = 3.0
near = "tone:350@-20"
far = "noise@-28"
"""
NAMES = ("first_in", "other_out", "other_in", "dialed", "second_in")
MINE = ("first_in", "dialed", "second_in")
FILES = {"first_in": "calls/2026-03-14/235953_L1_in_4155550123",
         "dialed": "calls/2026-03-15/000020_L2_out_14155550123",
         "second_in": "calls/2026-03-15/000033_L1_in_4155550123"}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The office's calls, a note and a hold on the first, and audit entries about the calls: a
    hold, a download and a listen, and an export that took the first call and another's."""
    base = tmp_path_factory.mktemp("evidence")
    data = base / "data"
    st.simulate(st.write_scenario(base, SCENARIO), data)
    calls = dict(zip(NAMES, st.calls(data)))
    assert [c["status"] for c in calls.values()] == ["complete"] * 5
    db = dbmod.connect(data)
    try:
        removal.set_note(db, calls["first_in"]["id"], "Asked for a quote")
        removal.set_hold(db, calls["first_in"]["id"], True)
        ids = {"hold": audit.append(db, "hold", user="manager", target=calls["first_in"]["id"]),
               "download": audit.append(db, "download", user="manager", target=calls["dialed"]["id"]),
               "listen_other": audit.append(db, "listen", user="listener", target=calls["other_in"]["id"]),
               "export": audit.append(db, "export", user=None, detail={
                   "calls": [calls["first_in"]["id"], calls["other_in"]["id"]]})}
        for role, password in wt.PASSWORDS.items():
            users.create_user(db, role, role, password)
    finally:
        db.close()
    return data, calls, ids


@pytest.fixture
def box(template, tmp_path):
    src, calls, ids = template
    data = tmp_path / "data"
    shutil.copytree(src, data, ignore=shutil.ignore_patterns("sim", "run"))
    return data, calls, ids


def evidence(data: Path, to: Path, *args: str) -> subprocess.CompletedProcess:
    return st.run("export", "--to", to, "--data", data, *args)


def sha_check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=root, capture_output=True, text=True)


def files_in(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def call_docs(root: Path) -> dict[str, dict]:
    """call id -> its metadata JSON, for every call JSON in the package."""
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in (root / "calls").rglob("*.json")]
    return {d["call_id"]: d for d in docs}


def last_entry(data: Path) -> dict:
    db = dbmod.connect(data)
    try:
        return audit.entries(db, action="evidence-export", limit=1)[0]
    finally:
        db.close()


def assert_verified_package(root: Path) -> None:
    """`sha256sum -c` passes and SHA256SUMS lists every other file in the package."""
    check = sha_check(root)
    assert check.returncode == 0, check.stdout + check.stderr
    listed = {line.split("  ", 1)[1] for line in (root / "SHA256SUMS").read_text().splitlines()}
    assert listed == files_in(root) - {"SHA256SUMS"}
    assert check.stdout.count(": OK") == len(listed)


def assert_about_the_number_only(root: Path, data: Path, calls: dict, ids: dict) -> None:
    """Every call of the number is there, as the catalog says it, with its events and the audit
    entries about it; no other call, no other number."""
    mine = {calls[n]["id"]: n for n in MINE}
    docs = call_docs(root)
    assert set(docs) == set(mine), "exactly the number's calls"
    db = dbmod.connect(data)
    try:
        for call_id, doc in docs.items():
            row = catalog.get_call(db, call_id)
            assert doc["started"]["utc"] == row["started_at"] and doc["ended"]["utc"] == row["ended_at"]
            assert doc["started"]["local"].endswith("-07:00") and doc["time_zone"].startswith("America/Los_Angeles")
            assert (doc["line"], doc["direction"], doc["status"], doc["duration_s"]) == \
                (row["line"], row["direction"], row["status"], row["duration_s"])
            assert (doc["caller_id_number"], doc["dialed_digits"]) == (row["remote_number"], row["dialed"])
            assert (doc["note"], doc["on_hold"]) == (row["note"], bool(row["held"]))
            assert doc["line_name"] == f"Line {row['line']}" and doc["party"] == "(415) 555-0123"
            own = [(e["kind"], e["at"]) for e in catalog.list_events(db, call_id=call_id)]
            assert own and own == [(e["kind"], e["at"]["utc"]) for e in doc["events"] if e["call_id"] == call_id]
            assert all(e["call_id"] in (None, call_id) and e["sentence"] for e in doc["events"])
        head = audit.entries(db, action="evidence-export", limit=1)[0]
    finally:
        db.close()
    first = docs[calls["first_in"]["id"]]
    assert first["note"] == "Asked for a quote" and first["on_hold"] is True
    assert [s["text"] for s in first["story"]][:2] == ["Rang once", "Caller ID: ACME PLUMBING, (415) 555-0123"]
    assert "Dialed (415) 555-0123" in [s["text"] for s in docs[calls["dialed"]["id"]]["story"]]
    assert first["audit_entry_ids"] == [ids["hold"], ids["export"]]
    assert docs[calls["dialed"]["id"]]["audit_entry_ids"] == [ids["download"]]
    assert docs[calls["second_in"]["id"]]["audit_entry_ids"] == []
    entries = json.loads((root / "audit.json").read_text())["entries"]
    assert [e["id"] for e in entries] == [ids["hold"], ids["download"], ids["export"]]
    for e in entries:        # each entry's hash checks from its content, as the rule says
        assert e["hash"] == audit.entry_hash(e["prev_hash"], e["at"], e["user"], e["action"], e["target"],
                                             json.dumps(e["detail"]), e["remote_addr"])
    assert json.loads((root / "audit-head.json").read_text())["current"]["hash"] == head["prev_hash"]
    text = " ".join(p.read_text(encoding="utf-8") for p in root.rglob("*") if p.suffix in (".json", ".txt"))
    assert OTHER not in text and "OTHER PARTY" not in text, "another caller's number is not theirs"


def test_the_package_holds_every_call_of_the_number_verified_and_nothing_else(box, tmp_path):
    data, calls, ids = box
    to = tmp_path / "out"
    to.mkdir()
    proc = evidence(data, to, "--number", NUMBER, "--evidence", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    root = Path(result["package"])
    assert root.parent == to and root.name.startswith(f"Hookline-access-{KEY}-20")
    assert (result["calls"], result["recordings"], result["mismatched"]) == (3, 3, [])
    assert [p.name for p in to.iterdir()] == [root.name], "no temporary folder left"
    assert files_in(root) == {f"{FILES[n]}.{ext}" for n in MINE for ext in ("mp3", "json")} | {
        "README.txt", "SHA256SUMS", "audit.json", "audit-head.json", "package.json"}
    assert_verified_package(root)
    assert_about_the_number_only(root, data, calls, ids)
    for name in MINE:
        assert (root / f"{FILES[name]}.mp3").read_bytes() == (data / calls[name]["path"]).read_bytes()
    readme = (root / "README.txt").read_text()
    assert "sha256sum -c SHA256SUMS" in readme and "certutil -hashfile" in readme and "shasum -a 256" in readme
    assert "3 calls, 3 recordings." in readme
    entry = last_entry(data)
    assert entry["user"].startswith("console:") and entry["detail"]["calls"] == [calls[n]["id"] for n in MINE]
    assert entry["detail"]["written"] is True and "4155550123" not in json.dumps(entry) and KEY not in json.dumps(entry)
    again = evidence(data, to, "--number", KEY, "--evidence", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["package"] == f"{root}_2", "never over an earlier one"


def test_a_tampered_recording_is_left_out_and_reported(box, tmp_path):
    data, calls, _ = box
    dialed = calls["dialed"]
    with open(data / dialed["path"], "r+b") as f:
        f.seek(2000)
        f.write(b"\x00\x01\x02")
    proc = evidence(data, tmp_path, "--number", NUMBER, "--evidence")
    assert proc.returncode == 1, proc.stderr
    assert "access package written: 3 call(s), 2 recording(s)" in proc.stderr
    assert f"NOT in the package: call {dialed['id']}" in proc.stderr
    [root] = tmp_path.glob("Hookline-access-*")
    assert not list(tmp_path.glob(".Hookline-access-*")), "no temporary folder left"
    assert not (root / f"{FILES['dialed']}.mp3").exists() and (root / f"{FILES['dialed']}.json").exists()
    assert_verified_package(root)
    doc = call_docs(root)[dialed["id"]]
    assert doc["recording"]["file"] is None and "SHA-256" in doc["recording"]["left_out_because"]
    assert [m["call_id"] for m in json.loads((root / "package.json").read_text())["left_out"]] == [dialed["id"]]
    assert last_entry(data)["detail"]["left_out"] == [dialed["id"]]


def test_dates_narrow_the_package(box, tmp_path):
    data, calls, _ = box
    proc = evidence(data, tmp_path, "--number", NUMBER, "--evidence", "--since", "2026-03-15", "--json")
    assert proc.returncode == 0, proc.stderr
    root = Path(json.loads(proc.stdout)["package"])
    assert set(call_docs(root)) == {calls["dialed"]["id"], calls["second_in"]["id"]}
    assert_verified_package(root)


@pytest.mark.parametrize("args, said", [
    (("--evidence",), "--evidence needs --number"),
    (("--evidence", "--number", "call me"), "is not a phone number"),
    (("--evidence", "--number", NUMBER, "--new"), "--line and --new do not apply"),
    (("--evidence", "--number", NUMBER, "--since", "15/03/2026"), "is not a date"),
])
def test_bad_input_writes_nothing(box, tmp_path, args, said):
    data, _, _ = box
    out = tmp_path / "out"
    out.mkdir()
    proc = evidence(data, out, *args)
    assert proc.returncode == 2 and said in proc.stderr, proc.stderr
    assert list(out.iterdir()) == []


def test_busy_missing_full_and_read_only_targets(box, tmp_path):
    data, _, _ = box
    out = tmp_path / "out"
    out.mkdir()
    with stick.locked(data):
        busy = evidence(data, out, "--number", NUMBER, "--evidence")
    assert busy.returncode == 3 and "another export is running" in busy.stderr and not list(out.iterdir())
    missing = evidence(data, tmp_path / "nowhere", "--number", NUMBER, "--evidence")
    assert missing.returncode == 5 and "is not there" in missing.stderr
    with st.small_tmpfs(tmp_path / "stick", "24k") as small:
        full = evidence(data, small, "--number", NUMBER, "--evidence", "--json")
        assert full.returncode == 4 and json.loads(full.stdout)["stopped_because"] == "The target is full."
        assert list(small.iterdir()) == [], "no half-written package"
    with st.small_tmpfs(tmp_path / "ro", "1m") as read_only:
        subprocess.run(["mount", "-o", "remount,ro", str(read_only)], check=True)
        ro = evidence(data, read_only, "--number", NUMBER, "--evidence")
    assert ro.returncode == 5 and "is read-only: cannot write the package there" in ro.stderr, ro.stderr
    assert last_entry(data)["detail"]["written"] is False


def test_the_web_page_counts_and_its_zip_unpacks_and_verifies(box, tmp_path):
    data, calls, ids = box
    server = wt.start(data)
    try:
        manager = wt.login(server.base, "manager")
        page = manager.post_form("/evidence", {"number": NUMBER})
        assert page.status_code == 200
        text = " ".join(page.text.replace("\n", " ").split())
        assert "3 calls with this number, 3 with a recording" in text
        bad = manager.post_form("/evidence", {"number": "call me"}, "/evidence")
        assert bad.status_code == 400 and "is not a phone number" in bad.text
        none = manager.post_form("/evidence/package.zip", {"number": "(212) 555-0100"}, "/evidence")
        assert none.status_code == 400 and "No call has this number" in none.text
        got = manager.post_form("/evidence/package.zip", {"number": NUMBER}, "/evidence")
        assert got.status_code == 200 and got.headers["Content-Type"] == "application/zip"
        assert got.headers["Content-Disposition"].startswith(f'attachment; filename="Hookline-access-{KEY}-')
        with zipfile.ZipFile(io.BytesIO(got.content)) as archive:
            assert archive.testzip() is None
            archive.extractall(tmp_path / "unzipped")
        [root] = (tmp_path / "unzipped").iterdir()
        assert_verified_package(root)
        assert_about_the_number_only(root, data, calls, ids)
        entry = last_entry(data)
        assert entry["user"] == "manager" and entry["detail"]["via"] == "web zip"
        assert "4155550123" not in json.dumps(entry) and KEY not in json.dumps(entry)
        listener = wt.login(server.base, "listener")
        token = listener.token_from("/account")
        assert listener.get("/evidence").status_code == 403
        for url in ("/evidence", "/evidence/package.zip"):
            assert listener.post(url, data={"csrf_token": token, "number": NUMBER}).status_code == 403
        no_token = manager.post("/evidence/package.zip", data={"number": NUMBER})
        assert no_token.status_code == 400 and no_token.headers["Content-Type"].startswith("text/html")
    finally:
        server.close()
