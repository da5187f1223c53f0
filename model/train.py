"""Train, evaluate and register a recommender version from the lake's curated tables.

Every candidate (each kind in `model.kinds.KINDS` the catalogue allows: EASE, factors,
popularity) is fitted on the data before the test period and evaluated on it; the best by
NDCG@10 (or the kind asked for) is then refitted on all purchases, exported to ONNX and
registered as a challenger.
Promotion is a separate step (`model.promotion.decide`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa

from model.evaluate import (
    Holdout,
    NotEnoughHistoryError,
    evaluate,
    evaluate_buy_again,
    holdout,
)
from model.interactions import Interactions, Purchases, read_purchases
from model.kinds import KINDS, KindSpec, Params, floor, kind_spec
from model.onnx_export import export_onnx
from model.registry import Manifest, Registry, VersionFiles
from model.scoring import ModelKind
from shared.lake import Lake, Zone
from shared.types import MONEY, Progress
from shared.warehouse import DuckDBEngine, RefreshState, table_input

ITEMS_SCHEMA = pa.schema([
    ("item", pa.int32()),
    ("product_id", pa.string()),
    ("name", pa.string()),
    ("category", pa.string()),
    ("unit_price", MONEY),
    ("currency", pa.string()),
    ("buyers", pa.int32()),
])


@dataclass(frozen=True)
class TrainingConfig:
    test_days: int = 30
    ease_max_items: int = 15_000
    """EASE's fit peaks at about 40 bytes x items² (measured); above this, factors only."""
    l2_grid: tuple[float, ...] = (50.0, 100.0, 250.0, 500.0, 1000.0)
    """EASE's λ candidates, chosen on a validation split one test period earlier."""
    factor_grid: tuple[int, ...] = (8, 16, 32, 64, 128)
    """Factor counts tried the same way (small shops need few, large ones more)."""
    kind: ModelKind | None = None
    """Train this kind; None picks the best candidate on the test split."""


@dataclass(frozen=True)
class Candidate:
    kind: ModelKind
    params: Params
    recall_at_10: float
    ndcg_at_10: float
    customers: int
    fit_seconds: float


@dataclass(frozen=True)
class TrainResult:
    manifest: Manifest
    candidates: list[Candidate] = field(default_factory=list)


def train(lake: Lake, now: datetime, config: TrainingConfig = TrainingConfig(),
          progress: Progress = lambda _: None) -> TrainResult:
    """Train, evaluate and register a challenger, holding the lake's writer lease (the
    curated tables it reads must not change under it)."""
    with lake.writer():
        return _train(lake, now, config, progress)


def _train(lake: Lake, now: datetime, config: TrainingConfig,
           progress: Progress) -> TrainResult:
    purchases = read_purchases(lake)
    test_days = test_period(purchases, config.test_days)
    split = holdout(purchases, test_days)
    progress(f"{len(purchases):,} purchases; testing on the {test_days:g} days from "
             f"{split.cutoff:%Y-%m-%d %H:%M}")
    candidates = _candidates(purchases, split, test_days, config, progress)
    chosen = _choose(candidates, config.kind)
    progress(f"refitting {chosen.kind} on all purchases")
    everything = Interactions.build(purchases)
    scorer = kind_spec(chosen.kind).fit(everything)(chosen.params)
    popularity = next(c for c in candidates if c.kind == floor().kind)
    buy_again = evaluate_buy_again(split)
    manifest = Manifest(
        version=Registry.new_version(chosen.kind, now),
        kind=chosen.kind,
        params=chosen.params,
        metrics={
            "ndcg_at_10": chosen.ndcg_at_10,
            "recall_at_10": chosen.recall_at_10,
            "customers": chosen.customers,
            "popularity": {"ndcg_at_10": popularity.ndcg_at_10,
                           "recall_at_10": popularity.recall_at_10},
            "buy_again": {"recall_at_10": buy_again.recall_at_10,
                          "customers": buy_again.customers},
        },
        candidates=[asdict(c) for c in candidates],
        data={
            "purchases": len(purchases),
            "customers": len(everything.customers),
            "products": len(everything.products),
            "latest_purchase": purchases.latest.isoformat(),
            "test_from": split.cutoff.isoformat(),
            "test_days": test_days,
            "refreshed_at": RefreshState(lake).watermark().refreshed_at,
        },
        trained_at=now.isoformat(),
    )
    Registry(lake).register(manifest, VersionFiles(
        export_onnx(scorer), _items_table(lake, everything), everything.to_table()))
    progress(f"registered {manifest.version}")
    return TrainResult(manifest, candidates)


