"""One retraining round: train a challenger, decide on promotion, and when it is promoted,
score the active customers. The CLI and the demo run this; the nightly orchestration runs
the same three steps as separate activities."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from model.batch_scoring import ScoringResult, score_customers
from model.promotion import decide
from model.registry import Decision, Registry
from model.train import TrainingConfig, TrainResult, train
from shared.lake import Lake
from shared.types import Progress


@dataclass(frozen=True)
class RetrainResult:
    trained: TrainResult
    decision: Decision
    scored: ScoringResult | None
    """None when the challenger was not promoted (the champion's scores stand)."""

    def to_json(self) -> dict[str, Any]:
        manifest = self.trained.manifest
        return {
            "version": manifest.version,
            "kind": manifest.kind,
            "params": manifest.params,
            "metrics": manifest.metrics,
            "candidates": manifest.candidates,
            "data": manifest.data,
            "decision": asdict(self.decision),
            "scored": None if self.scored is None else asdict(self.scored),
        }


def retrain(lake: Lake, now: datetime, *, config: TrainingConfig, tolerance: float,
            active_days: int, progress: Progress = lambda _: None) -> RetrainResult:
    with lake.writer():  # one run: no other writer between training and scoring
        trained = train(lake, now, config, progress)
        decision = decide(Registry(lake), trained.manifest.version, now, tolerance)
        progress(("promoted: " if decision.promoted else "kept the champion: ")
                 + decision.reason)
        scored = None
        if decision.promoted:
            scored = score_customers(lake, trained.manifest.version, now,
                                     active_days=active_days)
            progress(f"scored {scored.customers:,} active customers")
    return RetrainResult(trained, decision, scored)
