"""Every model kind in one table: how it is fitted and tuned, what limits it, whether it
is the floor, and its part of the ONNX graph.

Training, export and promotion look a kind up here and never branch on it, so a new kind
is a module with its fit (and its graph part, if none of `model.onnx_graph`'s fits) plus
an entry in `KINDS` and a member of `ModelKind`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from model.ease import DEFAULT_L2, ease_models, too_many_for_ease
from model.factors import DEFAULT_FACTORS, factor_models
from model.onnx_graph import ScoreGraph, bias_scores, factor_scores, row_scores
from model.popularity import popularity_models
from model.scoring import ItemScorer, ModelKind

if TYPE_CHECKING:
    from model.interactions import Interactions
    from model.train import TrainingConfig

Params = dict[str, Any]
"""A model's hyper-parameters, as its manifest records them."""
Models = Callable[[Params], ItemScorer]
"""A kind's models of some training data, one per parameter set."""


def _fits_any_size(items: int, config: TrainingConfig) -> None:
    """`KindSpec.refuses` of a kind without a size limit."""
    return None


@dataclass(frozen=True)
class KindSpec:
    """What training, export and promotion need to know of one kind."""

    kind: ModelKind
    fit: Callable[[Interactions], Models]
    """Its models of some training data: work every parameter set shares (EASE's Gram
    matrix) is done once, before the grid is tried on the validation period."""
    onnx: Callable[[ItemScorer], ScoreGraph]
    """Its part of the scoring graph; raises ValueError when the arrays do not fit it."""
    grid: Callable[[TrainingConfig], Sequence[Params]] | None = None
    """Parameter sets to try on the validation period (None: nothing to tune); the best
    by NDCG@10 is trained."""
    defaults: Params = field(default_factory=dict)
    """The parameters when the history is too short to validate the grid's."""
    refuses: Callable[[int, TrainingConfig], str | None] = _fits_any_size
    """Why it cannot be fitted on that many products (None when it can): it is then left
    out of the candidates, and an error when it is the kind asked for."""
    floor: bool = False
    """The baseline (one kind): always measured, preferred on a tie, and promoted without
    having to beat itself."""


KINDS: dict[ModelKind, KindSpec] = {spec.kind: spec for spec in (
    KindSpec(ModelKind.EASE, ease_models, row_scores,
             grid=lambda config: [{"l2": l2} for l2 in config.l2_grid],
             defaults={"l2": DEFAULT_L2}, refuses=too_many_for_ease),
    KindSpec(ModelKind.FACTORS, factor_models, factor_scores,
             grid=lambda config: [{"factors": n} for n in config.factor_grid],
             defaults={"factors": DEFAULT_FACTORS}),
    KindSpec(ModelKind.POPULARITY, popularity_models, bias_scores, floor=True),
)}
"""In the order candidates are trained and listed in manifests."""


def kind_spec(kind: str) -> KindSpec:
    """The entry of a kind or of its name (as manifests and ONNX metadata hold it)."""
    try:
        return KINDS[kind]  # type: ignore[index]  # a StrEnum member hashes as its value
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}") from None


def floor() -> KindSpec:
    """The kind every other must beat (popularity)."""
    return next(spec for spec in KINDS.values() if spec.floor)
