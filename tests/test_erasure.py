"""Erasure by number and the minimum age, through the real doors: calls the real daemon recorded
in simulated offices (one number written three ways: caller ID, dialed with the country code),
`hookline erase` as a subprocess, the web page over real HTTP under waitress, the retention sweep
and the disk guard. What a person would check: which files are gone, what the catalog still says
about the number, what stays as proof, and the message that lists the refused calls."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pty
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import simtools as st
import webtools as wt
from appliance.store import audit, by_number, catalog, db as dbmod, retention, settings, users
from appliance.store.removal import set_hold

pytestmark = pytest.mark.xdist_group("erasure")

DAY = 86400.0
NUMBER_KEY = "14155550123"


def iso_days_ago(days: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * DAY))


def office(start: str, calls: list[str]) -> str:
    text = f'[appliance]\nstart = "{start}"\n\n[[line]]\nid = 1\noffhook = "gpio"\ncallerid = "modem"\n'
    for i, who in enumerate(calls):
        party = f'dial = "{who[5:]}"\ndirection = "outbound"' if who.startswith("dial:") else \
            f'direction = "inbound"\nrings = 1\ncaller_id = {{ number = "{who}", name = "DOE JOHN" }}'
        text += f'\n[[call]]\nline = 1\nat = {0.5 + 12 * i}\n{party}\ntalk = 3.0\nnear = "tone:440@-12"\nfar = "noise@-30"\n'
    return text


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """100 days ago: the number inbound, dialed with the country code, and another number;
    5 days ago: the number twice (one will be held). Calls by name: old_in, old_out, other,
    new_in, new_held."""
    base = tmp_path_factory.mktemp("erasure")
    data = base / "data"
    st.simulate(st.write_scenario(base, office(iso_days_ago(100), ["4155550123", "dial:14155550123", "4155550999"]),
                                  name="old.toml"), data)
    st.simulate(st.write_scenario(base, office(iso_days_ago(5), ["4155550123", "4155550123"]), name="new.toml"), data)
    rows = st.calls(data)
    assert [r["status"] for r in rows] == ["complete"] * 5
    db = dbmod.connect(data)
    try:
        set_hold(db, rows[4]["id"], True)
        settings.set_value(db, "min_age_days", 30)
        for role, password in wt.PASSWORDS.items():
            users.create_user(db, role, role, password)
    finally:
        db.close()
    return data, dict(zip(["old_in", "old_out", "other", "new_in", "new_held"], rows))


@pytest.fixture
def box(template, tmp_path):
    src, calls = template
    data = tmp_path / "data"
    shutil.copytree(src, data, ignore=shutil.ignore_patterns("sim", "run"))
    db = dbmod.connect(data)
    yield data, db, calls
    db.close()


def row(db, call: dict) -> dict:
    return catalog.get_call(db, call["id"])


def assert_erased(db, data: Path, call: dict) -> None:
    after = row(db, call)
    assert after["status"] == "deleted" and not (data / call["path"]).exists()
    assert after["remote_number"] is None and after["remote_name"] is None and after["dialed"] is None
    assert after["sha256"] == call["sha256"] and after["started_at"] == call["started_at"], "proof stays"
    text = json.dumps(catalog.list_events(db, call_id=call["id"]))
    assert "4155550123" not in text and "DOE JOHN" not in text
    [deleted] = [e for e in catalog.list_events(db, call_id=call["id"]) if e["kind"] == "deleted"]
    assert deleted["detail"]["rule"] == "erasure"
    assert deleted["detail"]["number_hash"] == hashlib.sha256(NUMBER_KEY.encode()).hexdigest()


def assert_untouched(db, data: Path, call: dict) -> None:
    after = row(db, call)
    assert after["status"] == "complete" and (data / call["path"]).is_file()
    assert after["remote_number"] == call["remote_number"]


def test_one_number_written_any_way_finds_the_same_calls(box):
    data, db, calls = box
    for written in ("4155550123", "(415) 555-0123", "+1 415 555 0123", "1-415-555-0123"):
        found = [r["id"] for r in by_number.calls_with_number(db, written, "US")]
        assert found == [calls[k]["id"] for k in ("old_in", "old_out", "new_in", "new_held")], written
    assert [r["id"] for r in by_number.calls_with_number(db, "415 555 0999", "US")] == [calls["other"]["id"]]
    assert by_number.calls_with_number(db, "555 0123", "US") == [], "part of a number is not the number"
    with pytest.raises(by_number.NumberError):
        by_number.calls_with_number(db, "nobody", "US")


@pytest.mark.parametrize("dialed", ["*6714155550123", "*674155550123", "4155550123#", "*8214155550123#"])
def test_a_number_dialed_with_a_star_code_or_a_closing_hash_is_the_same_number(box, dialed):
    """Keyed on the handset: *67 before the number (hide my caller ID), # after it (dial now).
    Erasure must still find the call (GDPR Art. 17); a longer number is still not this one."""
    data, db, calls = box
    catalog.update_call(db, calls["old_out"]["id"], dialed=dialed)
    found = [r["id"] for r in by_number.calls_with_number(db, "(415) 555-0123", "US")]
    assert calls["old_out"]["id"] in found
    catalog.update_call(db, calls["old_out"]["id"], dialed="*67141555501234")
    assert calls["old_out"]["id"] not in [r["id"] for r in by_number.calls_with_number(db, "4155550123", "US")]


def test_erase_command_lists_asks_erases_and_refuses_the_protected(box):
    data, db, calls = box
    dry = st.run("erase", "--number", "(415) 555-0123", "--dry-run", "--data", data)
    assert dry.returncode == 1, "some would be refused"
    listing = dry.stdout
    assert calls["old_in"]["id"] in listing and "would erase" in listing
    new_line = next(line for line in listing.splitlines() if calls["new_in"]["id"] in line)
    assert "protected until" in new_line and "by the minimum age of 30 days" in new_line
    assert "on hold" in next(line for line in listing.splitlines() if calls["new_held"]["id"] in line)
    assert calls["other"]["id"] not in listing
    assert all((data / c["path"]).is_file() for c in calls.values()), "a dry run erases nothing"

    asked = st.run("erase", "--number", "4155550123", "--data", data)      # no terminal, no --yes
    assert asked.returncode == 2 and "--yes" in st.one_error_line(asked)
    assert all((data / c["path"]).is_file() for c in calls.values())

    done = st.run("erase", "--number", "+1 415 555 0123", "--yes", "--json", "--data", data)
    assert done.returncode == 1 and "not erased" in done.stderr
    report = json.loads(done.stdout)
    assert report["erased"] == [calls["old_in"]["id"], calls["old_out"]["id"]]
    assert {r["id"] for r in report["refused"]} == {calls["new_in"]["id"], calls["new_held"]["id"]}
    for name in ("old_in", "old_out"):
        assert_erased(db, data, calls[name])
    for name in ("other", "new_in", "new_held"):
        assert_untouched(db, data, calls[name])
    [entry] = audit.entries(db, action="erase")
    assert entry["user"].startswith("console:") and entry["detail"]["count"] == 2 and entry["detail"]["refused"] == 2
    assert "4155550123" not in json.dumps(entry) and entry["detail"]["number_hash"] == report["number_hash"]
    bad = st.run("erase", "--number", "x", "--yes", "--data", data)
    assert bad.returncode == 2 and "not a phone number" in st.one_error_line(bad)


def test_the_minimum_age_holds_against_every_rule(box):
    data, db, calls = box
    set_hold(db, calls["new_held"]["id"], False)
    young = [calls["new_in"], calls["new_held"]]
    now = time.time()
    full = {"retention_days": 0, "min_age_days": 30, "disk_reserve_pct": 50, "max_recordings_gb": 0.000001}
    deleted = retention.sweep(db, data, full, now, lambda: (1, 100))       # size cap and floor both short
    assert deleted == [calls[k]["id"] for k in ("old_in", "old_out", "other")], "only calls past the minimum"
    for call in young:
        assert_untouched(db, data, call)
    [warning] = [e for e in catalog.list_events(db) if e["kind"] == "warning"]
    assert "2 younger than the minimum age" in warning["detail"]["message"]
    # The maximum age cannot be set below the minimum, so it can never reach them either.
    proc = st.run("settings", "set", "retention_days", "3", "--data", data)
    assert proc.returncode == 2 and "above the maximum age" in st.one_error_line(proc)
    swept = st.run("retention", "sweep", "--json", "--data", data)
    assert json.loads(swept.stdout)["deleted"] == [] and all(row(db, c)["status"] == "complete" for c in young)


def test_erasure_page_counts_confirms_and_lists_the_refused(box):
    data, db, calls = box
    server = wt.start(data)
    try:
        manager = wt.login(server.base, "manager")
        page = manager.post_form("/erase", {"number": "(415) 555-0123"})
        assert page.status_code == 200
        text = wt_text(page.text)
        assert "4 calls with this number: 2 will be erased, 2 cannot be" in text
        assert "by the minimum age of 30 days" in text and "on hold" in text
        assert all((data / c["path"]).is_file() for c in calls.values()), "looking erases nothing"
        stale = manager.post_form("/erase/confirm", {"number": "(415) 555-0123", "expected": "3"}, "/erase")
        assert stale.status_code == 409 and all((data / c["path"]).is_file() for c in calls.values())
        done = manager.post_form("/erase/confirm", {"number": "(415) 555-0123", "expected": "2"}, "/erase")
        assert done.status_code == 200
        said = wt_text(done.text)
        assert "Erased 2 calls." in said and "2 calls could not be erased" in said and "Refused:" in said
        for name in ("old_in", "old_out"):
            assert_erased(db, data, calls[name])
        for name in ("other", "new_in", "new_held"):
            assert_untouched(db, data, calls[name])
        [entry] = audit.entries(db, action="erase")
        assert entry["user"] == "manager" and "4155550123" not in json.dumps(entry)
        # The minimum age also stops the call page's delete button.
        young = calls["new_in"]["id"]
        refused = manager.post_form(f"/calls/{young}/delete", {}, f"/calls/{young}/delete")
        assert refused.status_code == 303
        shown = wt_text(manager.get(f"/calls/{young}").text)
        assert "protected until" in shown and "by the minimum age of 30 days" in shown, "the refusal, flashed"
        until = time.strftime("%Y-%m-%d", time.gmtime(st.ts(calls["new_in"]["started_at"]) + 30 * DAY))
        assert f"Protected until {until} by the minimum age: nobody can delete it before then" in shown
        assert "Delete…" not in shown, "no delete button on a protected call"
        listed = wt_text(manager.get("/calls").text)
        assert listed.count(f"protected until {until}") == 2 and listed.count("protected until") == 2
        assert_untouched(db, data, calls["new_in"])
        listener = wt.login(server.base, "listener")
        assert listener.get("/erase").status_code == 403
        assert listener.post("/erase", data={"csrf_token": listener.token_from("/account"),
                                             "number": "4155550999"}).status_code == 403
        assert_untouched(db, data, calls["other"])
        no_token = manager.post("/erase/confirm", data={"number": "4155550999", "expected": "1"})
        assert no_token.status_code == 400 and (data / calls["other"]["path"]).is_file(), "CSRF"
    finally:
        server.close()


def wt_text(html: str) -> str:
    """The page's text, tags removed and spaces squeezed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").split())


