"""Interactions, the time split and the metrics, on purchase logs small enough to check by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from model.evaluate import (
    NotEnoughHistoryError,
    buy_again_order,
    evaluate,
    evaluate_buy_again,
    holdout,
    ranking_quality,
)
from model.interactions import Interactions, Purchases
from model.scoring import ItemScorer, ModelKind

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


def purchases(*lines: tuple[str, str, int]) -> Purchases:
    """(customer, product, day) lines."""
    return Purchases.from_table(pa.table({
        "customer_id": [c for c, _, _ in lines],
        "product_id": [p for _, p, _ in lines],
        "ordered_at": pa.array([DAY0 + timedelta(days=d) for _, _, d in lines],
                               pa.timestamp("us", tz="UTC")),
    }))


LOG = purchases(
    ("alice", "mug", 0), ("alice", "mug", 3), ("alice", "tea", 5),
    ("bob", "tea", 1), ("bob", "pot", 2),
    ("carol", "pot", 4),
    # test period (the last 10 days before day 40)
    ("alice", "pot", 35), ("alice", "mug", 36), ("bob", "mug", 38), ("bob", "new", 39),
    ("dave", "tea", 40),
)


def test_interactions_count_lines_and_keep_the_last_time() -> None:
    matrix = Interactions.build(LOG.before(DAY0 + timedelta(days=30)))

    assert list(matrix.customers) == ["alice", "bob", "carol"]
    assert list(matrix.products) == ["mug", "pot", "tea"]
    assert matrix.counts.toarray().tolist() == [[2, 0, 1], [0, 1, 1], [0, 1, 0]]
    last_mug = matrix.last_us[0, 0]
    assert last_mug == (DAY0 + timedelta(days=3)).timestamp() * 1e6
    assert matrix.binary.toarray().max() == 1
    assert matrix.popularity().tolist() == [1, 3 - 1, 2]


def test_interactions_on_given_products_drop_the_others() -> None:
    matrix = Interactions.build(LOG, products=np.array(["mug", "tea"], dtype=object))

    assert matrix.counts.shape == (4, 2)
    assert matrix.counts.sum() == 4 + 3  # mugs and teas; pots and "new" dropped


def test_holdout_tests_only_known_customers_and_products() -> None:
    split = holdout(LOG, test_days=10)

    assert split.cutoff == DAY0 + timedelta(days=30)
    assert list(split.train.customers) == ["alice", "bob", "carol"]
    # dave is new and "new" is unknown: neither can be tested
    assert split.tested.toarray().tolist() == [[1, 1, 0], [1, 0, 0], [0, 0, 0]]


def test_metrics_count_only_new_items() -> None:
    split = holdout(LOG, test_days=10)
    # alice's new item is pot, bob's is mug; a scorer that ranks them first is perfect
    perfect = ItemScorer(ModelKind.POPULARITY, np.array([1.0, 2.0, 0.0], np.float32))

    metrics = evaluate(perfect, split)

    # alice already bought mug (masked) so pot ranks first; bob bought pot so mug is first
    assert (metrics.recall_at_10, metrics.ndcg_at_10, metrics.customers) == (1.0, 1.0, 2)


def test_ranking_quality_by_hand() -> None:
    # a's relevant items are 0 and 1; b's is 2
    relevant = Interactions.build(purchases(("a", "1", 0), ("a", "2", 0), ("b", "3", 0))
                                  ).binary

    recall, ndcg = ranking_quality(np.array([[9, 0, 1], [2, 5, 6]]), relevant)

    assert recall.tolist() == [1.0, 1.0]
    ideal_a = 1 + 1 / np.log2(3)
    assert ndcg[0] == pytest.approx((1 / np.log2(3) + 1 / np.log2(4)) / ideal_a)
    assert ndcg[1] == pytest.approx(1.0)
    assert ranking_quality(np.array([[5, 7, 2], [7, 8, 9]]), relevant)[0].tolist() == [0, 0]


def test_buy_again_ranks_frequent_then_recent() -> None:
    order = buy_again_order(np.array([1.0, 3.0, 1.0]), np.array([10.0, 5.0, 20.0]))
    assert order.tolist() == [1, 2, 0]

    metrics = evaluate_buy_again(holdout(LOG, test_days=10))

    # alice re-bought mug (in her list); bob's mug was new to him: only alice counts
    assert (metrics.recall_at_10, metrics.customers) == (1.0, 1)


def test_a_split_with_nothing_before_the_cutoff_is_refused() -> None:
    with pytest.raises(NotEnoughHistoryError, match="no purchases before"):
        holdout(LOG, test_days=100)
