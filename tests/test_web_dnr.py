"""The do-not-record page over real HTTP: an admin lists, adds and removes numbers (audited, with
clear messages for what cannot be added), managers and listeners cannot, and a form without its
CSRF token changes nothing."""
from __future__ import annotations

import html
import re

import pytest

import webtools as wt
from appliance.store import audit, db as dbmod, dnr

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

PAGE = "/settings/do-not-record"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    server = wt.start(wt.make_data(tmp_path_factory.mktemp("webdnr")))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def admin(site):
    return wt.login(site.base, "admin")


def _listed(site) -> list[str]:
    db = dbmod.connect(site.data)
    try:
        return [e.pattern for e in dnr.entries(db)]
    finally:
        db.close()


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_an_admin_adds_lists_and_removes_numbers(site, admin):
    r = admin.post_form(PAGE, {"pattern": "+1 (415) 555-0123", "label": "Doctor"})
    assert r.status_code == 303 and r.headers["Location"] == PAGE
    page = admin.get(PAGE).text
    assert "+14155550123 (Doctor) is on the do-not-record list" in _text(page)
    row = re.search(r'<tr data-pattern="\+14155550123">(.*?)</tr>', page, re.S).group(1)
    assert "(415) 555-0123" in row and "Doctor" in row and ">admin<" in row
    r = admin.post_form("/settings/do-not-record/remove", {"pattern": "4155550123"}, page=PAGE)
    assert r.status_code == 303
    assert "+14155550123" not in _listed(site)
    assert "is off the do-not-record list" in _text(admin.get(PAGE).text)
    db = dbmod.connect(site.data)
    try:
        entries = [(e["action"], e["target"], e["user"], e["detail"]) for e in audit.entries(db)
                   if e["action"].startswith("dnr-")]
    finally:
        db.close()
    assert entries[:2] == [("dnr-remove", "+14155550123", "admin", {"label": "Doctor"}),
                           ("dnr-add", "+14155550123", "admin", {"label": "Doctor"})]


@pytest.mark.parametrize("pattern, says", [
    ("*", "would match nearly every call"), ("555-CALL", "cannot be in a number"), ("", "give a number"),
])
def test_what_cannot_be_added_is_said_beside_the_field(site, admin, pattern, says):
    before = _listed(site)
    r = admin.post_form(PAGE, {"pattern": pattern, "label": "x"})
    assert r.status_code == 400 and says in html.unescape(r.text)
    assert 'aria-invalid="true"' in r.text and _listed(site) == before


def test_the_same_number_twice_is_refused(site, admin):
    assert admin.post_form(PAGE, {"pattern": "212 555 0100", "label": "Union"}).status_code == 303
    r = admin.post_form(PAGE, {"pattern": "+1 212-555-0100"})
    assert r.status_code == 400 and "on the list already, as 2125550100 (Union)" in html.unescape(r.text)
    assert _listed(site).count("2125550100") == 1


def test_removing_what_is_not_listed_is_404(site, admin):
    assert admin.post_form("/settings/do-not-record/remove", {"pattern": "999 555 0000"}, page=PAGE).status_code == 404


def test_without_the_csrf_token_nothing_changes(site, admin):
    before = _listed(site)
    assert admin.post(PAGE, data={"pattern": "650 555 0101"}).status_code == 400
    assert admin.post("/settings/do-not-record/remove", data={"pattern": before[0] if before else "555*"}).status_code == 400
    assert _listed(site) == before


@pytest.mark.parametrize("role", ["manager", "listener"])
def test_managers_and_listeners_cannot_see_or_change_the_list(site, admin, role):
    admin.post_form(PAGE, {"pattern": "303 555 0199", "label": "Helpline"})
    client = wt.login(site.base, role)
    assert client.get(PAGE).status_code == 403
    token = client.token_from("/account")
    assert client.post(PAGE, data={"csrf_token": token, "pattern": "720 555 0100"}).status_code == 403
    assert client.post("/settings/do-not-record/remove",
                       data={"csrf_token": token, "pattern": "3035550199"}).status_code == 403
    assert "3035550199" in _listed(site) and "7205550100" not in _listed(site)
    assert "Do not record" not in client.get("/").text, "no link to a page they may not open"
    assert 'href="/settings/do-not-record"' in admin.get("/").text
