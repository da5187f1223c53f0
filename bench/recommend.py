"""Recommender benchmark: quality on the real Online Retail year, serving latency at scale.

Quality: the 2010-11 file (../shared/data) is written as the shop's raw export and goes
through the production path (upload with the built-in `online_retail` mapping, refresh,
`model.train`), so the split is the curated tables' last 30 days. Every candidate is
reported, plus implicit's ALS (the matrix-factorisation alternative we did not choose,
folded in the same linear way) as the evidence for that choice.

Latency: synthetic catalogues of 5k (EASE), 50k and 200k items (factors, 64), registered
and promoted in a lake; requests go through the real request handler (the Functions HTTP
function that serves GET /api/recommendations/{customer_id}, called in-process with a real
`func.HttpRequest`, one request at a time) and are compared with a plain numpy floor doing
the same arithmetic (gather, sum, matvec, mask, argpartition) in this run. Each size
reports four paths over the same customers, so the overhead splits:
  p50_ms/p99_ms   `function_app.get_recommendations(HttpRequest)`;
  fastapi_*       the same request through the catch-all `http_api` path:
                  `func.AsgiMiddleware(create_app(services)).handle_async(HttpRequest)`;
  onnx_*          `OnnxScorer.top_k` on the customer's profile alone;
  floor_*         plain numpy on the same profile.
BLAS is limited to one thread throughout (onnxruntime serves with one intra-op thread).

Last line, one JSON object: {"bench": "recommend", "models": {...}, "served": ...,
"latency": {"5000": {...}, ...}, "peak_rss_mb": ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import itertools
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.evaluate import evaluate, holdout  # noqa: E402
from model.interactions import HISTORY_SCHEMA, read_purchases  # noqa: E402
from model.onnx_export import export_onnx  # noqa: E402
from model.popularity import tie_break  # noqa: E402
from model.promotion import decide  # noqa: E402
from model.registry import Manifest, Registry, VersionFiles  # noqa: E402
from model.scoring import ItemScorer, ModelKind  # noqa: E402
from model.serving import _customer_profile  # noqa: E402  (the served profile)
from model.train import ITEMS_SCHEMA, TrainingConfig, test_period, train  # noqa: E402
from shared.batch.ingest import upload_file  # noqa: E402
from shared.batch.mapping import load_mapping  # noqa: E402
from shared.lake import Lake  # noqa: E402
from shared.settings import Settings, current_settings  # noqa: E402
from shared.types import MONEY, UTC_TIMESTAMP  # noqa: E402
from shared.warehouse.refresh import refresh  # noqa: E402
from shoplake.api import create_app  # noqa: E402
from shoplake.services import Services, current_services  # noqa: E402
from tests.support.retail import ONLINE_RETAIL_YEAR as ONLINE_RETAIL  # noqa: E402
from tests.support.retail import write_raw_export  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def quality(work: Path) -> dict:
    lake = Lake.open(str(work / "lake"))
    export = work / "online_retail_2010_2011.csv.gz"
    started = time.perf_counter()
    rows = write_raw_export(ONLINE_RETAIL, export)
    result = upload_file(lake, export, load_mapping("online_retail"))
    refresh(lake)
    log(f"landed {result.landed:,} of {rows:,} lines and refreshed in "
        f"{time.perf_counter() - started:.1f} s")
    trained = train(lake, datetime.now(UTC), TrainingConfig(), progress=log)
    models = {c.kind.value: {"recall_at_10": round(c.recall_at_10, 4),
                             "ndcg_at_10": round(c.ndcg_at_10, 4),
                             "fit_s": c.fit_seconds, **c.params} for c in trained.candidates}
    # ALS gets the factor count validation chose for the SVD: the same footing.
    models["als_implicit"] = als_evidence(lake, int(models["factors"]["factors"]))
    manifest = trained.manifest
    return {
        "split": {"users": manifest.metrics["customers"], "test_from": manifest.data["test_from"],
                  "purchases": manifest.data["purchases"]},
        "models": models,
        "served": manifest.kind,
        "served_ndcg_at_10": round(manifest.ndcg, 4),
        "buy_again_recall_at_10": round(manifest.metrics["buy_again"]["recall_at_10"], 4),
    }


def als_evidence(lake: Lake, factors: int) -> dict:
    """implicit's ALS on the same split, scored through the same linear fold-in."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    purchases = read_purchases(lake)
    split = holdout(purchases, test_period(purchases, 30))
    regularization = 0.1
    started = time.perf_counter()
    with threadpool_limits(1, "blas"):  # implicit asks for single-threaded BLAS
        als = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=1.0,
                                      iterations=15, random_state=0)
        als.fit(split.train.binary, show_progress=False)
    fit_s = time.perf_counter() - started
    items = np.asarray(als.item_factors, dtype=np.float64)
    # A new profile's least-squares user vector: (YᵀY + λI)⁻¹ Σ Y[items].
    fold_in = np.linalg.inv(items.T @ items + regularization * np.eye(items.shape[1]))
    scorer = ItemScorer(ModelKind.FACTORS, tie_break(split.train.popularity()),
                        item_rows=(items @ fold_in).astype(np.float32),
                        item_out=items.astype(np.float32))
    metrics = evaluate(scorer, split)
    return {"recall_at_10": round(metrics.recall_at_10, 4),
            "ndcg_at_10": round(metrics.ndcg_at_10, 4), "fit_s": round(fit_s, 3),
            "factors": factors, "regularization": regularization, "alpha": 1.0}


