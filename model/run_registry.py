"""Records of the nightly predictive runs (forecasts, customer value) in the `models/` zone.

    models/<kind>/<version>.json   what one run chose and measured, written once

The recommender keeps whole model files per version (`model.registry`); a predictive run's
output is its Delta table, stamped with the run's version, so its record is the evidence:
the method chosen per series, the backtest metrics, the fitted parameters.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from shared.lake import Lake, Zone


class UnknownRunError(LookupError):
    """No run record by that version."""


class RunRegistry:
    """One kind of run's records (`forecasts`, `customer_value`), oldest first by name."""

    def __init__(self, lake: Lake, kind: str) -> None:
        self.lake = lake
        self.kind = kind

    def _path(self, *parts: str) -> str:
        return self.lake.path(Zone.MODELS, self.kind, *parts)

    def new_version(self, now: datetime) -> str:
        """Sortable by run time; the suffix keeps two runs in one second apart."""
        return f"{now:%Y%m%dT%H%M%SZ}-{self.kind}-{uuid.uuid4().hex[:6]}"

    def record(self, version: str, record: dict[str, Any]) -> None:
        self.lake.write_bytes(self._path(f"{version}.json"), orjson.dumps(
            {"version": version, **record},
            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY))

    def read(self, version: str) -> dict[str, Any]:
        path = self._path(f"{version}.json")
        if not self.lake.exists(path):
            raise UnknownRunError(f"no {self.kind} run {version!r} in "
                                  f"{self.lake.relative(self._path())}")
        return orjson.loads(self.lake.read_bytes(path))

    def versions(self) -> list[str]:
        return sorted(path.rsplit("/", 1)[-1].removesuffix(".json")
                      for path in self.lake.list_files(self._path(), ".json"))

    def latest(self) -> dict[str, Any] | None:
        versions = self.versions()
        return self.read(versions[-1]) if versions else None
