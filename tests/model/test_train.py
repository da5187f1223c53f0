"""Training from the lake's curated tables, the registry, the promotion rule and batch scoring."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow.compute as pc
import pytest

from model.batch_scoring import TABLE, score_customers
from model.interactions import NoPurchasesError, read_purchases
from model.onnx_export import scorer_from_onnx
from model.promotion import decide
from model.registry import Manifest, Registry, UnknownVersionError
from model.retrain import RetrainResult
from model.scoring import ModelKind
from model.train import TrainingConfig, train
from shared.lake import Lake, Zone
from tests.model.conftest import FAST, TRAINED_AT, assert_batch_scores_are_served


def test_purchases_leave_out_returns_and_guests(shop_lake: Lake) -> None:
    sales = shop_lake.table(Zone.CURATED, "fact_sales").to_pyarrow_table()
    expected = sales.filter(pc.and_(pc.and_(pc.is_valid(sales["customer_id"]),
                                            pc.greater(sales["quantity"], 0)),
                                    pc.invert(sales["is_return"])))

    purchases = read_purchases(shop_lake)

    assert len(purchases) == expected.num_rows > 0
    assert set(purchases.customer_ids.to_pylist()) == set(
        expected["customer_id"].to_pylist())


def test_an_empty_lake_cannot_be_trained_on(local_lake: Lake) -> None:
    with pytest.raises(NoPurchasesError, match="shoplake refresh"):
        read_purchases(local_lake)


def test_training_registers_a_complete_version(trained: tuple[Path, RetrainResult],
                                               trained_lake: Lake) -> None:
    manifest = trained[1].trained.manifest
    registry = Registry(trained_lake)

    assert registry.versions() == [manifest.version]
    assert registry.manifest(manifest.version) == manifest
    kinds = {c["kind"] for c in manifest.candidates}
    assert kinds == {"ease", "factors", "popularity"}
    best = max(manifest.candidates, key=lambda c: c["ndcg_at_10"])
    assert manifest.kind == best["kind"] and manifest.ndcg == best["ndcg_at_10"]
    assert manifest.data["test_days"] == 7
    assert manifest.data["latest_purchase"] == read_purchases(trained_lake).latest.isoformat()
    items = registry.read_table(manifest.version, "items.parquet")
    assert items["item"].to_pylist() == list(range(items.num_rows))
    assert items["name"].null_count == 0  # every product is in dim_product
    scorer = scorer_from_onnx(registry.read(manifest.version, "model.onnx"))
    assert scorer.kind == manifest.kind and scorer.n_items == items.num_rows


def test_ease_lambda_is_chosen_on_the_validation_period(shop_lake: Lake) -> None:
    result = train(shop_lake, TRAINED_AT, replace(FAST, kind=ModelKind.EASE))

    assert result.manifest.kind == "ease"
    assert result.manifest.params["validated"] is True
    assert result.manifest.params["l2"] in FAST.l2_grid
    assert {c.kind for c in result.candidates} == {ModelKind.EASE, ModelKind.POPULARITY}


def test_too_large_a_catalogue_for_ease_is_refused_clearly(shop_lake: Lake) -> None:
    with pytest.raises(ValueError, match="more than EASE's limit of 10"):
        train(shop_lake, TRAINED_AT, TrainingConfig(test_days=7, ease_max_items=10,
                                                    kind=ModelKind.EASE))
    automatic = train(shop_lake, TRAINED_AT, TrainingConfig(test_days=7, ease_max_items=10))
    assert "ease" not in {c["kind"] for c in automatic.manifest.candidates}


def test_a_short_history_is_tested_on_a_third_of_it(shop_lake: Lake) -> None:
    result = train(shop_lake, TRAINED_AT, TrainingConfig(test_days=30, l2_grid=(250.0,),
                                                     factor_grid=(16,)))

    assert 11 < result.manifest.data["test_days"] < 12  # 35 days of orders


def test_the_first_model_is_promoted_and_scored(trained: tuple[Path, RetrainResult],
                                                trained_lake: Lake) -> None:
    result = trained[1]
    registry = Registry(trained_lake)

    assert result.decision.promoted and result.decision.reason == "no champion yet"
    assert registry.champion() == result.trained.manifest.version
    assert registry.decisions() == [result.decision]
    assert result.scored is not None and result.scored.customers > 0


def _challenger(registry: Registry, champion: Manifest, ndcg: float, kind: str = "ease"
                ) -> str:
    """Register the champion's files again under a new name with other metrics."""
    version = f"{champion.version}-challenger-{ndcg}"
    for name in ("model.onnx", "items.parquet", "customers.parquet"):
        registry.lake.write_bytes(registry.lake.path(Zone.MODELS, version, name),
                                  registry.read(champion.version, name))
    metrics = dict(champion.metrics, ndcg_at_10=ndcg,
                   popularity={"ndcg_at_10": 0.0, "recall_at_10": 0.0})
    registry.lake.write_bytes(
        registry.lake.path(Zone.MODELS, version, "manifest.json"),
        orjson.dumps(asdict(replace(champion, version=version, kind=kind, metrics=metrics))))
    return version


@pytest.mark.parametrize(("delta", "promoted"), [(+0.02, True), (-0.004, True),
                                                 (-0.006, False)])
def test_a_challenger_is_promoted_only_when_not_worse(trained_lake: Lake, delta: float,
                                                      promoted: bool) -> None:
    registry = Registry(trained_lake)
    champion = registry.manifest(registry.champion())
    challenger = _challenger(registry, champion, champion.ndcg + delta)

    decision = decide(registry, challenger, TRAINED_AT + timedelta(days=1), tolerance=0.005)

    assert decision.promoted is promoted
    assert registry.champion() == (challenger if promoted else champion.version)
    assert decision.champion == champion.version
    assert registry.decisions()[-1] == decision


def test_a_personal_model_must_beat_popularity(trained_lake: Lake) -> None:
    registry = Registry(trained_lake)
    champion = registry.manifest(registry.champion())
    challenger = _challenger(registry, champion, 0.0)

    decision = decide(registry, challenger, TRAINED_AT, tolerance=1.0)

    assert not decision.promoted and "does not beat popularity" in decision.reason


def test_an_unknown_version_is_a_clear_error(trained_lake: Lake) -> None:
    with pytest.raises(UnknownVersionError, match="no complete model version 'nope'"):
        Registry(trained_lake).manifest("nope")


@pytest.mark.parametrize("kind", list(ModelKind), ids=str)
def test_batch_scores_equal_what_the_api_serves(shop_lake: Lake, kind: ModelKind) -> None:
    version = train(shop_lake, TRAINED_AT, replace(FAST, kind=kind)).manifest.version

    assert_batch_scores_are_served(shop_lake, version)


def test_batch_scoring_takes_only_recently_active_customers(trained_lake: Lake) -> None:
    version = Registry(trained_lake).champion()
    history = Registry(trained_lake).read_table(version, "customers.parquet")
    latest = pc.max(history["last_purchased_at"]).as_py()
    recent = history.filter(pc.greater_equal(history["last_purchased_at"],
                                             latest - timedelta(days=3)))

    result = score_customers(trained_lake, version, TRAINED_AT, active_days=3)

    assert result.customers == len(set(recent["customer_id"].to_pylist()))
    scored = trained_lake.table(Zone.CURATED, TABLE).to_pyarrow_table()
    assert set(scored["customer_id"].to_pylist()) <= set(recent["customer_id"].to_pylist())
    assert np.all(np.diff(scored.filter(pc.equal(scored["customer_id"], scored["customer_id"][0]
                                                 ))["rank"].to_numpy()) == 1)