# -- latency ------------------------------------------------------------------------------

LATENCY_SIZES = ((5_000, ModelKind.EASE), (50_000, ModelKind.FACTORS),
                 (200_000, ModelKind.FACTORS))
FACTORS = 64
CUSTOMERS = 20_000
MAX_HISTORY = 40
K = 10
WARMUP = 200
CHUNKS = 4
"""Timed requests are split into chunks; each chunk runs every path in turn, so that a burst
of noise from elsewhere on the host lands on all of them rather than on one."""
LATEST_PURCHASE = datetime(2026, 1, 31, 18, tzinfo=UTC)


@dataclass
class Catalogue:
    """A synthetic trained model and the history served with it."""

    scorer: ItemScorer
    items: pa.Table
    customers: pa.Table
    customer_ids: np.ndarray  # str: every customer with a history


def synthetic_catalogue(n_items: int, kind: ModelKind, rng: np.random.Generator) -> Catalogue:
    """Zipf-like popularity; 20k customers with 1-40 distinct purchases drawn by popularity;
    EASE weights (small dense noise, a few strong neighbours per row, zero diagonal) or 64
    factors whose norms grow with popularity."""
    rank = rng.permutation(n_items)
    buyers = np.maximum(1, np.round(20_000 / (rank + 1.0) ** 0.8)).astype(np.int32)
    # Histories: skewed lengths (most customers buy a few things), items by popularity.
    lengths = np.minimum(rng.geometric(0.12, CUSTOMERS), MAX_HISTORY)
    owner = np.repeat(np.arange(CUSTOMERS), lengths)
    cumulative = np.cumsum(buyers, dtype=np.float64)
    bought = np.searchsorted(cumulative, rng.random(len(owner)) * cumulative[-1], side="right")
    pairs = np.unique(owner.astype(np.int64) * n_items + bought)
    owner, bought = pairs // n_items, pairs % n_items
    seconds = rng.integers(0, 365 * 86_400, len(pairs))
    last = np.datetime64(LATEST_PURCHASE.replace(tzinfo=None), "us") - seconds.astype(
        "timedelta64[s]")
    ids = np.char.add("C", np.char.zfill(np.arange(CUSTOMERS).astype(str), 6))
    customers = pa.table({
        "customer_id": pa.array(ids[owner]),
        "item": pa.array(bought.astype(np.int32)),
        "purchases": pa.array(rng.geometric(0.6, len(pairs)).astype(np.int32)),
        "last_purchased_at": pa.array(last.astype("datetime64[us]"),
                                      UTC_TIMESTAMP),
    }, schema=HISTORY_SCHEMA)
    product_ids = np.char.add("P", np.char.zfill(np.arange(n_items).astype(str), 7))
    prices = np.round(rng.lognormal(2.5, 0.8, n_items), 2)
    items = pa.table({
        "item": pa.array(np.arange(n_items, dtype=np.int32)),
        "product_id": pa.array(product_ids),
        "name": pa.array(np.char.add("Product ", np.arange(n_items).astype(str))),
        "category": pa.array(np.char.add("Category ", (rank % 40).astype(str))),
        "unit_price": pc.cast(pa.array(prices), MONEY),
        "currency": pa.array(["GBP"] * n_items),
        "buyers": pa.array(buyers),
    }, schema=ITEMS_SCHEMA)
    bias = tie_break(buyers)
    if kind is ModelKind.EASE:
        weights = rng.standard_normal((n_items, n_items), dtype=np.float32)
        weights *= np.float32(0.002)
        neighbours = rng.integers(0, n_items, (n_items, 30))
        strong = rng.exponential(0.05, (n_items, 30)).astype(np.float32)
        np.put_along_axis(weights, neighbours, strong, axis=1)
        np.fill_diagonal(weights, 0.0)
        scorer = ItemScorer(ModelKind.EASE, bias, item_rows=weights)
    else:
        norms = (0.5 + np.log1p(buyers) / np.log1p(buyers.max())).astype(np.float32)
        out = rng.standard_normal((n_items, FACTORS), dtype=np.float32) * norms[:, None]
        rows = rng.standard_normal((n_items, FACTORS), dtype=np.float32)
        rows *= np.float32(0.05)
        scorer = ItemScorer(ModelKind.FACTORS, bias, item_rows=rows, item_out=out)
    return Catalogue(scorer, items, customers, ids[np.unique(owner)])


