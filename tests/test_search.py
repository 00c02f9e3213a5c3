"""Call search (appliance.store.search) on a real catalog of ~20,000 random calls, against a
brute-force filter in Python: every filter, both orders, every page walked with the cursor (no
duplicates, no gaps, ties on started_at included), counts, forged cursors, the query-string
parser's errors, and the query plans (indexes, not scans).
"""
from __future__ import annotations

import base64
import json
import random
from dataclasses import replace
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from appliance.store import catalog, db as dbmod, search, search_plan

CALLS = 12_000         # above the count cap (10,000), so a search matching everything is capped
START = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()
DAYS = 90
STATUSES = ("complete", "complete", "complete", "complete", "recovered", "discarded", "deleted", "recording")


def _number(rng: random.Random) -> str:
    kind = rng.random()
    digits = lambda k: "".join(rng.choices("0123456789", k=k))  # noqa: E731
    if kind < 0.5:
        return "0" + digits(rng.randint(8, 10))
    if kind < 0.65:
        return "+44" + digits(9)
    if kind < 0.75:
        return "*67" + "0" + digits(9)
    if kind < 0.8:
        return "#31#0" + digits(8)
    return "2" + digits(2)          # an extension


def _insert(db, rows: list[dict]) -> None:
    columns = list(rows[0])
    with dbmod.immediate(db):
        db.conn.executemany(f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                            [[r[c] for c in columns] for r in rows])


def _call(rng: random.Random, i: int, started_at: str, regulars: list[str]) -> dict:
    direction = rng.choice(("inbound", "inbound", "inbound", "outbound", "outbound", None))
    number = rng.choice(regulars) if rng.random() < 0.5 else _number(rng)
    withheld = direction == "inbound" and rng.random() < 0.3
    remote = number if direction != "outbound" and not withheld else None
    dialed = number if direction == "outbound" else None
    if direction == "inbound" and rng.random() < 0.1:        # digits the office keyed in (a menu, an extension)
        dialed = rng.choice((number[:4], "2" + str(rng.randint(10, 99)), "*" + str(rng.randint(1, 9))))
    status = rng.choice(STATUSES)
    # Whole seconds from a short range: many calls share a duration (ties for the cursor); a call
    # still being recorded has none.
    duration = None if status == "recording" else float(rng.choice((rng.randint(0, 40), rng.randint(0, 4000))))
    return {"id": f"c{i:06d}", "line": rng.choice((1, 1, 2, 2, 3, 4, 12)), "direction": direction,
            "started_at": started_at, "duration_s": duration, "remote_number": remote,
            "remote_withheld": int(withheld), "dialed": dialed,
            "remote_name": rng.choice((None, None, "MUELLER 0301", "ACME", "Dr Weber & Söhne", "acme plumbing")),
            "status": status, "held": int(rng.random() < 0.03),
            "note": rng.choice((None,) * 9 + ("call back 0301 234", "Quote sent to ACME", "wants Weber", "")),
            "created_at": started_at}


@pytest.fixture(scope="module")
def catalog_db(tmp_path_factory):
    """The catalog file (rows inserted in random order, so rowid says nothing about the time; many
    calls share a started_at) and every row as (rowid, dict)."""
    data = tmp_path_factory.mktemp("search") / "data"
    db = dbmod.connect(data)
    rng = random.Random(20240531)
    regulars = [_number(rng) for _ in range(300)]
    stamps = sorted(rng.sample(range(DAYS * 86_400_000), 12_000))     # 12,000 instants for 20,000 calls: ties
    rows = [_call(rng, i, catalog.iso(START + rng.choice(stamps) / 1000), regulars) for i in range(CALLS)]
    _insert(db, rows)
    everything = [(r["rowid"], r) for r in db.query("SELECT rowid, * FROM calls")]
    return data, everything


@pytest.fixture
def db(catalog_db):
    return dbmod.connect(catalog_db[0])


def _text_matches(r: dict, text: str) -> bool:
    """Every word of 3+ characters is in one of the searched columns, in any case."""
    columns = [(r[c] or "").lower() for c in ("remote_number", "dialed", "remote_name", "note")]
    return all(any(w.lower() in c for c in columns) for w in text.split() if len(w) >= 3)