def test_period(purchases: Purchases, wanted_days: int) -> float:
    """`wanted_days`, or a third of the history when that is shorter (a young shop still
    gets a test period, and a validation period before it, from its own data)."""
    return min(float(wanted_days), purchases.span.total_seconds() / 86_400 / 3)


def _candidates(purchases: Purchases, split: Holdout, test_days: float,
                config: TrainingConfig, progress: Progress) -> list[Candidate]:
    candidates = []
    for spec in _kinds(len(split.train.products), config):
        started = time.perf_counter()
        params = _params(spec, purchases.before(split.cutoff), test_days, config)
        scorer = spec.fit(split.train)(params)
        metrics = evaluate(scorer, split)
        candidates.append(Candidate(spec.kind, params, metrics.recall_at_10,
                                    metrics.ndcg_at_10, metrics.customers,
                                    round(time.perf_counter() - started, 3)))
        progress(f"{spec.kind}: NDCG@10 {metrics.ndcg_at_10:.4f}, Recall@10 "
                 f"{metrics.recall_at_10:.4f} on {metrics.customers:,} customers")
    return candidates


def _kinds(items: int, config: TrainingConfig) -> list[KindSpec]:
    """The kind asked for, or every kind, with the floor always measured; less those that
    cannot be fitted on `items` products (an error when it is the kind asked for)."""
    asked = [kind_spec(config.kind)] if config.kind else list(KINDS.values())
    if floor() not in asked:
        asked.append(floor())
    kinds = []
    for spec in asked:
        refusal = spec.refuses(items, config)
        if refusal is None:
            kinds.append(spec)
        elif spec.kind == config.kind:
            raise ValueError(refusal)
    return kinds


def _params(spec: KindSpec, earlier: Purchases, test_days: float,
            config: TrainingConfig) -> Params:
    """The kind's parameters with the best NDCG@10 on the test period before the real one
    (the defaults when the history is too short for that)."""
    if spec.grid is None:
        return {}
    grid = spec.grid(config)
    try:
        validation = holdout(earlier, test_days)
    except NotEnoughHistoryError:
        return {**spec.defaults, "validated": False}
    models = spec.fit(validation.train)
    # One model at a time: at 15k items each EASE fit is 0.9 GB.
    scores = [evaluate(models(params), validation).ndcg_at_10 for params in grid]
    best = max(range(len(grid)), key=scores.__getitem__)
    return {**grid[best], "validated": True}


def _choose(candidates: list[Candidate], kind: ModelKind | None) -> Candidate:
    if kind is not None:
        return next(c for c in candidates if c.kind == kind)
    # On a tie the floor wins: the simpler model, and never refused promotion.
    return max(candidates, key=lambda c: (c.ndcg_at_10, kind_spec(c.kind).floor))


def _items_table(lake: Lake, data: Interactions) -> pa.Table:
    """The item index with what the API shows of each product (from dim_product)."""
    index = pa.table({"item": pa.array(np.arange(len(data.products)), pa.int32()),
                      "product_id": pa.array(data.products, pa.string()),
                      "buyers": pa.array(data.popularity().astype(np.int32))})
    with DuckDBEngine() as engine:
        engine.bind("items", index)
        engine.bind("dim_product", table_input(lake, lake.table(Zone.CURATED, "dim_product")))
        joined = engine.table(
            "SELECT i.item, i.product_id, p.name, p.category,"
            " CAST(p.list_price AS DECIMAL(18, 4)) AS unit_price, p.currency, i.buyers"
            " FROM items AS i LEFT JOIN dim_product AS p USING (product_id) ORDER BY i.item")
    return joined.cast(ITEMS_SCHEMA)