def register_champion(lake: Lake, catalogue: Catalogue) -> str:
    """Register the catalogue as a version and promote it through the promotion rule."""
    now = datetime.now(UTC)
    registry = Registry(lake)
    kind = catalogue.scorer.kind
    manifest = Manifest(
        version=Registry.new_version(kind, now),
        kind=str(kind),
        params={"factors": FACTORS} if kind is ModelKind.FACTORS else {"l2": 250.0},
        metrics={"ndcg_at_10": 0.1, "recall_at_10": 0.1, "customers": CUSTOMERS,
                 "popularity": {"ndcg_at_10": 0.05, "recall_at_10": 0.05},
                 "buy_again": {"recall_at_10": 0.2, "customers": CUSTOMERS}},
        candidates=[],
        data={"purchases": catalogue.customers.num_rows, "customers": CUSTOMERS,
              "products": catalogue.scorer.n_items,
              "latest_purchase": LATEST_PURCHASE.isoformat(),
              "test_from": (LATEST_PURCHASE - timedelta(days=30)).isoformat(),
              "test_days": 30, "synthetic": True},
        trained_at=now.isoformat(),
    )
    registry.register(manifest, VersionFiles(export_onnx(catalogue.scorer), catalogue.items,
                                             catalogue.customers))
    if not decide(registry, manifest.version, now).promoted:
        raise RuntimeError(f"{manifest.version} was not promoted")
    return manifest.version


class _Context:
    """What the Functions worker passes as `context` (the ASGI middleware reads these)."""

    invocation_id = "00000000-0000-0000-0000-000000000001"
    function_name = "http_api"
    function_directory = str(ROOT)
    thread_local_storage = None
    trace_context = None
    retry_context = None


def _path(customer: str) -> str:
    return f"/api/recommendations/{customer}"


