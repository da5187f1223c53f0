"""EASE (Steck 2019): a closed-form item x item model, the best quality at moderate
catalogue sizes. Its fit peaks at about 40 bytes x items² (measured), hence a size limit."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from model.scoring import ItemScorer, ModelKind


def gram(purchased: sp.csr_matrix) -> np.ndarray:
    """Item co-purchase counts XᵀX (float64), computed once and shared by every λ tried."""
    return np.asarray((purchased.T @ purchased).toarray(), dtype=np.float64)


def fit_ease(item_gram: np.ndarray, l2: float, bias: np.ndarray) -> ItemScorer:
    """B = I - P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹, and a zero diagonal (an item
    may not recommend itself)."""
    regularised = item_gram.copy()  # the Gram matrix is shared by every λ tried
    regularised[np.diag_indices_from(regularised)] += l2
    # numpy's inverse, though it needs more memory than LAPACK's in-place getri or
    # potri, measured two to three times faster than either here.
    weights = np.linalg.inv(regularised)
    del regularised
    weights /= -np.diag(weights)  # in place: at 15k items each copy is 1.8 GB
    np.fill_diagonal(weights, 0.0)
    return ItemScorer(ModelKind.EASE, bias.astype(np.float32),
                      item_rows=weights.astype(np.float32))
