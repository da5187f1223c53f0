"""Popularity: the fallback for profiles with nothing to go on, and the floor every
personal model must beat."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from model.scoring import ItemScorer, ModelKind

if TYPE_CHECKING:
    from model.interactions import Interactions
    from model.kinds import Models

# Personal models add popularity scaled far below any real score, so it only orders items
# the profile says nothing about (an EASE row of zeros, say) instead of leaving ties.
TIE_BREAK_SCALE = 1e-6


def popularity_models(data: Interactions) -> Models:
    """`KindSpec.fit`: popularity has no parameters, so one model serves every set."""
    scorer = fit_popularity(data.popularity())
    return lambda _params: scorer


def fit_popularity(buyers: np.ndarray) -> ItemScorer:
    """Items ranked by how many customers bought them (scores in 0..1)."""
    return ItemScorer(ModelKind.POPULARITY, _unit(buyers))


def tie_break(buyers: np.ndarray) -> np.ndarray:
    return _unit(buyers) * np.float32(TIE_BREAK_SCALE)


def _unit(buyers: np.ndarray) -> np.ndarray:
    top = float(buyers.max()) if len(buyers) else 0.0
    return (buyers / top if top > 0 else buyers).astype(np.float32)
