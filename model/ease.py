"""EASE (Steck 2019): a closed-form item x item model, the best quality at moderate
catalogue sizes. Its fit peaks at about 40 bytes x items² (measured), hence a size limit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from model.popularity import tie_break
from model.scoring import ItemScorer, ModelKind

if TYPE_CHECKING:
    from model.interactions import Interactions
    from model.kinds import Models
    from model.train import TrainingConfig

DEFAULT_L2 = 250.0
"""λ when the history is too short to validate one (a common good value; Steck 2019)."""


def ease_models(data: Interactions) -> Models:
    """`KindSpec.fit`: a model per λ (`l2`), all sharing one Gram matrix of `data`."""
    item_gram = gram(data.binary)
    bias = tie_break(data.popularity())
    return lambda params: fit_ease(item_gram, params["l2"], bias)


def too_many_for_ease(items: int, config: TrainingConfig) -> str | None:
    """`KindSpec.refuses`: why EASE cannot fit `items` products (None when it can)."""
    if items <= config.ease_max_items:
        return None
    return (f"{items:,} products is more than EASE's limit of {config.ease_max_items:,}; "
            "train factors instead")


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
