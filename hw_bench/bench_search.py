"""Call search benchmark: appliance.store.search on a catalog of a million calls.

Generates (once; later runs reuse it) a catalog of N calls (default 1,000,000) in the data folder
given by --db: three years of office calls on 4 lines, business hours and weekdays busier, ~60 %
inbound, ~30 % of inbound numbers withheld, a few thousand regular numbers plus one-off ones,
statuses complete / recovered / discarded / deleted, a few held calls and notes. The rows go in
through the real schema in one transaction with executemany; the full-text index is built in one
pass at the end of that transaction (its per-row trigger is put back unchanged).

Then times, in this process (server side: SQL plus turning rows into the dicts the web page
gets, no HTTP), the median and 95th percentile over --runs runs of each of:
first page newest, page 100 through the cursor, line + one month, status=discarded, held, a
number prefix matching many and one matching few calls, a number containing 4 digits, and counts
capped at 10,000 — next to the obvious alternatives (OFFSET paging to page 100, LIKE '%x%' for
"contains", an uncapped count). Each query's plan (EXPLAIN QUERY PLAN) is printed under the table.

    .venv/bin/python hw_bench/bench_search.py [--db DIR] [--calls N] [--runs R]
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import shlex
import sqlite3
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from appliance.store import catalog, db as dbmod, search

SEED = 20240531
END = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAYS = 3 * 365
LINES = 4
PAGE = 50
VERSION = "2"     # of the generator: a catalog made by another version is made again
NOTES = ("callback promised", "quote sent for the kitchen", "complaint about the delivery", "wants a visit Monday",
         "order 4711 confirmed", "invoice question, sent copy", "new customer, referred by Weber",
         "asked for the manager", "wrong number", "price list by mail")


# -- the catalog ---------------------------------------------------------------------------------
def _digits(rng: random.Random, k: int) -> str:
    return str(rng.randrange(10 ** k)).zfill(k)


def _number(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.55:
        return "030" + _digits(rng, 7 + (kind < 0.2))                                 # local
    if kind < 0.85:
        return "01" + "567"[rng.randrange(3)] + _digits(rng, 8)                        # mobile
    if kind < 0.95:
        return "0" + "2345689"[rng.randrange(7)] + _digits(rng, 8 + (kind < 0.9))      # elsewhere
    return "+" + ("44", "33", "1", "43", "41")[rng.randrange(5)] + _digits(rng, 9)   # abroad


def _iso_ms(ts_ms: int) -> str:
    return catalog.iso(ts_ms / 1000)


def generate(data: Path, n: int) -> tuple[float, float]:
    """Create the catalog with n calls; returns the seconds it took (making the rows, in all)."""
    t0 = time.perf_counter()
    rng = random.Random(SEED)
    db = dbmod.connect(data)
    conn = db.conn
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")

    regulars = [_number(rng) for _ in range(3000)]
    regular_weights = [1 / (i + 1) ** 0.7 for i in range(len(regulars))]   # some call a lot
    names = ["MUELLER HANS", "SCHMIDT GMBH", "DR WEBER", "BAKERY SUN", "CITY OFFICE", "ACME LTD"]

    # When: weekdays 5x weekends, hours around the working day.
    start_ms = int((END - timedelta(days=DAYS)).timestamp() * 1000)
    day_weights = [5 if (END - timedelta(days=DAYS - d)).weekday() < 5 else 1 for d in range(DAYS)]
    hour_weights = [0.2] * 7 + [3, 8, 10, 10, 8, 5, 8, 10, 9, 7, 4] + [1, 0.5, 0.4, 0.3, 0.2, 0.2]
    days = rng.choices(range(DAYS), weights=day_weights, k=n)
    hours = rng.choices(range(24), weights=hour_weights, k=n)
    moments = sorted(d * 86_400_000 + h * 3_600_000 + rng.randrange(3_600_000) for d, h in zip(days, hours))

    # Drawn in bulk (random.choices with cum_weights): a million rows in seconds, not minutes.
    lines = rng.choices((1, 2, 3, 4), cum_weights=(4, 7, 9, 10), k=n)
    regular_cum = list(itertools.accumulate(regular_weights))
    regular_picks = rng.choices(regulars, cum_weights=regular_cum, k=n)
    ids: set[str] = set()
    rows = []
    created = catalog.iso(END.timestamp())
    for i, offset in enumerate(moments):
        call_id = f"{rng.getrandbits(40):010x}"
        while call_id in ids:
            call_id = f"{rng.getrandbits(40):010x}"
        ids.add(call_id)
        started_ms = start_ms + offset
        line = lines[i]
        inbound = rng.random() < 0.6
        number = regular_picks[i] if rng.random() < 0.6 else _number(rng)
        withheld = inbound and rng.random() < 0.3
        remote_number = number if inbound and not withheld else None
        remote_name = names[rng.randrange(len(names))] if remote_number and rng.random() < 0.3 else None
        dialed = None if inbound else number
        duration = round(rng.expovariate(1 / 180) + 1, 3)
        roll = rng.random()
        status = ("discarded" if roll < 0.06 else "recovered" if roll < 0.07 else
                  "deleted" if roll < 0.12 else "complete")
        started = _iso_ms(started_ms)
        path = (f"recordings/{started[:4]}/{started[5:7]}/{started[8:10]}/{started[:19].replace(':', '-')}"
                f"_L{line}_{'in' if inbound else 'out'}_{number if not withheld else 'withheld'}_{call_id}.mp3"
                if status in ("complete", "recovered") else None)
        rows.append((
            call_id, line, "inbound" if inbound else "outbound", started, _iso_ms(started_ms + int(duration * 1000)),
            duration, remote_number, remote_name, int(withheld), dialed, status, path,
            int(duration * 4000) if path else None, f"{rng.getrandbits(256):064x}" if path else None,
            1.0, duration + 1 if path else None, 1, 1, 8000, 32, created,
            1 if rng.random() < 0.003 else 0, NOTES[rng.randrange(len(NOTES))] if rng.random() < 0.01 else None,
            _iso_ms(started_ms + 86_400_000 * 365) if status == "deleted" else None))
    build_s = time.perf_counter() - t0
    with dbmod.immediate(db):
        # The full-text index is filled in one pass ('rebuild') instead of by the per-row trigger
        # (5x faster); the trigger is put back as it was, in the same transaction.
        trigger_sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                                   "AND name = 'calls_fts_insert'").fetchone()[0]
        conn.execute("DROP TRIGGER calls_fts_insert")
        conn.executemany(
            "INSERT INTO calls (id, line, direction, started_at, ended_at, duration_s, remote_number, remote_name, "
            "remote_withheld, dialed, status, path, size_bytes, sha256, preroll_s, audio_s, part, clock_synced, "
            "sample_rate, bitrate_kbps, created_at, held, note, deleted_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("INSERT INTO calls_fts (calls_fts) VALUES ('rebuild')")
        conn.execute(trigger_sql)
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         [("bench_calls", str(n)), ("bench_version", VERSION)])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return build_s, time.perf_counter() - t0


def existing_calls(data: Path) -> int | None:
    if not (data / dbmod.DB_NAME).exists():
        return None
    conn = sqlite3.connect(data / dbmod.DB_NAME)
    try:
        made = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('bench_calls', 'bench_version')"))
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    return int(made["bench_calls"]) if made.get("bench_version") == VERSION and "bench_calls" in made else None


def ensure(data: Path, n: int) -> str:
    """The catalog of n calls in data: reused when this generator made it, else made anew.
    Says which."""
    have = existing_calls(data)
    if have == n:
        return f"{data / dbmod.DB_NAME}: reusing {have:,} calls"
    for suffix in ("", "-wal", "-shm"):
        (data / (dbmod.DB_NAME + suffix)).unlink(missing_ok=True)
    build_s, total_s = generate(data, n)
    return (f"{data / dbmod.DB_NAME}: generated {n:,} calls in {total_s:.1f} s "
            f"({build_s:.1f} s making rows, {total_s - build_s:.1f} s inserting and indexing)")


# -- timing --------------------------------------------------------------------------------------
def timed(fn, runs: int) -> tuple[float, float, object]:
    fn()                                    # warm the page cache and the statement cache
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    times.sort()
    p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return statistics.median(times) * 1000, p95 * 1000, result


def host_line() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.machine()} {cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"sqlite-utils {metadata.version('sqlite-utils')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="/tmp/hookline-bench-1M", help="data folder of the generated catalog")
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls in the generated catalog")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per query")
    args = parser.parse_args()
    data = Path(args.db)

    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"host:    {host_line()}")
    print(f"catalog: {ensure(data, args.calls)}", flush=True)
    size = sum((data / (dbmod.DB_NAME + s)).stat().st_size for s in ("", "-wal")
               if (data / (dbmod.DB_NAME + s)).exists())
    print(f"size:    {size / 2 ** 20:.0f} MiB; {args.runs} runs per query, page size {PAGE}, times in ms")

    db = dbmod.connect(data)
    conn = db.conn
    # Terms taken from the data: a regular caller's number, so the searches find something.
    frequent = conn.execute("SELECT remote_number, count(*) n FROM calls WHERE remote_number IS NOT NULL "
                            "GROUP BY remote_number ORDER BY n DESC LIMIT 1 OFFSET 50").fetchone()[0]
    few_prefix = frequent[:7]
    many_prefix = "030"
    contains = frequent[4:8]
    mid = END - timedelta(days=DAYS // 2)
    month = (catalog.iso(mid.timestamp()), catalog.iso((mid + timedelta(days=31)).timestamp()))

    def walk_to(q: search.CallQuery, page: int) -> search.CallQuery:
        cursor = None
        for _ in range(page - 1):
            _, cursor = search.search(db, search.CallQuery(**{**q.__dict__, "after": cursor}))
        return search.CallQuery(**{**q.__dict__, "after": cursor})

    base = search.CallQuery(limit=PAGE)
    page100 = walk_to(base, 100)
    page2000 = walk_to(base, 2000)
    cases: list[tuple[str, search.CallQuery | None, object]] = [
        ("first page, newest first", base, None),
        ("page 100 via cursor", page100, None),
        ("page 2000 via cursor", page2000, None),
        ("line 2 + one month", search.CallQuery(line=2, start=month[0], end=month[1], limit=PAGE), None),
        ("status=discarded", search.CallQuery(status="discarded", limit=PAGE), None),
        ("held (kept calls)", search.CallQuery(held=True, limit=PAGE), None),
        (f"number prefix {many_prefix} (many)", search.CallQuery(number=many_prefix, match="prefix", limit=PAGE), None),
        (f"number prefix {few_prefix} (few)", search.CallQuery(number=few_prefix, match="prefix", limit=PAGE), None),
        (f"number contains {contains}", search.CallQuery(number=contains, limit=PAGE), None),
        (f"number contains {contains[:2]} (2 digits)", search.CallQuery(number=contains[:2], limit=PAGE), None),
    ]
    counts = [
        ("count capped: everything", search.CallQuery()),
        ("count capped: line 2 + one month", search.CallQuery(line=2, start=month[0], end=month[1])),
        ("count capped: status=discarded", search.CallQuery(status="discarded")),
        ("count capped: held", search.CallQuery(held=True)),
        (f"count capped: contains {contains}", search.CallQuery(number=contains)),
    ]
    offset_sql = ("SELECT rowid AS _rowid, * FROM calls ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?",
                  [PAGE + 1, 99 * PAGE])
    offset_deep_sql = (offset_sql[0], [PAGE + 1, 1999 * PAGE])
    like_sql = ("SELECT rowid AS _rowid, * FROM calls WHERE remote_number LIKE ? OR dialed LIKE ? "
                "ORDER BY started_at DESC, rowid DESC LIMIT ?", [f"%{contains}%", f"%{contains}%", PAGE + 1])

    table = [("query", "median", "p95", "rows")]
    plans = []
    for name, q, _ in cases:
        median, p95, (rows, _cursor) = timed(lambda q=q: (search.forget_plans(db), search.search(db, q))[1], args.runs)
        table.append((name, f"{median:.2f}", f"{p95:.2f}", str(len(rows))))
        plans.append((name, search.explain(db, q)))
    for name, q in counts:
        median, p95, (n, capped) = timed(lambda q=q: (search.forget_plans(db), search.count(db, q))[1], args.runs)
        table.append((name, f"{median:.2f}", f"{p95:.2f}", f"{n:,}{'+' if capped else ''}"))
        plans.append((name, search.explain(db, q, for_count=True)))
    table.append(("-- alternatives --", "", "", ""))
    alternatives = (("OFFSET paging to page 100", offset_sql), ("OFFSET paging to page 2000", offset_deep_sql),
                    (f"LIKE '%{contains}%' contains", like_sql))
    for name, (sql, params) in alternatives:
        median, p95, rows = timed(
            lambda sql=sql, params=params: [catalog.public_call(r) for r in db.query(sql, params)], args.runs)
        table.append((name, f"{median:.2f}", f"{p95:.2f}", str(min(len(rows), PAGE))))
    median, p95, n = timed(lambda: conn.execute("SELECT count(*) FROM calls").fetchone()[0], args.runs)
    table.append(("count(*) uncapped: everything", f"{median:.2f}", f"{p95:.2f}", f"{n:,}"))
    like_count = "SELECT count(*) FROM calls WHERE remote_number LIKE ? OR dialed LIKE ?"
    median, p95, n = timed(lambda: conn.execute(like_count, [f"%{contains}%", f"%{contains}%"]).fetchone()[0],
                           args.runs)
    table.append((f"count(*) uncapped: LIKE '%{contains}%'", f"{median:.2f}", f"{p95:.2f}", f"{n:,}"))

    widths = [max(len(r[i]) for r in table) for i in range(4)]
    print()
    for cells in table:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    print()
    print("plans (EXPLAIN QUERY PLAN):")
    for name, steps in plans:
        print(f"  {name}: " + " | ".join(steps))


if __name__ == "__main__":
    main()