def test_at_a_terminal_the_command_asks_and_no_erases_nothing(box):
    data, db, calls = box

    def answer(reply: str) -> subprocess.CompletedProcess:
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen([st.HOOKLINE, "erase", "--number", "415 555 0999", "--data", str(data)],
                                    stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=st.clean_env())
            os.write(master, reply.encode())
            out, err = proc.communicate(timeout=60)
        finally:
            os.close(master)
            os.close(slave)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    no = answer("n\n")
    assert "Erase 1 call(s)? This cannot be undone" in no.stderr and no.returncode == 1
    assert calls["other"]["id"] in no.stdout, "the list comes before the question"
    assert_untouched(db, data, calls["other"])
    yes = answer("y\n")
    assert yes.returncode == 0 and "erased 1 call(s), refused 0" in yes.stderr
    assert row(db, calls["other"])["status"] == "deleted" and row(db, calls["other"])["remote_number"] is None


def test_an_erased_number_is_gone_from_the_catalog_file_and_the_log(box, caplog):
    """Every call with the number erased from the page: no log line names it (a recording's file
    name holds the number); after a VACUUM the catalog's bytes hold the number nowhere but in the
    schema's comment, and its search index holds none of the number's own trigrams (from which
    its digits could be pieced together again)."""
    data, db, calls = box
    set_hold(db, calls["new_held"]["id"], False)
    settings.set_value(db, "min_age_days", 0)
    with wt.serving(data) as server, caplog.at_level(logging.INFO):
        manager = wt.login(server.base, "manager")
        done = manager.post_form("/erase/confirm", {"number": "(415) 555-0123", "expected": "4"}, "/erase")
        assert "Erased 4 calls." in wt_text(done.text)
    logged = [r.getMessage() for r in caplog.records]
    assert any("deleted (erased on request" in line for line in logged), logged
    assert not [line for line in logged if "5550123" in line]
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    schema = "".join(sql for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    file = (data / "hookline.db").read_bytes() + (data / "hookline.db-wal").read_bytes()
    for text in (NUMBER_KEY[1:], NUMBER_KEY[4:]):
        assert file.count(text.encode()) == schema.count(text), text
    index = b"".join(block for (block,) in db.execute("SELECT block FROM calls_fts_data") if block)
    assert row(db, calls["other"])["remote_number"] == "4155550999", "the other number stays, and is found"
    assert [c["id"] for c in by_number.calls_with_number(db, "4155550999", "US")] == [calls["other"]["id"]]
    for trigram in (b"141", b"501", b"012", b"123"):     # in 14155550123, not in 4155550999
        assert trigram not in index, trigram
