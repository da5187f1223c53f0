"""Popularity: the fallback for profiles with nothing to go on, and the floor every
personal model must beat."""

from __future__ import annotations

import numpy as np

from model.scoring import ItemScorer, ModelKind

# Personal models add popularity scaled far below any real score, so it only orders items
# the profile says nothing about (an EASE row of zeros, say) instead of leaving ties.
TIE_BREAK_SCALE = 1e-6


def fit_popularity(buyers: np.ndarray) -> ItemScorer:
    """Items ranked by how many customers bought them (scores in 0..1)."""
    return ItemScorer(ModelKind.POPULARITY, _unit(buyers))


def tie_break(buyers: np.ndarray) -> np.ndarray:
    return _unit(buyers) * np.float32(TIE_BREAK_SCALE)


def _unit(buyers: np.ndarray) -> np.ndarray:
    top = float(buyers.max()) if len(buyers) else 0.0
    return (buyers / top if top > 0 else buyers).astype(np.float32)