def floor_top_k(scorer: ItemScorer, items: np.ndarray, weights: np.ndarray,
                exclude: np.ndarray, k: int) -> np.ndarray:
    """Plain numpy: gather and sum the profile, (matvec,) add the bias, mask, top k."""
    profile = weights @ scorer.item_rows[items]
    scores = profile if scorer.item_out is None else scorer.item_out @ profile
    scores += scorer.bias
    scores[exclude] = -np.inf
    cut = len(scores) - k
    best = np.argpartition(scores, cut)[cut:]
    return best[np.argsort(-scores[best])]


def _quantiles(nanoseconds: list[int]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.asarray(nanoseconds, dtype=np.float64) / 1e6, [50, 99])
    return round(float(p50), 4), round(float(p99), 4)


@functools.cache
def _function(name: str) -> Callable:
    """A function of `function_app` as the Python worker calls it (indexed once)."""
    import function_app

    return {f.get_function_name(): f.get_user_function()
            for f in function_app.app.get_functions()}[name]


async def _measure(catalogue: Catalogue, services: Services, customers: list[str],
                   warmup: int) -> dict[str, list[int]]:
    import azure.functions as func

    get_recommendations = _function("get_recommendations")
    functions = func.AsgiMiddleware(create_app(services))
    context = _Context()
    requests = [func.HttpRequest(method="GET", url=f"http://localhost:7071{_path(c)}?k={K}",
                                 headers={"host": "localhost:7071"}, params={"k": str(K)},
                                 route_params={"customer_id": c}, body=b"")
                for c in customers]
    catch_all = [func.HttpRequest(method="GET", url=f"http://localhost:7071{_path(c)}?k={K}",
                                  headers={"host": "localhost:7071"}, params={"k": str(K)},
                                  route_params={"route": _path(c)[1:]}, body=b"")
                 for c in customers]
    model = services.recommender.model()
    profiles = [_customer_profile(model, c, []) for c in customers]
    scorer = catalogue.scorer

    async def handler(i: int) -> bytes:
        response = get_recommendations(requests[i])
        assert response.status_code == 200, response.get_body()
        return response.get_body()

    async def fastapi(i: int) -> bytes:
        response = await functions.handle_async(catch_all[i], context)
        assert response.status_code == 200, response.get_body()
        return response.get_body()

    def onnx(i: int) -> np.ndarray:
        p = profiles[i]
        return model.scorer.top_k(p.items, p.weights, p.exclude, K).items

    def floor(i: int) -> np.ndarray:
        p = profiles[i]
        return floor_top_k(scorer, p.items, p.weights, p.exclude, K)

    # The same answers on every path (up to float32 summation order at near-ties).
    agree = 0
    for i in range(min(100, len(customers))):
        served = [r["product_id"] for r in json.loads(await handler(i))["new_for_you"]]
        direct = [r["product_id"] for r in json.loads(await fastapi(i))["new_for_you"]]
        ours = [model.product_ids[j] for j in onnx(i)]
        plain = [model.product_ids[j] for j in floor(i)]
        assert served == direct == ours, (served, direct, ours)
        agree += ours == plain
    if agree < 95:
        raise AssertionError(f"onnx and numpy agree on {agree} of 100 answers")

    timed: dict[str, list[int]] = {"floor": [], "onnx": [], "fastapi": [], "handler": []}
    clock = time.perf_counter_ns
    for i in range(warmup):  # interleaved, as below
        floor(i), onnx(i)
        await fastapi(i)
        await handler(i)
    bounds = np.linspace(warmup, len(customers), CHUNKS + 1).astype(int)
    for start, end in itertools.pairwise(bounds):
        for name, call in (("floor", floor), ("onnx", onnx)):
            for i in range(start, end):
                started = clock()
                call(i)
                timed[name].append(clock() - started)
        for name, coroutine in (("fastapi", fastapi), ("handler", handler)):
            for i in range(start, end):
                started = clock()
                await coroutine(i)
                timed[name].append(clock() - started)
    return timed