def _sort_key(r: dict, rowid: int, order: str) -> tuple:
    if order in ("newest", "oldest"):
        return r["started_at"], rowid
    return (-1 if r["duration_s"] is None else r["duration_s"]), rowid


def brute_force(everything: list[tuple[int, dict]], q: search.CallQuery) -> list[str]:
    """The ids q should find, in order: the obvious Python over every row."""
    found = []
    for rowid, r in everything:
        if q.start is not None and r["started_at"] < q.start or q.end is not None and r["started_at"] >= q.end:
            continue
        if any(getattr(q, f) is not None and r[f] != getattr(q, f) for f in ("line", "direction", "status")):
            continue
        if q.held is not None and bool(r["held"]) != q.held:
            continue
        if q.noted is not None and (r["note"] is not None) != q.noted:
            continue
        if q.text is not None and not _text_matches(r, q.text):
            continue
        if q.number is not None:
            numbers = [n for n in (r["remote_number"], r["dialed"]) if n]
            if q.match == "prefix" and not any(n.startswith(q.number) for n in numbers):
                continue
            if q.match == "contains" and not any(q.number in n for n in numbers):
                continue
        found.append((_sort_key(r, rowid, q.order), r["id"]))
    found.sort(reverse=q.order in ("newest", "longest"))
    return [call_id for _, call_id in found]


def walk(db, q: search.CallQuery) -> list[str]:
    ids, after = [], None
    for _ in range(10_000):
        rows, after = search.search(db, replace(q, after=after))
        assert len(rows) <= q.limit
        ids += [r["id"] for r in rows]
        if after is None:
            return ids
        assert len(rows) == q.limit, "only the last page may be short"
    raise AssertionError("the cursor never ended")


def day(d: int, hour: int = 0) -> str:
    return catalog.iso(START + d * 86_400 + hour * 3600)


QUERIES = [
    search.CallQuery(),
    search.CallQuery(start=day(10), end=day(20)),
    search.CallQuery(start=day(85)),
    search.CallQuery(end=day(3, 12)),
    search.CallQuery(line=2),
    search.CallQuery(line=3, start=day(30), end=day(61)),
    search.CallQuery(line=12, held=False),
    search.CallQuery(line=64),
    search.CallQuery(direction="outbound"),
    search.CallQuery(direction="inbound", status="complete", line=1),
    *[search.CallQuery(status=s) for s in ("complete", "recovered", "discarded", "deleted", "recording")],
    search.CallQuery(held=True),
    search.CallQuery(held=True, line=2, start=day(5)),
    search.CallQuery(held=False, status="discarded"),
    *[search.CallQuery(number=n, match="prefix") for n in ("0", "03", "+44", "+", "*67", "*", "#31#", "#", "2", "21",
                                                           "0301", "0922516", "999999999999")],
    *[search.CallQuery(number=n) for n in ("0", "7", "12", "*6", "*", "#", "+4", "123", "0301", "44", "#31#0",
                                            "25160", "+440", "2281306", "555555555555555")],
    search.CallQuery(number="12", line=1, held=False),
    search.CallQuery(number="0", match="prefix", status="complete", direction="inbound"),
    search.CallQuery(number="123", start=day(40), end=day(70)),
    search.CallQuery(number="*", match="prefix", direction="inbound"),
    search.CallQuery(number="2", status="deleted", held=False, start=day(1)),
    search.CallQuery(noted=True),
    search.CallQuery(noted=False, line=2),
    search.CallQuery(noted=True, held=True),
    search.CallQuery(noted=True, status="discarded", start=day(20)),
    *[search.CallQuery(text=t) for t in ("acme", "ACME plumbing", "weber", "söhne", "0301", "Dr Weber", "call back",
                                         "quote acme", "nobody-at-all", "MUELLER 030")],
    search.CallQuery(text="acme", line=1, start=day(10), end=day(50)),
    search.CallQuery(text="weber", noted=True),
    search.CallQuery(text="acme", number="0", match="prefix"),
    search.CallQuery(start=day(40), end=day(41)),
]


