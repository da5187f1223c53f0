"""What every model reduces to for serving, and the numpy reference of its scoring.

A request is a profile: item indices with weights (purchases, live views and carts),
plus the indices to leave out (what the customer already bought). Every model scores
the catalogue the same way:

    profile = Σ weights[i] · item_rows[items[i]]          (gather, weight, sum)
    scores  = item_out @ profile   (factor models)   or   profile   (EASE: rows are item scores)
    scores += bias
    scores[exclude] = -inf; top k

so one ONNX graph shape serves all of them, and a profile that was never trained on (a
new or anonymous customer's session) is scored like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class ModelKind(StrEnum):
    EASE = "ease"
    FACTORS = "factors"
    POPULARITY = "popularity"


@dataclass(frozen=True)
class ItemScorer:
    """A trained model in serving form (float32 arrays, one row per item index).

    - `ease`: `item_rows` is EASE's item x item weight matrix B; `item_out` is None.
    - `factors`: `item_rows` and `item_out` are item factor matrices (n x d); the profile
      is folded in as Σ item_rows[items], then scored against `item_out`.
    - `popularity`: no rows; `bias` alone ranks items.
    `bias` is added to every score (popularity for the popularity model; zeros otherwise).
    """

    kind: ModelKind
    bias: np.ndarray
    item_rows: np.ndarray | None = None
    item_out: np.ndarray | None = None

    @property
    def n_items(self) -> int:
        return int(self.bias.shape[0])


@dataclass(frozen=True)
class TopK:
    """Ranked item indices (best first) and their scores; masked items never appear."""

    items: np.ndarray  # int64
    scores: np.ndarray  # float32


def reference_scores(scorer: ItemScorer, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Scores of every item for one profile, before masking (float32)."""
    scores = scorer.bias.astype(np.float32, copy=True)
    if scorer.item_rows is None or len(items) == 0:
        return scores
    profile = weights.astype(np.float32) @ scorer.item_rows[items]
    scores += profile if scorer.item_out is None else scorer.item_out @ profile
    return scores


def reference_top_k(scorer: ItemScorer, items: np.ndarray, weights: np.ndarray,
                    exclude: np.ndarray, k: int) -> TopK:
    """The numpy reference: argpartition then sort; ties go to the lower index (as ONNX TopK)."""
    scores = reference_scores(scorer, items, weights)
    scores[exclude] = -np.inf
    k = min(k, scorer.n_items)
    if k <= 0:
        return TopK(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
    if k < scorer.n_items:
        # The k best are the tail after partitioning at n - k (cheaper than negating first).
        cut = scorer.n_items - k
        part = np.argpartition(scores, cut)[cut:]
        # argpartition keeps an arbitrary subset of the items tied with the k-th score: keep
        # those strictly better, then fill up with the lowest-index ties (ONNX TopK's rule).
        kth = scores[part[0]]
        better = part[scores[part] > kth]
        tied = np.flatnonzero(scores == kth)[: k - len(better)]
        candidates = np.concatenate((better, tied))
    else:
        candidates = np.arange(k)
    order = np.lexsort((candidates, -scores[candidates]))
    ranked = candidates[order]
    ranked = ranked[np.isfinite(scores[ranked])]
    return TopK(ranked.astype(np.int64), scores[ranked])