def latency_for(n_items: int, kind: ModelKind, work: Path, requests: int,
                rng: np.random.Generator) -> dict:
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    catalogue = synthetic_catalogue(n_items, kind, rng)
    lake = Lake.open(str(work / f"lake-{n_items}"))
    version = register_champion(lake, catalogue)
    built_s = time.perf_counter() - started
    # Explicit settings: no live profiles (nothing to call out to), whatever the environment.
    settings = Settings(lake_url=lake.url, profiles_connection_string=None,
                        profiles_table_service_uri=None)
    services = Services(settings, lake=lake)
    # function_app's functions use the process's services, read from the environment.
    os.environ["LAKE_URL"] = lake.url
    current_settings.cache_clear()
    current_services.cache_clear()
    started = time.perf_counter()
    services.recommender.model()
    current_services().recommender.model()
    loaded_s = time.perf_counter() - started
    customers = rng.choice(catalogue.customer_ids, WARMUP + requests).tolist()
    with threadpool_limits(1):  # one BLAS thread for numpy; onnxruntime has one intra-op
        timed = asyncio.run(_measure(catalogue, services, customers, WARMUP))
    figures = {name: _quantiles(values) for name, values in timed.items()}
    log(f"{n_items:,} items ({kind}, {version}): built {built_s:.1f} s, loaded "
        f"{loaded_s:.1f} s; p50/p99 ms " + ", ".join(
            f"{name} {p50:.3f}/{p99:.3f}" for name, (p50, p99) in figures.items()))
    (p50, p99), (floor_p50, floor_p99) = figures["handler"], figures["floor"]
    return {
        "items": n_items, "kind": str(kind),
        **({"factors": FACTORS} if kind is ModelKind.FACTORS else {}),
        "customers": CUSTOMERS, "requests": requests, "k": K,
        "p50_ms": p50, "p99_ms": p99,
        "fastapi_p50_ms": figures["fastapi"][0], "fastapi_p99_ms": figures["fastapi"][1],
        "onnx_p50_ms": figures["onnx"][0], "onnx_p99_ms": figures["onnx"][1],
        "floor_p50_ms": floor_p50, "floor_p99_ms": floor_p99,
        "p99_ratio_vs_floor": round(p99 / floor_p99, 2),
        "load_s": round(loaded_s, 2),
    }


def latency(work: Path, requests: int, sizes: tuple[tuple[int, ModelKind], ...] = LATENCY_SIZES
            ) -> dict[str, dict]:
    """Each size built, measured and freed before the next (memory stays one size's)."""
    rng = np.random.default_rng(0)
    results = {}
    for n_items, kind in sizes:
        # The largest catalogue's requests are the slowest; fewer still give a stable p99.
        count = requests if n_items <= 50_000 else min(requests, max(1000, requests // 2))
        results[str(n_items)] = latency_for(n_items, kind, work, count, rng)
        shutil.rmtree(work / f"lake-{n_items}")
        gc.collect()
    return results


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--latency-only", action="store_true",
                      help="skip the Online Retail quality part")
    only.add_argument("--quality-only", action="store_true", help="skip the latency part")
    parser.add_argument("--requests", type=int, default=2000,
                        help="timed requests per catalogue size (half at 200k)")
    args = parser.parse_args()
    if not args.latency_only and not ONLINE_RETAIL.exists():
        sys.exit(f"{ONLINE_RETAIL} is missing: the benchmark needs ../shared/data beside the "
                 "repository (or run with --latency-only)")
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="shoplake-bench-") as work:
        if not args.latency_only:
            (Path(work) / "quality").mkdir()
            figures.update(quality(Path(work) / "quality"))
        if not args.quality_only:
            figures["latency"] = latency(Path(work) / "latency", args.requests)
    print(json.dumps({"bench": "recommend", **figures, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
