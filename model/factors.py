"""Matrix factorisation for catalogues too large for EASE's item x item matrix.

A truncated SVD of the purchase matrix X ≈ U Σ Vᵀ: a profile x folds in as xV and scores
as V(Vᵀx), which is exactly the serving graph's gather-sum-matmul, so a session that was
never trained on is scored like a customer that was. Chosen over implicit's ALS on
evidence (bench/recommend.py, docs/benchmarks.md): the same NDCG@10 on Online Retail within noise, a
fold-in that is exact rather than an approximation of ALS's weighted least squares, and no
extra compiled dependency in the deployed app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from model.popularity import tie_break
from model.scoring import ItemScorer, ModelKind

if TYPE_CHECKING:
    from model.interactions import Interactions
    from model.kinds import Models

DEFAULT_FACTORS = 64
"""Factors when the history is too short to validate a count."""


def factor_models(data: Interactions) -> Models:
    """`KindSpec.fit`: a model per factor count (`factors`) of `data`."""
    purchased = data.binary
    bias = tie_break(data.popularity())
    return lambda params: fit_factors(purchased, int(params["factors"]), bias)


def fit_factors(purchased: sp.csr_matrix, factors: int, bias: np.ndarray,
                seed: int = 0) -> ItemScorer:
    # scikit-learn takes seconds to import: it loads only to train, not wherever the kind
    # registry is imported (serving, promotion).
    from sklearn.decomposition import TruncatedSVD

    rank = max(1, min(factors, min(purchased.shape) - 1))
    svd = TruncatedSVD(n_components=rank, algorithm="randomized", n_iter=7,
                       random_state=seed)
    svd.fit(purchased.astype(np.float32))
    item_factors = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
    return ItemScorer(ModelKind.FACTORS, bias.astype(np.float32), item_rows=item_factors,
                      item_out=item_factors)
