"""Dashboard benchmark: KPI answers through the real HTTP stack, and the page's first render.

The lake is bench/refresh.py's shop (~10 million events over 90 days, delivered as
production delivers them, every day this time) refreshed whole; it is built once in a child
process (so its memory is not counted as the server's) and kept in a cache folder that later
runs reuse (`--lake`; `--rebuild` starts it again). Then, in this process, the API runs
under uvicorn on loopback (a thread) and:
  (a) an httpx client asks every KPI for every filter combination of a fixed set (the
      periods the API lists and more ranges from a seeded generator, each category for the
      KPIs that take one), after one call per KPI has loaded the tables:
        new_filters  the first call of a combination: the tables are in DuckDB, the answer
                     is computed (the answer cache misses);
        warm_repeat  the same URL at once again (the answer cache hits);
  (b) the baseline, in the same run: the same SQL with the same parameters by DuckDB straight
      over the Delta tables, nothing kept between calls (`DeltaTable(...).to_pyarrow_dataset()`
      registered per call; ingestion's records read again), with no HTTP in the way; its rows
      are checked against the API's. baseline / new_filters is what the per-version table
      cache buys;
  (c) headless Chromium (Debian's, driven by Playwright) loads /api/dashboard: from the
      navigation's start to `data-state="ready"` (every panel drawn), once on the server as
      it started (tables not loaded yet: `page_cold_render_ms`) and five more times after
      (a), the median being `page_first_render_ms`.
Targets (issue 13): a KPI call <= 200 ms p95 warm; the page's first render <= 1.5 s.

Last line, one JSON object: {"benchmark": "dashboard", "events", "kpi_warm_p95_ms",
"kpi_new_filters_p95_ms", "baseline_uncached_p95_ms", "ratio", "page_first_render_ms",
"peak_rss_mb", ...}.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
import httpx2 as httpx
import orjson
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from refresh import deliver_history  # noqa: E402

from shared.analytics import KPIS, IngestLog, KpiSpec  # noqa: E402
from shared.lake import Lake  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.warehouse.refresh import refresh  # noqa: E402
from shared.warehouse.specs import CATALOG  # noqa: E402
from shoplake.api import create_app  # noqa: E402
from shoplake.services import Services  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
RANGES = 24
"""Date ranges in the fixed filter set: the periods the API lists, then seeded ones."""
PAGE_LOADS = 5
INGEST_LOG = "ingest_log"
# Set before the page's own script runs: when (ms since the navigation started) the body
# first says every panel is drawn.
READY_PROBE = """
new MutationObserver((_, observer) => {
  if (document.body && document.body.dataset.state === "ready") {
    window.__shoplakeReadyAt = performance.now();
    observer.disconnect();
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-state"]});
"""


# -- the lake -------------------------------------------------------------------------

def cached_lake(cache: Path, events: int, days: int, rebuild: bool) -> dict[str, Any]:
    """The refreshed lake in `cache` (built there first unless a finished one is there)."""
    marker = cache / "built.json"
    if marker.exists() and not rebuild:
        built = json.loads(marker.read_text())
        if (built["requested_events"], built["days"]) == (events, days):
            print(f"reusing the lake in {cache} ({built['events']:,} events)", file=sys.stderr)
            return built
    shutil.rmtree(cache, ignore_errors=True)  # a lake of other sizes, or half built
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as child:
        built = child.submit(_build, cache, events, days).result()
    marker.write_text(json.dumps(built))
    return built


def _build(cache: Path, events: int, days: int) -> dict[str, Any]:
    started = time.perf_counter()
    history = deliver_history(cache / "lake", cache / "exports", events, days)
    last_day = next(history.days_left)
    delivered = history.events + history.feed.events(last_day).received
    history.feed.orders(last_day)
    result = refresh(history.lake, full=True)
    print(f"built the lake in {time.perf_counter() - started:.0f} s (refresh "
          f"{result.seconds:.1f} s)", file=sys.stderr)
    return {"lake": str(cache / "lake"), "events": delivered, "requested_events": events,
            "days": days, "build_s": round(time.perf_counter() - started, 1),
            "refresh_s": round(result.seconds, 2)}


# -- the server -----------------------------------------------------------------------

@contextmanager
def serving(lake_url: str) -> Iterator[str]:
    """The API (the app `shoplake serve` runs) under uvicorn on a free loopback port."""
    app = create_app(Services(Settings(lake_url=lake_url)))
    # IPPROTO_TCP said outright: asyncio sets TCP_NODELAY only on sockets that say it, and
    # without it every keep-alive response waits ~40 ms (Nagle meets the delayed ACK).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


# -- (a) KPI calls --------------------------------------------------------------------

def filter_set(overview: dict[str, Any]) -> list[dict[str, str]]:
    """The listed periods, then seeded ranges of the data's days, `RANGES` in all."""
    ranges = [{"from": p["from"], "to": p["to"]} for p in overview["periods"]][:RANGES]
    first = date.fromisoformat(overview["dates"]["first"])
    span = (date.fromisoformat(overview["dates"]["last"]) - first).days
    pick = random.Random(13)
    while len(ranges) < RANGES:
        start = pick.randint(0, span)
        end = min(span, start + pick.choice((0, 6, 13, 27, 45)))
        chosen = {"from": (first + timedelta(days=start)).isoformat(),
                  "to": (first + timedelta(days=end)).isoformat()}
        if chosen not in ranges:
            ranges.append(chosen)
    return ranges


def calls(overview: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    found = []
    for period in filter_set(overview):
        for spec in KPIS.values():
            categories = overview["categories"] if "category" in spec.filters else []
            for category in (None, *categories):
                found.append((spec.name, period if category is None
                              else {**period, "category": category}))
    return found


def timed_get(client: httpx.Client, url: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = client.get(url)
    body = response.content
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {body[:300]!r}")
    return elapsed, orjson.loads(body)


# -- (b) the uncached baseline --------------------------------------------------------

class Uncached:
    """A KPI's SQL straight over the tables, opened and registered for each call."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def rows(self, spec: KpiSpec, filters: dict[str, Any]) -> tuple[float, list[dict]]:
        started = time.perf_counter()
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")
            for table in spec.reads:
                if table == INGEST_LOG:
                    con.register(table, IngestLog(self.lake).table())
                else:
                    spec_of = CATALOG[table]  # a new DeltaTable: its log read again
                    con.register(table, self.lake.table(spec_of.zone, spec_of.table
                                                        ).to_pyarrow_dataset())
            rows = con.sql(spec.sql, params={p: v for p, v in parameters(filters).items()
                                             if p in spec.parameters}).to_arrow_table()
            found = orjson.loads(orjson.dumps(rows.to_pylist(), default=float))
        finally:
            con.close()
        return (time.perf_counter() - started) * 1000, found


def parameters(filters: dict[str, Any]) -> dict[str, Any]:
    """The SQL's named parameters for the filters an answer says it applied."""
    first, last = date.fromisoformat(filters["from"]), date.fromisoformat(filters["to"])
    days = (last - first).days + 1
    return {"date_from": first, "date_to": last,
            "previous_from": first - timedelta(days=days),
            "previous_to": first - timedelta(days=1),
            "category": filters.get("category"), "limit": filters.get("limit")}


def same_rows(ours: list[dict], theirs: list[dict]) -> bool:
    def close(a: Any, b: Any) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9,
                                                                    abs_tol=1e-9)
        return a == b
    return len(ours) == len(theirs) and all(
        row.keys() == other.keys() and all(close(row[k], other[k]) for k in row)
        for row, other in zip(ours, theirs, strict=True))


# -- (c) the page ---------------------------------------------------------------------

def page_renders(url: str, loads: int) -> list[float]:
    """Milliseconds from the navigation's start to every panel drawn, for each load (each in
    a new browser context: nothing cached)."""
    from playwright.sync_api import sync_playwright

    found = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for _ in range(loads):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
                page.add_init_script(READY_PROBE)
                page.goto(url)
                page.wait_for_function("document.body.dataset.state !== 'loading'",
                                       timeout=120_000)
                state = page.evaluate("document.body.dataset.state")
                if state != "ready" or errors:
                    raise RuntimeError(f"the page ended {state}: {errors}")
                found.append(page.evaluate("window.__shoplakeReadyAt"))
                context.close()
        finally:
            browser.close()
    return found


# -- report ---------------------------------------------------------------------------

def p95(values: list[float]) -> float:
    return _quantile(values, 0.95)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float]:
    return {"calls": len(values), "p50_ms": round(_quantile(values, 0.5), 2),
            "p95_ms": round(p95(values), 2), "max_ms": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--lake", type=Path, help="cache folder of the built lake (default: "
                        "shoplake-bench-dashboard-<events> in the temporary folder)")
    parser.add_argument("--rebuild", action="store_true", help="build the lake again")
    args = parser.parse_args()

    cache = args.lake or Path(tempfile.gettempdir()) / f"shoplake-bench-dashboard-{args.events}"
    built = cached_lake(cache, args.events, args.days, args.rebuild)
    lake = Lake.open(built["lake"])
    browser = CHROMIUM.exists()
    if not browser:
        print(f"no {CHROMIUM} (apt-get install chromium): the page is not measured",
              file=sys.stderr)

    with serving(lake.url) as base, httpx.Client(base_url=base, timeout=120) as client:
        cold = page_renders(f"{base}/api/dashboard", 1)[0] if browser else None
        _, overview = timed_get(client, "/api/kpis")
        for name in KPIS:  # the tables into DuckDB (done already when the page ran)
            timed_get(client, f"/api/kpis/{name}")
        new: dict[str, list[float]] = {name: [] for name in KPIS}
        repeat: dict[str, list[float]] = {name: [] for name in KPIS}
        baseline: dict[str, list[float]] = {name: [] for name in KPIS}
        uncached, mismatches = Uncached(lake), []
        plan = calls(overview)
        for name, filters in plan:
            url = f"/api/kpis/{name}?{urlencode(filters)}"
            elapsed, answer = timed_get(client, url)
            new[name].append(elapsed)
            elapsed, _ = timed_get(client, url)
            repeat[name].append(elapsed)
            elapsed, rows = uncached.rows(KPIS[name], answer["filters"])
            baseline[name].append(elapsed)
            if not same_rows(answer["rows"], rows):
                mismatches.append(url)
        renders = page_renders(f"{base}/api/dashboard", PAGE_LOADS) if browser else []

    every = {label: [v for values in series.values() for v in values]
             for label, series in (("warm_repeat", repeat), ("new_filters", new),
                                   ("baseline", baseline))}
    print(f"{len(plan):,} filter combinations over {len(KPIS)} KPIs, {built['events']:,} "
          "events", file=sys.stderr)
    print(f"{'kpi':<28} {'repeat p50/p95':>16} {'new p50/p95':>16} {'uncached p50/p95':>18}",
          file=sys.stderr)
    for name in KPIS:
        r, n, b = summary(repeat[name]), summary(new[name]), summary(baseline[name])
        print(f"{name:<28} {r['p50_ms']:>7.1f}/{r['p95_ms']:<7.1f}  {n['p50_ms']:>7.1f}/"
              f"{n['p95_ms']:<7.1f}  {b['p50_ms']:>8.1f}/{b['p95_ms']:<8.1f} ms",
              file=sys.stderr)
    if mismatches:
        print(f"the baseline's rows differ from the API's for {len(mismatches)} calls, "
              f"e.g. {mismatches[:3]}", file=sys.stderr)
    if browser:
        print(f"page: cold {cold:.0f} ms, then {', '.join(f'{ms:.0f}' for ms in renders)} ms",
              file=sys.stderr)
    warm_p95, new_p95 = p95(every["warm_repeat"]), p95(every["new_filters"])
    baseline_p95 = p95(every["baseline"])
    print(json.dumps({
        "benchmark": "dashboard",
        "events": built["events"],
        "filter_combinations": len(plan),
        "kpi_warm_p95_ms": round(warm_p95, 2),
        "kpi_warm_p50_ms": round(_quantile(every["warm_repeat"], 0.5), 2),
        "kpi_new_filters_p95_ms": round(new_p95, 2),
        "kpi_new_filters_p50_ms": round(_quantile(every["new_filters"], 0.5), 2),
        "baseline_uncached_p95_ms": round(baseline_p95, 2),
        "ratio": round(baseline_p95 / new_p95, 2),
        "baseline_rows_match": not mismatches,
        "page_first_render_ms": round(statistics.median(renders), 1) if renders else None,
        "page_cold_render_ms": round(cold, 1) if cold is not None else None,
        "per_kpi_p95_ms": {name: {"warm": summary(repeat[name])["p95_ms"],
                                  "new_filters": summary(new[name])["p95_ms"],
                                  "baseline": summary(baseline[name])["p95_ms"]}
                           for name in KPIS},
        "targets_met": {"kpi_p95_le_200ms": max(warm_p95, new_p95) <= 200,
                        "page_le_1500ms": bool(renders) and statistics.median(renders) <= 1500},
        "lake_build_s": built["build_s"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
