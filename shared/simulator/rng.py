"""Independent random streams, each derived from (seed, purpose, day).

numpy's `SeedSequence` spawn keys give statistically independent streams without any
state passed between them: that is what lets one day be regenerated on its own and
still equal the same day of a full run.
"""

from __future__ import annotations

import numpy as np

CATALOGUE, CUSTOMERS, SESSIONS, IDS = range(4)
"""Purposes of the streams; a day's stream is keyed by (purpose, day index)."""


def stream(seed: int, purpose: int, *key: int) -> np.random.Generator:
    """A generator for one purpose (and day), independent of every other stream."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(purpose, *key)))
