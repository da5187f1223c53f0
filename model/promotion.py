"""The promotion rule: a challenger replaces the champion only when it is not worse.

Not worse means NDCG@10 at least the champion's minus `tolerance` (each measured on its
own time split; the split moves forward every night, so a strict comparison would let
noise block every retrain), and strictly better than popularity on its own split, unless
the challenger is the popularity model itself.
"""

from __future__ import annotations

from datetime import datetime

from model.kinds import kind_spec
from model.registry import Decision, Registry

DEFAULT_TOLERANCE = 0.005


def decide(registry: Registry, challenger: str, now: datetime,
           tolerance: float = DEFAULT_TOLERANCE) -> Decision:
    """Decide, record the decision, and move the champion pointer when it promotes (only
    if the pointer is still the one decided against: a `StaleWriteError` otherwise)."""
    with registry.lake.writer():
        return _decide(registry, challenger, now, tolerance)


def _decide(registry: Registry, challenger: str, now: datetime, tolerance: float) -> Decision:
    candidate = registry.manifest(challenger)
    pointer = registry.champion_pointer()
    champion = pointer.version
    defending = registry.manifest(champion) if champion is not None else None
    baseline = float(candidate.metrics["popularity"]["ndcg_at_10"])
    if not kind_spec(candidate.kind).floor and candidate.ndcg <= baseline:
        promoted, reason = False, (f"NDCG@10 {candidate.ndcg:.4f} does not beat popularity "
                                   f"({baseline:.4f}) on the same split")
    elif defending is None:
        promoted, reason = True, "no champion yet"
    elif candidate.ndcg >= defending.ndcg - tolerance:
        promoted, reason = True, (f"NDCG@10 {candidate.ndcg:.4f} is not worse than the "
                                  f"champion's {defending.ndcg:.4f} (tolerance {tolerance})")
    else:
        promoted, reason = False, (f"NDCG@10 {candidate.ndcg:.4f} is worse than the "
                                   f"champion's {defending.ndcg:.4f} by more than {tolerance}")
    decision = Decision(
        challenger=challenger,
        challenger_ndcg=candidate.ndcg,
        champion=champion,
        champion_ndcg=None if defending is None else defending.ndcg,
        tolerance=tolerance,
        promoted=promoted,
        reason=reason,
        decided_at=now.isoformat(),
        baseline_ndcg=baseline,
    )
    registry.record(decision, pointer.stored)
    return decision
