"""Batch scoring: after a promotion, every recently active customer's top 10 goes to
`curated/customer_recommendations`, so predictions can be queried beside the star schema
(Synapse, Power BI) and not only through the API.

The champion's ONNX initializers are the weights used here, in the batch form of the
same arithmetic (`model.ranking`), many customers per matrix product.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from model.interactions import Interactions
from model.onnx_export import scorer_from_onnx
from model.ranking import masked_top_k
from model.registry import Registry
from shared.lake import Lake, Zone
from shared.types import UTC_TIMESTAMP

TABLE = "customer_recommendations"
RECOMMENDATIONS_SCHEMA = pa.schema([
    ("customer_id", pa.string()),
    ("rank", pa.int16()),
    ("product_id", pa.string()),
    ("score", pa.float32()),
    ("model_version", pa.string()),
    ("scored_at", UTC_TIMESTAMP),
])


@dataclass(frozen=True)
class ScoringResult:
    version: str
    customers: int
    rows: int
    active_since: str


def score_customers(lake: Lake, version: str, now: datetime, *, active_days: int = 90,
                    k: int = 10) -> ScoringResult:
    """Replace the table with `version`'s top `k` for customers who bought in the
    `active_days` before the model's latest purchase (the data's clock, not the wall's)."""
    registry = Registry(lake)
    manifest = registry.manifest(version)
    since = datetime.fromisoformat(manifest.data["latest_purchase"]) - timedelta(
        days=active_days)
    products = registry.read_table(version, "items.parquet")["product_id"].combine_chunks()
    scorer = scorer_from_onnx(registry.read(version, "model.onnx"))
    history = Interactions.from_table(registry.read_table(version, "customers.parquet"),
                                      products.to_numpy(zero_copy_only=False))
    latest = history.last_us.max(axis=1).toarray().ravel()
    active = np.flatnonzero(latest >= since.timestamp() * 1_000_000)
    profiles = history.binary[active]
    names = pa.array(history.customers, pa.string())
    counted = {"rows": 0}

    def batches() -> Iterator[pa.RecordBatch]:
        # One block of customers at a time: memory stays bounded by the block, not the table.
        for block, top, values in masked_top_k(scorer, profiles, profiles, k):
            kept = top >= 0  # masked items sort last, so kept entries are a prefix
            picked = top[kept]
            counted["rows"] += len(picked)
            yield pa.record_batch({
                "customer_id": names.take(pa.array(np.repeat(active[block],
                                                             kept.sum(axis=1)))),
                "rank": pa.array(np.nonzero(kept)[1] + 1, pa.int16()),
                "product_id": products.take(pa.array(picked)),
                "score": pa.array(values[kept], pa.float32()),
                "model_version": pa.array([version] * len(picked), pa.string()),
                "scored_at": pa.array([now] * len(picked), UTC_TIMESTAMP),
            }, schema=RECOMMENDATIONS_SCHEMA)

    with lake.writer():
        lake.write_table(pa.RecordBatchReader.from_batches(RECOMMENDATIONS_SCHEMA, batches()),
                         Zone.CURATED, TABLE, mode="overwrite")
    return ScoringResult(version, len(active), counted["rows"], since.isoformat())
