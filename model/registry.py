"""The model registry in the lake's `models/` zone: versions, the champion, decisions.

    models/<version>/model.onnx        scoring graph (input: a profile's item indices)
    models/<version>/items.parquet     item index → product id, name, category, price
    models/<version>/customers.parquet trained history: customer, item, purchases, last
    models/<version>/manifest.json     kind, parameters, metrics, data watermark; written
                                       last, so a version without it is incomplete
    models/champion.json               the version being served
    models/decisions/<time>-<version>.json   every promotion decision, kept

A version's files never change after the manifest is written; the champion pointer is the
only thing that moves, and the decision explaining a move is written before the move.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from shared.lake import Lake, Versioned, Zone

CHAMPION = "champion.json"
MANIFEST = "manifest.json"


class UnknownVersionError(LookupError):
    """No complete model version by that name."""


@dataclass(frozen=True)
class Manifest:
    """What a version is and how good it was, as written to `manifest.json`."""

    version: str
    kind: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    """`ndcg_at_10`, `recall_at_10`, `customers`, and the `popularity` and `buy_again`
    figures on the same split."""
    candidates: list[dict[str, Any]]
    """Every model tried on the split, with its metrics (the evidence for `kind`)."""
    data: dict[str, Any]
    """The watermark trained on: purchases, customers, products, latest purchase, split."""
    trained_at: str

    @property
    def ndcg(self) -> float:
        return float(self.metrics["ndcg_at_10"])


@dataclass(frozen=True)
class Decision:
    """One promotion decision: which challenger, against which champion, and why."""

    challenger: str
    challenger_ndcg: float
    champion: str | None
    champion_ndcg: float | None
    tolerance: float
    promoted: bool
    reason: str
    decided_at: str
    baseline_ndcg: float | None = None


@dataclass(frozen=True)
class ChampionPointer:
    """The pointer file as read: what it says, and the stored version it was read at."""

    stored: Versioned

    @property
    def version(self) -> str | None:
        """The champion's model version (None: nothing promoted yet)."""
        return None if self.stored.data is None else str(orjson.loads(self.stored.data)["version"])


@dataclass(frozen=True)
class VersionFiles:
    """A trained model's files, ready to register."""

    model_onnx: bytes
    items: pa.Table
    customers: pa.Table


class Registry:
    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def _path(self, *parts: str) -> str:
        return self.lake.path(Zone.MODELS, *parts)

    @staticmethod
    def new_version(kind: str, trained_at: datetime) -> str:
        """Sortable by training time; the suffix keeps two runs in one second apart."""
        return f"{trained_at:%Y%m%dT%H%M%SZ}-{kind}-{uuid.uuid4().hex[:6]}"

    def register(self, manifest: Manifest, files: VersionFiles) -> None:
        version = manifest.version
        self.lake.write_bytes(self._path(version, "model.onnx"), files.model_onnx)
        self.lake.write_bytes(self._path(version, "items.parquet"), _parquet(files.items))
        self.lake.write_bytes(self._path(version, "customers.parquet"),
                              _parquet(files.customers))
        self.lake.write_bytes(self._path(version, MANIFEST), _json(asdict(manifest)))

    def manifest(self, version: str) -> Manifest:
        path = self._path(version, MANIFEST)
        if not self.lake.exists(path):
            raise UnknownVersionError(f"no complete model version {version!r} in "
                                      f"{self.lake.relative(self._path())}")
        return Manifest(**orjson.loads(self.lake.read_bytes(path)))

    def versions(self) -> list[str]:
        """Complete versions, oldest first."""
        return sorted(path.rsplit("/", 2)[-2] for path in
                      self.lake.list_files(self._path(), MANIFEST)
                      if path.count("/") - self._path().count("/") == 2)

    def read(self, version: str, name: str) -> bytes:
        return self.lake.read_bytes(self._path(version, name))

    def read_table(self, version: str, name: str) -> pa.Table:
        return pq.read_table(io.BytesIO(self.read(version, name)))

    # -- the champion -------------------------------------------------------------------

    def champion_pointer(self) -> ChampionPointer:
        """The pointer (its bytes are cheap to compare when deciding whether to reload)."""
        return ChampionPointer(self.lake.read_versioned(self._path(CHAMPION)))

    def champion(self) -> str | None:
        return self.champion_pointer().version

    def record(self, decision: Decision, decided_against: Versioned | None = None) -> None:
        """Keep the decision; when it promotes, then move the champion pointer.

        The pointer moves only if it is still as `decided_against` (the pointer read when
        deciding; None: as it is now), else `StaleWriteError`: a writer that lost the lake
        cannot replace a newer champion with its older decision.
        """
        stamp = decision.decided_at.replace(":", "").replace("-", "")
        self.lake.write_bytes(self._path("decisions", f"{stamp}-{decision.challenger}.json"),
                              _json(asdict(decision)))
        if decision.promoted:
            expected = decided_against or self.lake.read_versioned(self._path(CHAMPION))
            self.lake.write_bytes_if(self._path(CHAMPION), _json(
                {"version": decision.challenger, "promoted_at": decision.decided_at,
                 "ndcg_at_10": decision.challenger_ndcg}), expected.version)

    def decisions(self) -> list[Decision]:
        """Every decision, oldest first."""
        return [Decision(**orjson.loads(self.lake.read_bytes(path)))
                for path in self.lake.list_files(self._path("decisions"), ".json")]


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
