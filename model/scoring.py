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
    """Each kind has its entry (fit, tuning, ONNX part) in `model.kinds.KINDS`."""

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
    """The numpy reference of one request (what the ONNX graph must equal)."""
    scores = reference_scores(scorer, items, weights)
    scores[exclude] = -np.inf
    if min(k, scorer.n_items) <= 0:
        return TopK(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
    ranked, values = top_k_rows(scores[None, :], k)
    kept = ranked[0] >= 0
    return TopK(ranked[0][kept].astype(np.int64), values[0][kept])


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best `k` columns of each row, best first, equal scores in index order (as ONNX
    TopK, so batch and served answers agree); masked (-inf) entries come back as -1."""
    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        _lowest_indices_on_ties(scores, candidates)
    else:
        candidates = np.tile(np.arange(k), (scores.shape[0], 1))
    picked = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -picked), axis=1)
    items = np.take_along_axis(candidates, order, axis=1)
    values = np.take_along_axis(picked, order, axis=1)
    items[~np.isfinite(values)] = -1
    return items, values


def _lowest_indices_on_ties(scores: np.ndarray, candidates: np.ndarray) -> None:
    """Where the k-th score is shared beyond the cut, argpartition kept arbitrary ones of
    the tied columns; keep the lowest-indexed instead (in place)."""
    picked = np.take_along_axis(scores, candidates, axis=1)
    kth = picked.min(axis=1, keepdims=True)
    kept_equal = (picked == kth).sum(axis=1)
    for row in np.flatnonzero((scores == kth).sum(axis=1) > kept_equal):
        if not np.isfinite(kth[row, 0]):
            continue  # ties among masked items: they are dropped anyway
        above = candidates[row][picked[row] > kth[row, 0]]
        tied = np.flatnonzero(scores[row] == kth[row, 0])[: kept_equal[row]]
        candidates[row] = np.concatenate([above, tied])
