"""Top-k for many customers at once: the batch form of `model.scoring`, used by offline
evaluation and batch scoring (the ONNX graph is proven equal to the one-profile form)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from model.scoring import ItemScorer, top_k_rows

# Dense score blocks of about 32M floats (128 MB) bound memory whatever the catalogue size.
_BLOCK_SCORES = 1 << 25


def batch_scores(scorer: ItemScorer, profiles: sp.csr_matrix) -> np.ndarray:
    """Scores of every item for each profile row (float32, rows x items)."""
    scores = np.broadcast_to(scorer.bias, (profiles.shape[0], scorer.n_items)).copy()
    if scorer.item_rows is None:
        return scores
    folded = np.asarray(profiles.astype(np.float32) @ scorer.item_rows, dtype=np.float32)
    scores += folded if scorer.item_out is None else folded @ scorer.item_out.T
    return scores


def blocks(n_rows: int, n_items: int) -> Iterator[slice]:
    """Row ranges whose dense scores fit the memory budget."""
    size = max(1, _BLOCK_SCORES // max(n_items, 1))
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def masked_top_k(scorer: ItemScorer, profiles: sp.csr_matrix, exclude: sp.csr_matrix,
                 k: int) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Top-k of each profile row with its `exclude` row's items masked, block by block."""
    for rows in blocks(profiles.shape[0], scorer.n_items):
        scores = batch_scores(scorer, profiles[rows])
        masked = exclude[rows].tocoo()
        scores[masked.row, masked.col] = -np.inf
        yield (rows, *top_k_rows(scores, k))
