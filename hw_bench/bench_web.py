"""Web benchmark: list and search pages and the JSON API, over real HTTP, on a million calls.

Reuses (or makes, with bench_search.generate) the catalog of --calls calls in --db, starts the
real app under waitress on 127.0.0.1 like `hookline web`, logs in as a manager (and makes a
token for the API), and times each request end to end on the loopback (the server's time plus
a few hundred microseconds of HTTP): median and 95th percentile over --runs runs. The obvious
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


def timed(session: requests.Session, url: str, runs: int) -> tuple[float, float, requests.Response]:
    times, response = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        response = session.get(url, allow_redirects=False, timeout=60)
        times.append(time.perf_counter() - t0)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))], response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/hookline-bench-1M"))
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
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

        # A cursor 100 pages deep, found by walking the API once.
        url = "/api/v1/calls?limit=50"
        for _ in range(99):
            url = api.get(base + url).json()["next_url"]
        deep_cursor = url.split("after=", 1)[1]

        cases = [
            ("page", "dashboard", "/"),
            ("page", "calls, first page (with count)", "/calls"),
            ("page", "calls, page 100 (cursor)", f"/calls?limit=50&after={deep_cursor}"),
            ("page", "line 2, one month", "/calls?line=2&date_from=2025-06-01&date_to=2025-06-30"),
            ("page", "status discarded", "/calls?status=discarded"),
            ("page", "number contains 4 digits", "/calls?number=4711"),
            ("page", "number prefix +44", "/calls?number=%2B44&match=prefix"),
            ("page", "one call", None),
            ("api", "calls, first page", "/api/v1/calls?limit=50"),
            ("api", "calls, page 100 (cursor)", f"/api/v1/calls?limit=50&after={deep_cursor}"),
            ("api", "number contains", "/api/v1/calls?number=4711"),
            ("api", "line + month, 500 per page",
             "/api/v1/calls?line=2&date_from=2025-06-01&date_to=2025-06-30&limit=500"),
            ("api", "status", "/api/v1/status"),
        ]
        first = api.get(base + "/api/v1/calls?limit=1").json()["calls"][0]["id"]
        print(f"\n{'request':48} {'median ms':>10} {'p95 ms':>8} {'bytes':>8}")
        for kind, label, url in cases:
            url = url or f"/calls/{first}"
            session = page if kind == "page" else api
            med, p95, response = timed(session, base + url, args.runs)
            print(f"{kind + ': ' + label:48} {med * 1000:10.1f} {p95 * 1000:8.1f} {len(response.content):8d}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
