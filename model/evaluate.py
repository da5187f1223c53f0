"""Offline evaluation on a time split: train on everything before the cutoff, test on the
purchases after it.

New-for-you metrics count only items new to each customer (what they bought before the
cutoff is masked and not counted), so re-purchases cannot flatter a model; buy-again is
scored separately on exactly those re-purchases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from model.interactions import Interactions, Purchases
from model.ranking import masked_top_k
from model.scoring import ItemScorer

K = 10


@dataclass(frozen=True)
class Holdout:
    """A time split, as matrices over the training period's customers and products."""

    train: Interactions
    tested: sp.csr_matrix
    """1 where a customer bought a product after the cutoff (same rows and columns)."""
    cutoff: datetime


class NotEnoughHistoryError(ValueError):
    """The purchases do not cover a training period and a test period."""


def holdout(purchases: Purchases, test_days: float) -> Holdout:
    """The last `test_days` (counted back from the latest purchase) as the test period."""
    if not len(purchases):
        raise NotEnoughHistoryError("no purchases to split")
    cutoff = purchases.latest - timedelta(days=test_days)
    earlier = purchases.before(cutoff)
    if not len(earlier):
        raise NotEnoughHistoryError(f"no purchases before {cutoff:%Y-%m-%d %H:%M} to train on")
    train = Interactions.build(earlier)
    later = purchases.since(cutoff)
    known = pc.is_in(later.customer_ids, pa.array(train.customers, pa.string()))
    tested = Interactions.build(
        Purchases(later.customer_ids.filter(known), later.product_ids.filter(known),
                  later.at_us[known.to_numpy(zero_copy_only=False)]),
        products=train.products,
    )
    # Re-index the test customers onto the training rows (a subset, both sorted).
    rows = np.searchsorted(train.customers, tested.customers)
    expand = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, np.arange(len(rows)))),
                           shape=(len(train.customers), len(tested.customers)))
    return Holdout(train, (expand @ tested.binary).tocsr(), cutoff)


@dataclass(frozen=True)
class RankingMetrics:
    recall_at_10: float
    ndcg_at_10: float
    customers: int
    """Customers with at least one relevant item (the metrics' denominator)."""


def evaluate(scorer: ItemScorer, split: Holdout) -> RankingMetrics:
    """Recall@10 and NDCG@10 of new-for-you lists (already-bought items masked)."""
    bought = split.train.binary
    relevant = split.tested - split.tested.multiply(bought)
    relevant.eliminate_zeros()
    users = np.flatnonzero(np.diff(relevant.indptr))
    if not len(users):
        return RankingMetrics(0.0, 0.0, 0)
    recalls, ndcgs = [], []
    profiles, wanted = bought[users], relevant[users]
    for rows, items, _ in masked_top_k(scorer, profiles, profiles, K):
        recall, ndcg = ranking_quality(items, wanted[rows])
        recalls.append(recall)
        ndcgs.append(ndcg)
    return RankingMetrics(float(np.concatenate(recalls).mean()),
                          float(np.concatenate(ndcgs).mean()), len(users))


def ranking_quality(ranked: np.ndarray, relevant: sp.csr_matrix) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Per row: recall@k (hits over min(k, relevant)) and NDCG@k with binary relevance."""
    k = ranked.shape[1]
    hits = np.zeros(ranked.shape, dtype=bool)
    for row in range(ranked.shape[0]):
        wanted = relevant.indices[relevant.indptr[row]:relevant.indptr[row + 1]]
        hits[row] = np.isin(ranked[row], wanted)
    count = np.minimum(np.diff(relevant.indptr), k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.maximum(count, 1) - 1]
    return hits.sum(axis=1) / np.maximum(count, 1), (hits @ discounts) / ideal


@dataclass(frozen=True)
class BuyAgainMetrics:
    recall_at_10: float
    """Of the products a customer bought again after the cutoff, the share in their top 10."""
    customers: int


def evaluate_buy_again(split: Holdout) -> BuyAgainMetrics:
    """How well `buy_again_order` ranks what customers really bought again."""
    bought = split.train.binary
    again = split.tested.multiply(bought).tocsr()
    again.eliminate_zeros()
    users = np.flatnonzero(np.diff(again.indptr))
    if not len(users):
        return BuyAgainMetrics(0.0, 0)
    counts, last = split.train.counts, split.train.last_us
    ranked = np.full((len(users), K), -1, dtype=np.int64)
    for row, user in enumerate(users):
        entries = slice(counts.indptr[user], counts.indptr[user + 1])
        order = buy_again_order(counts.data[entries], last.data[entries])[:K]
        ranked[row, : len(order)] = counts.indices[entries][order]
    return BuyAgainMetrics(float(ranking_quality(ranked, again[users])[0].mean()), len(users))


def buy_again_order(counts: np.ndarray, last_us: np.ndarray) -> np.ndarray:
    """A customer's own purchases, most often bought first, then most recently bought."""
    return np.lexsort((-last_us, -counts))
