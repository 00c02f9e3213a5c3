"""Web benchmark: list and search pages and the JSON API, over real HTTP, on a million calls.

Reuses (or makes, with bench_search.ensure) the catalog of --calls calls in --db, starts the
real app under waitress on 127.0.0.1 like `hookline web`, logs in as a manager (and makes a
token for the API), and times each request end to end on the loopback (the server's time plus
a few hundred microseconds of HTTP): median and 95th percentile over --runs runs, after one
run that warms the caches, and the median CPU time the request took in this process (server
and client), which other work on the machine does not inflate. Every sort, filter and search
of the calls page is here: first pages with their count, a page 100 deep, the `+44` prefix
(many matches), names, notes, and a call's page with its previous and next call. The obvious
alternative for paging (OFFSET, which the app never uses) is timed at the SQL level by
bench_search.py.

    .venv/bin/python hw_bench/bench_web.py [--db DIR] [--calls N] [--runs R]
"""
from __future__ import annotations

import argparse
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "hw_bench"))

import bench_search
import web
from appliance.store import db as dbmod, users

PASSWORD = "benchmark manager 1"


def timed(session: requests.Session, url: str, runs: int) -> tuple[float, float, float, requests.Response]:
    """Median and 95th percentile of the wall time, and the median CPU time of this process (the
    server and the client: what the request costs whatever else the machine is doing)."""
    session.get(url, allow_redirects=False, timeout=60)      # warm the caches
    times, cpu, response = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        response = session.get(url, allow_redirects=False, timeout=60)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))], statistics.median(cpu), \
        response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/hookline-bench-1M"))
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    print("$ " + shlex.join(["python", *sys.argv]))
    print(bench_search.host_line())
    print(f"catalog: {bench_search.ensure(args.db, args.calls)}", flush=True)
    db = dbmod.connect(args.db)
    if users.get_user_by_name(db, "bench") is None:
        users.create_user(db, "bench", "manager", PASSWORD)
    _, token = users.create_token(db, "bench", "benchmark")
    db.close()

    server = web.serve_in_thread(args.db, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.port}"
    try:
        page = requests.Session()
        form = page.get(base + "/login").text
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        r = page.post(base + "/login", data={"csrf_token": csrf, "name": "bench", "password": PASSWORD},
                      allow_redirects=False)
        assert r.status_code == 302, r.text[:300]
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"

        # Cursors 100 pages deep, found by walking the API once.
        def deep(url: str) -> str:
            for _ in range(99):
                url = api.get(base + url).json()["next_url"]
            return url.split("after=", 1)[1]

        newest_cursor, longest_cursor = deep("/api/v1/calls?limit=50"), deep("/api/v1/calls?limit=50&order=longest")
        month = "date_from=2025-06-01&date_to=2025-06-30"
        cases = [
            ("page", "dashboard", "/"),
            ("page", "calls, first page (with count)", "/calls"),
            ("page", "calls, page 100 (cursor)", f"/calls?limit=50&after={newest_cursor}"),
            ("page", "oldest first", "/calls?order=oldest"),
            ("page", "longest first", "/calls?order=longest"),
            ("page", "shortest first", "/calls?order=shortest"),
            ("page", "longest first, page 100 (cursor)", f"/calls?limit=50&order=longest&after={longest_cursor}"),
            ("page", "line 2, one month", f"/calls?line=2&{month}"),
            ("page", "line 2, one month, longest first", f"/calls?line=2&{month}&order=longest"),
            ("page", "one day, longest first", "/calls?date_from=2025-06-03&date_to=2025-06-03&order=longest"),
            ("page", "status discarded", "/calls?status=discarded"),
            ("page", "status discarded, shortest first", "/calls?status=discarded&order=shortest"),
            ("page", "kept calls", "/calls?held=1"),
            ("page", "kept calls, longest first", "/calls?held=1&order=longest"),
            ("page", "with a note", "/calls?noted=1"),
            ("page", "with a note, line 3, longest first", "/calls?noted=1&line=3&order=longest"),
            ("page", "number contains 4 digits", "/calls?number=4711"),
            ("page", "search box: 4 digits", "/calls?q=4711"),
            ("page", "search box: 2 digits", "/calls?q=47"),
            ("page", "search box: typed number (030) 47", "/calls?q=%28030%29+47"),
            ("page", "number prefix +44", "/calls?number=%2B44&match=prefix"),
            ("page", "search box: +44 prefix", "/calls?q=%2B44&match=prefix"),
            ("page", "+44 prefix, longest first", "/calls?q=%2B44&match=prefix&order=longest"),
            ("page", "search box: a name (weber)", "/calls?q=weber"),
            ("page", "search box: two words (mueller hans)", "/calls?q=mueller+hans"),
            ("page", "search box: a note (kitchen)", "/calls?q=kitchen"),
            ("page", "search box: a note, shortest first", "/calls?q=kitchen&order=shortest"),
            ("page", "search box: nothing found", "/calls?q=zzzqqq"),
            ("page", "name + note + longest first", "/calls?q=weber&noted=1&order=longest"),
            ("page", "one call (previous/next in time)", None),
            ("page", "one call (previous/next of a search)", "?q=weber&order=longest"),
            ("api", "calls, first page", "/api/v1/calls?limit=50"),
            ("api", "calls, page 100 (cursor)", f"/api/v1/calls?limit=50&after={newest_cursor}"),
            ("api", "longest first", "/api/v1/calls?order=longest"),
            ("api", "number contains", "/api/v1/calls?number=4711"),
            ("api", "+44 prefix", "/api/v1/calls?q=%2B44&match=prefix"),
            ("api", "a name", "/api/v1/calls?q=weber"),
            ("api", "kept, with a note", "/api/v1/calls?held=1&noted=1"),
            ("api", "line + month, 500 per page", f"/api/v1/calls?line=2&{month}&limit=500"),
            ("api", "status", "/api/v1/status"),
        ]
        first = api.get(base + "/api/v1/calls?limit=1").json()["calls"][0]["id"]
        print(f"\n{'request':48} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>7} {'bytes':>8}")
        for kind, label, url in cases:
            if url is None:
                url = f"/calls/{first}"
            elif url.startswith("?"):       # the first call of that search, opened from it
                found = api.get(f"{base}/api/v1/calls?limit=1&{url[1:]}").json()["calls"][0]["id"]
                url = f"/calls/{found}{url}"
            session = page if kind == "page" else api
            med, p95, cpu, response = timed(session, base + url, args.runs)
            print(f"{kind + ': ' + label:48} {med * 1000:10.1f} {p95 * 1000:8.1f} {cpu * 1000:7.1f} "
                  f"{len(response.content):8d}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