def _limit(n_expected: int) -> int:
    """Pages small enough that many page boundaries fall inside runs of equal started_at."""
    return max(3, min(search.MAX_LIMIT, n_expected // 25 + 1))


@pytest.mark.parametrize("sparse_limit", ["default", 1, 10 ** 9, "way-out"],
                         ids=["planner", "number-as-filter", "number-index", "walk-gives-way"])
@pytest.mark.parametrize("q", QUERIES, ids=[repr({k: v for k, v in q.__dict__.items() if v is not None and
                                                  (k, v) not in (("match", "contains"), ("order", "newest"),
                                                                 ("limit", 50))}) for q in QUERIES])
def test_every_page_of_every_filter_matches_brute_force(catalog_db, db, q, sparse_limit, monkeypatch):
    """sparse_limit: the number of matches below which a number is looked up through its index
    rather than used as a filter on the ordered walk; forced both ways, so both paths are checked
    against the same answer; and a walk that gives way to the lookup at once."""
    if sparse_limit == "way-out":
        # Every lookup "many", every walk with other filters long: each gives way at once.
        monkeypatch.setattr(search_plan, "SPARSE_LIMIT", 1)
        monkeypatch.setattr(search_plan, "LOOKUP_CAP", 10 ** 9)
        monkeypatch.setattr(search_plan, "STEPS_PER_CALL", 0)
    elif sparse_limit != "default":
        monkeypatch.setattr(search_plan, "SPARSE_LIMIT", sparse_limit)
    for order in search.ORDERS if sparse_limit == "default" else ("newest", "shortest"):
        expected = brute_force(catalog_db[1], replace(q, order=order))
        query = replace(q, order=order, limit=_limit(len(expected)))
        got = walk(db, query)
        assert len(got) == len(set(got)), "a call came twice"
        assert got == expected
        if sparse_limit == "default":
            assert search.count(db, query) == (len(expected), False) if len(expected) < 10_000 \
                else search.count(db, query) == (10_000, True)
            if expected:
                assert search.count(db, query, cap=len(expected)) == (len(expected), True)
                assert search.count(db, query, cap=len(expected) + 1) == (len(expected), False)


def test_the_catalog_is_a_fair_test(catalog_db):
    """The generated calls exercise what they should: ties, numbers in both columns, every status."""
    everything = catalog_db[1]
    stamps = [r["started_at"] for _, r in everything]
    assert len(set(stamps)) < 0.8 * len(stamps), "many calls share a started_at"
    assert sum(1 for _, r in everything if r["remote_number"] and r["dialed"]) > CALLS // 40
    assert {r["status"] for _, r in everything} == set(search.STATUSES)
    sizes = {repr(q): len(brute_force(everything, q)) for q in QUERIES}
    assert max(sizes.values()) == CALLS and sum(1 for n in sizes.values() if n == 0) <= 4
    durations = [r["duration_s"] for _, r in everything]
    assert len(set(durations)) < 0.3 * len(durations) and None in durations, "many calls share a duration"


def test_ties_only_rowid_decides(tmp_path):
    db = dbmod.connect(tmp_path / "data")
    same = catalog.iso(START)
    _insert(db, [{"id": f"t{i}", "line": 1, "started_at": same, "status": "complete", "created_at": same,
                  "remote_number": "0301234", "dialed": None} for i in range(23)])
    for match, number in (("contains", None), ("contains", "123"), ("prefix", "030")):
        q = search.CallQuery(limit=3, number=number, match=match)
        assert walk(db, q) == [f"t{i}" for i in reversed(range(23))]
        assert walk(db, replace(q, order="oldest")) == [f"t{i}" for i in range(23)]


def test_equal_durations_page_by_rowid(tmp_path):
    """Sorted by duration, calls of the same length (and calls still recording, which have none)
    follow each other in rowid order across page boundaries: none twice, none lost."""
    db = dbmod.connect(tmp_path / "data")
    rows = [{"id": f"d{i:02d}", "line": 1, "started_at": catalog.iso(START + i), "status": "complete",
             "created_at": catalog.iso(START), "duration_s": (30.0, 30.0, 30.0, 7.5, None)[i % 5]} for i in range(25)]
    _insert(db, rows)
    key = {r["id"]: -1 if r["duration_s"] is None else r["duration_s"] for r in rows}
    by_length = sorted(key, key=lambda i: (key[i], int(i[1:])))
    for limit in (1, 2, 3, 4, 7):
        assert walk(db, search.CallQuery(order="shortest", limit=limit)) == by_length
        assert walk(db, search.CallQuery(order="longest", limit=limit)) == by_length[::-1]
    longest = walk(db, search.CallQuery(order="longest", limit=4))
    assert longest[:3] == ["d22", "d21", "d20"] and longest[-1] == "d04", "the longest first, a recording last"


def test_neighbours_follow_the_list(catalog_db, db):
    """Previous and next of a call are the calls before and after it on the list the search gives,
    in every order; the first has no previous, the last no next."""
    for q in (search.CallQuery(), search.CallQuery(order="longest", line=2),
              search.CallQuery(text="acme", order="shortest"), search.CallQuery(order="oldest", held=True)):
        ids = brute_force(catalog_db[1], q)
        for i in (0, 1, len(ids) // 2, len(ids) - 1):
            before, after = search.neighbours(db, q, ids[i])
            assert before == (ids[i - 1] if i > 0 else None), (q, i)
            assert after == (ids[i + 1] if i + 1 < len(ids) else None), (q, i)
    assert search.neighbours(db, search.CallQuery(), "nosuchcall") == (None, None)


def test_every_gives_the_whole_list_up_to_a_cap(catalog_db, db):
    q = search.CallQuery(held=True, order="longest")
    expected = brute_force(catalog_db[1], q)
    rows, more = search.every(db, q, cap=len(expected))
    assert [r["id"] for r in rows] == expected and not more
    rows, more = search.every(db, q, cap=10)
    assert [r["id"] for r in rows] == expected[:10] and more
    rows, more = search.every(db, search.CallQuery(), cap=1200)
    assert len(rows) == 1200 and more


def test_a_page_stays_put_while_new_calls_arrive(tmp_path):
    """Keyset paging: calls recorded after page 1 was shown do not shift page 2 (OFFSET would)."""
    db = dbmod.connect(tmp_path / "data")
    _insert(db, [{"id": f"a{i:02d}", "line": 1, "started_at": catalog.iso(START + i), "status": "complete",
                  "created_at": catalog.iso(START)} for i in range(20)])
    first, cursor = search.search(db, search.CallQuery(limit=5))
    _insert(db, [{"id": f"new{i}", "line": 1, "started_at": catalog.iso(START + 100 + i), "status": "recording",
                  "created_at": catalog.iso(START)} for i in range(3)])
    second, _ = search.search(db, search.CallQuery(limit=5, after=cursor))
    assert [r["id"] for r in first] == ["a19", "a18", "a17", "a16", "a15"]
    assert [r["id"] for r in second] == ["a14", "a13", "a12", "a11", "a10"]


def test_a_count_sees_calls_added_since_on_the_same_connection(tmp_path):
    """What the planner remembers of a count lasts only until the catalog changes."""
    db = dbmod.connect(tmp_path / "data")
    row = {"line": 1, "status": "complete", "created_at": catalog.iso(START), "remote_number": "0301234"}
    _insert(db, [{**row, "id": f"n{i}", "started_at": catalog.iso(START + i)} for i in range(5)])
    q = search.CallQuery(number="0301", match="prefix")
    assert search.count(db, q) == (5, False) and len(search.search(db, q)[0]) == 5
    _insert(db, [{**row, "id": "n5", "started_at": catalog.iso(START + 9)}])
    assert search.count(db, q) == (6, False) and len(search.search(db, q)[0]) == 6
    other = dbmod.connect(tmp_path / "data")      # a write by another connection (the recorder)
    _insert(other, [{**row, "id": "n6", "started_at": catalog.iso(START + 10)}])
    assert search.count(db, q) == (7, False)


def test_rows_are_the_public_call_dicts(db, catalog_db):
    rows, cursor = search.search(db, search.CallQuery(limit=5, held=True))
    assert cursor is not None and len(rows) == 5
    for row in rows:
        assert row == catalog.public_call(catalog.get_call(db, row["id"]))
        assert row["held"] is True and "_rowid" not in row


# -- cursors ----------------------------------------------------------------------------------------------
def _b64(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_forged_and_foreign_cursors_are_refused(db):
    q = search.CallQuery(line=2, limit=10)
    _, good = search.search(db, q)
    assert search.search(db, replace(q, after=good))[0], "the real cursor works"
    started_at, rowid, fingerprint = json.loads(base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)))
    forged = [
        "garbage!", "not a cursor", "AAAA", "x" * 500, "====", _b64({"a": 1}), _b64([started_at, rowid]),
        _b64([started_at, str(rowid), fingerprint]), _b64([started_at, True, fingerprint]),
        _b64([started_at, -1, fingerprint]), _b64([started_at, 2 ** 70, fingerprint]), _b64([123, rowid, fingerprint]),
        _b64(["", rowid, fingerprint]), _b64(["x" * 100, rowid, fingerprint]), _b64([started_at, 1.5, fingerprint]),
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(), good[:-3],
    ]
    for cursor in forged:
        with pytest.raises(search.QueryError) as caught:
            search.search(db, replace(q, after=cursor))
        assert caught.value.field == "after", cursor
        with pytest.raises(search.QueryError) as caught:
            search.parse_query({"line": "2", "limit": "10", "after": cursor}, timezone.utc)
        assert caught.value.field == "after" and str(caught.value).startswith("after: ")

    # A cursor of another search (other filters, other order) is refused too.
    for other in (replace(q, line=3), replace(q, order="oldest"), replace(q, number="1"), search.CallQuery()):
        with pytest.raises(search.QueryError) as caught:
            search.search(db, replace(other, after=good))
        assert "different search" in caught.value.message
    # ... but not for another page size.
    assert search.search(db, replace(q, limit=20, after=good))[0]
    assert search.count(db, replace(q, after="garbage")) == search.count(db, q), "count ignores the cursor"


# -- the query string ---------------------------------------------------------------------------------
BERLIN = ZoneInfo("Europe/Berlin")


def test_parse_query_reads_every_field():
    q = search.parse_query({"date_from": "2024-03-31", "date_to": "2024-03-31", "number": " (030) 123-45.6 ",
                            "match": "prefix", "line": "3", "direction": "outbound", "status": "discarded",
                            "held": "1", "noted": "0", "order": "oldest", "limit": "500", "page": "ignored"}, BERLIN)
    # The day the clocks went forward: 23 hours long, midnight to midnight in Berlin.
    assert q.start == "2024-03-30T23:00:00.000Z" and q.end == "2024-03-31T22:00:00.000Z"
    assert (q.number, q.match, q.line, q.direction, q.status, q.held, q.noted, q.order, q.limit) == \
           ("030123456", "prefix", 3, "outbound", "discarded", True, False, "oldest", 500)
    assert search.parse_query({"date_from": "2024-07-01"}, BERLIN).start == "2024-06-30T22:00:00.000Z"
    assert search.parse_query({"date_to": "2024-07-01"}, timezone.utc).end == "2024-07-02T00:00:00.000Z"
    assert search.parse_query({"held": "0", "number": "+49*#"}, BERLIN) == search.CallQuery(held=False, number="+49*#")
    empty = {k: "" for k in search.QUERY_KEYS}
    assert search.parse_query(empty, BERLIN) == search.CallQuery()
    assert search.parse_query({"line": "  ", "status": " Complete "}, BERLIN) == search.CallQuery(status="complete")


@pytest.mark.parametrize("typed, match, region, number", [
    ("(415) 555-01", "contains", "US", "41555501"),
    ("+1 415 555", "prefix", "US", "415555"),
    ("+44 20 7946", "prefix", "US", "+44207946"),
    ("+44 20 7946", "contains", "US", "44207946"),
    ("030 123 45", "contains", "DE", "03012345"),
    ("+49 30 123", "prefix", "DE", "30123"),
    ("*67", "prefix", "US", "*67"),
    ("#31# 0301", "contains", "DE", "#31#0301"),
])
def test_the_search_box_reads_a_number_in_any_form(typed, match, region, number):
    q = search.parse_query({"q": typed, "match": match}, BERLIN, region)
    assert (q.number, q.text, q.match) == (number, None, match)


def test_the_search_box_reads_words_of_names_and_notes():
    assert search.parse_query({"q": "  Acme   plumbing "}, BERLIN).text == "Acme plumbing"
    assert search.parse_query({"q": "order 4711"}, BERLIN).text == "order 4711"
    assert search.parse_query({"q": "Dr Weber"}, BERLIN).text == "Dr Weber"
    assert search.fts_words('Dr Weber "x" weber AND') == '"Weber" AND """x""" AND "weber" AND "AND"'


@pytest.mark.parametrize("args, field, words", [
    ({"date_from": "31.05.2024"}, "date_from", "Enter the start date as YYYY-MM-DD, e.g. 2026-03-04."),
    ({"date_from": "2024-13-01"}, "date_from", "start date as YYYY-MM-DD"),
    ({"date_to": "2024-02-30"}, "date_to", "Enter the end date as YYYY-MM-DD"),
    ({"date_to": "2024-5-1"}, "date_to", "end date as YYYY-MM-DD"),
    ({"date_from": "0001-01-01"}, "date_from", "start date as YYYY-MM-DD"),
    ({"date_from": "2024-05-02", "date_to": "2024-05-01"}, "date_to", "The end date is before the start date"),
    ({"number": "abc"}, "number", "only digits"),
    ({"number": "030%"}, "number", "only digits"),
    ({"number": "1" * 33}, "number", "at most 32"),
    ({"number": "- ( ) ."}, "number", "Type some digits"),
    ({"number": '"0" OR 1'}, "number", "only digits"),
    ({"q": "ab"}, "q", "at least 3 letters"),
    ({"q": "ab cd e"}, "q", "at least 3 letters"),
    ({"q": "x" * 101}, "q", "at most 100 characters"),
    ({"q": "acme\x00"}, "q", "at least 3 letters"),
    ({"q": "+44 " + "1" * 40}, "q", "at most 32 digits"),
    ({"q": "555", "number": "555"}, "q", "not both"),
    ({"match": "fuzzy"}, "match", "contains or prefix"),
    ({"line": "0"}, "line", "from 1 to 64"),
    ({"line": "65"}, "line", "from 1 to 64"),
    ({"line": "two"}, "line", "from 1 to 64"),
    ({"line": "-1"}, "line", "from 1 to 64"),
    ({"line": "١"}, "line", "from 1 to 64"),
    ({"direction": "sideways"}, "direction", "inbound or outbound"),
    ({"status": "lost"}, "status", "complete, recovered, discarded, recording or deleted"),
    ({"held": "maybe"}, "held", "Use 1 for kept calls"),
    ({"noted": "maybe"}, "noted", "Use 1 for calls with a note"),
    ({"order": "random"}, "order", "newest, oldest, longest or shortest"),
    ({"limit": "0"}, "limit", "from 1 to 500"),
    ({"limit": "501"}, "limit", "from 1 to 500"),
    ({"limit": "ten"}, "limit", "from 1 to 500"),
    ({"after": "%%%"}, "after", "not valid any more"),
])
def test_parse_query_errors_name_the_field(args, field, words):
    with pytest.raises(search.QueryError) as caught:
        search.parse_query(args, BERLIN)
    assert caught.value.field == field
    assert words in caught.value.message
    assert str(caught.value) == f"{field}: {caught.value.message}"


def test_a_query_built_in_code_is_checked_too(db):
    for q, field in ((search.CallQuery(limit=0), "limit"), (search.CallQuery(limit=501), "limit"),
                     (search.CallQuery(start="yesterday"), "start"), (search.CallQuery(end="2024-13-01"), "end"),
                     (search.CallQuery(number="12a"), "number"), (search.CallQuery(number=""), "number"),
                     (search.CallQuery(match="regex"), "match"), (search.CallQuery(line=0), "line"),
                     (search.CallQuery(status="gone"), "status"), (search.CallQuery(order="up"), "order"),
                     (search.CallQuery(held="yes"), "held"), (search.CallQuery(direction="in"), "direction")):
        with pytest.raises(search.QueryError) as caught:
            search.search(db, q)
        assert caught.value.field == field
    # Other spellings of a UTC instant mean the same.
    a = search.search(db, search.CallQuery(start="2024-01-10T00:00:00+00:00", end="2024-01-11T01:00:00+01:00"))
    b = search.search(db, search.CallQuery(start="2024-01-10T00:00:00.000Z", end="2024-01-11T00:00:00Z"))
    assert a[0] == b[0] and a[0]


# -- plans ------------------------------------------------------------------------------------------------
def plan(db, q, for_count=False) -> str:
    steps = search.explain(db, q, for_count)
    assert not any(step in ("SCAN c", "SCAN calls") for step in steps), f"a full table scan: {steps}"
    return " | ".join(steps)


def test_common_searches_use_indexes(db):
    newest = plan(db, search.CallQuery())
    assert "USING INDEX calls_started" in newest and "TEMP B-TREE" not in newest
    assert "TEMP B-TREE" not in plan(db, search.CallQuery(order="oldest"))
    _, cursor = search.search(db, search.CallQuery())
    assert "calls_started (started_at<?)" in plan(db, search.CallQuery(after=cursor))
    dated = plan(db, search.CallQuery(line=2, start=day(10), end=day(20)))
    assert "calls_line_started (line=? AND started_at>? AND started_at<?)" in dated and "TEMP B-TREE" not in dated
    assert "calls_status_started (status=?)" in plan(db, search.CallQuery(status="discarded"))
    assert "calls_status_started (status=?)" in plan(db, search.CallQuery(status="discarded", line=1, direction="inbound"))
    assert "calls_direction_started (direction=?)" in plan(db, search.CallQuery(direction="outbound"))
    assert "calls_held_started" in plan(db, search.CallQuery(held=True, line=3))
    prefix = plan(db, search.CallQuery(number="0301", match="prefix"))
    assert "calls_number_filters (remote_number>? AND remote_number<?)" in prefix
    assert "calls_dialed_filters (dialed>? AND dialed<?)" in prefix and "LIKE" not in prefix
    assert "calls_fts VIRTUAL TABLE" in plan(db, search.CallQuery(number="0301"))
    assert "calls_fts VIRTUAL TABLE" in plan(db, search.CallQuery(number="98765", line=1, start=day(3)))
    assert "calls_number_filters" in plan(db, search.CallQuery(number="#"))
    # Every filter has an index in duration order too: no sorting of a million calls.
    for q, index in ((search.CallQuery(order="longest"), "calls_duration"),
                     (search.CallQuery(order="shortest", line=2), "calls_line_duration (line=?)"),
                     (search.CallQuery(order="longest", status="discarded", line=1), "calls_status_duration (status=?)"),
                     (search.CallQuery(order="shortest", direction="inbound"), "calls_direction_duration (direction=?)"),
                     (search.CallQuery(order="longest", held=True, line=2), "calls_held_duration"),
                     (search.CallQuery(order="longest", noted=True, direction="outbound"), "calls_noted_duration"),
                     (search.CallQuery(noted=True, line=3), "calls_noted_started")):
        steps = plan(db, q)
        assert index in steps and "TEMP B-TREE" not in steps, (q, steps)
    _, cursor = search.search(db, search.CallQuery(order="longest", line=2))
    assert "calls_line_duration (line=? AND <expr><?)" in plan(db, search.CallQuery(order="longest", line=2,
                                                                                     after=cursor))
    assert "calls_fts VIRTUAL TABLE" in plan(db, search.CallQuery(text="weber", order="shortest"))
    # A few days sorted by duration: the calls of those days, sorted (not a walk of every call).
    assert "calls_started (started_at>? AND started_at<?)" in plan(db, search.CallQuery(
        order="longest", start=day(3), end=day(5)))
    # Counts read the indexes only where they can.
    assert "COVERING INDEX calls_status_" in plan(db, search.CallQuery(status="deleted"), for_count=True)
    assert "COVERING INDEX calls_line_started" in plan(db, search.CallQuery(line=1, start=day(3)), for_count=True)
    assert "calls_held_" in plan(db, search.CallQuery(held=True), for_count=True)
    assert "calls_fts VIRTUAL TABLE" in plan(db, search.CallQuery(number="0301"), for_count=True)


def test_number_text_never_reaches_the_sql(db):
    """FTS5 syntax and SQL in a number cannot get past the checks (and the phrase is quoted)."""
    assert search.fts_phrase('12"3') == '{remote_number dialed} : "12""3"'
    for number in ('"', "1 OR 2", "NEAR(1 2)", "1^2", "'; DROP TABLE calls; --"):
        with pytest.raises(search.QueryError):
            search.search(db, search.CallQuery(number=number))
    rows, _ = search.search(db, search.CallQuery(number="*67"))    # FTS5 special characters, quoted
    assert rows and all("*67" in (r["remote_number"] or "") + " " + (r["dialed"] or "") for r in rows)
