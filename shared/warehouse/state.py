"""The refresh's memory in `_state/refresh/`: the watermark and a pending plan.

The watermark records what the last finished refresh consumed: a fingerprint of each raw
event date partition (its file names and sizes; new or rewritten files change it) and the
landed batch files of each dataset. Comparing it with a listing of the lake says which
partitions changed, without clocks.

A plan is saved before the first table is written and removed after the watermark, so a
refresh killed half-way is finished by the next run even where the tables it already
wrote hide what changed (a merged dimension no longer differs from its new value). It
carries the listing it was computed from (`Snapshot`): every step reads those files only,
and the watermark records them, so files landing during a refresh wait for the next one.
A refresh run as separate steps also records its progress there, and each finished date
partition as a marker file of its own (the per-date steps may run concurrently).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
import pyarrow.fs as pafs

from shared.lake import Lake, Zone


class DamagedPlanError(RuntimeError):
    """The pending plan cannot be read (a storage left it cut short)."""


@dataclass(frozen=True)
class Watermark:
    event_partitions: dict[str, str] = field(default_factory=dict)
    """ISO event date -> fingerprint of its raw files."""
    landed: dict[str, list[str]] = field(default_factory=dict)
    """Dataset -> names of the landed files already refreshed."""
    calendar: list[str] = field(default_factory=list)
    """First and last ISO date of dim_date."""
    refreshed_at: str | None = None
    run_id: str | None = None
    """The plan this watermark finished (a retried last step recognises its own run)."""
    version: str | None = field(default=None, compare=False)
    """The stored file's version (None: no watermark yet); not part of its content."""
    damaged: bool = field(default=False, compare=False)
    """The stored file is not a watermark (a storage cut it short): read as none."""


@dataclass(frozen=True)
class Snapshot:
    """The raw files a plan was computed from."""

    event_files: dict[str, dict[str, int]] = field(default_factory=dict)
    """ISO event date -> its raw files: path under `raw/events/` -> size in bytes."""
    landed: dict[str, list[str]] = field(default_factory=dict)
    """Dataset -> names of its landed files."""


@dataclass
class Plan:
    """What a refresh rebuilds: dates per partitioned table, keys of merged tables."""

    full: bool = False
    dates: dict[str, set[date]] = field(default_factory=dict)
    """Partition-step table -> the dates its new or changed inputs touch."""
    extra_dates: dict[str, set[date]] = field(default_factory=dict)
    """Later partitioned table -> more dates to rebuild: those of rows whose merged
    dimension changed (a product's new category)."""
    changed_sources: set[str] = field(default_factory=set)
    """Landed inputs with new files (tables replaced from them are rebuilt)."""
    keys: dict[str, set[str] | None] = field(default_factory=dict)
    """Business key column -> the keys whose merged rows may change (None: all of them)."""
    changed: set[str] = field(default_factory=set)
    """Merged tables that changed (tables built on them are rebuilt)."""
    snapshot: Snapshot = field(default_factory=Snapshot)
    """What every step reads, and what the watermark will record."""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Names the markers of this plan's finished date partitions."""
    calendar: list[str] | None = None
    """First and last ISO date of the data, once the dimensions are refreshed."""
    done: set[str] = field(default_factory=set)
    """Steps after the partition step that are finished for this plan."""
    watermark_version: str | None = None
    """The version of the watermark this plan started from: the only one it may replace."""
    absorbed: list[str] = field(default_factory=list)
    """Plans of runs that lost the lake, redone by this one (removed when it finishes)."""

    @property
    def partitions(self) -> set[date]:
        """Dates whose partition-step tables are rebuilt."""
        return set().union(*self.dates.values())

    def union(self, other: Plan) -> Plan:
        """Both plans' work, on `self`'s snapshot (the newer plan's); steps start over."""
        return Plan(
            full=self.full or other.full,
            dates=_union_dates(self.dates, other.dates),
            extra_dates=_union_dates(self.extra_dates, other.extra_dates),
            changed_sources=self.changed_sources | other.changed_sources,
            keys={key: _union(self.keys.get(key, set()), other.keys.get(key, set()))
                  for key in self.keys.keys() | other.keys.keys()},
            changed=self.changed | other.changed,
            snapshot=self.snapshot,
            run_id=self.run_id,
            watermark_version=self.watermark_version,
        )

    def to_json(self) -> bytes:
        return orjson.dumps({
            "full": self.full,
            "dates": _dates_json(self.dates),
            "extra_dates": _dates_json(self.extra_dates),
            "changed_sources": sorted(self.changed_sources),
            "keys": {key: None if values is None else sorted(values)
                     for key, values in sorted(self.keys.items())},
            "changed": sorted(self.changed),
            "snapshot": {"event_files": self.snapshot.event_files,
                         "landed": self.snapshot.landed},
            "run_id": self.run_id,
            "calendar": self.calendar,
            "done": sorted(self.done),
            "watermark_version": self.watermark_version,
            "absorbed": self.absorbed,
        }, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Plan:
        """A saved plan; `DamagedPlanError` for one this version cannot carry out (saved
        by an older version, or cut short)."""
        if "dates" not in raw:
            raise DamagedPlanError("a plan in an older format")
        snapshot = raw["snapshot"]
        return cls(full=raw["full"], dates=_dates_from(raw["dates"]),
                   extra_dates=_dates_from(raw["extra_dates"]),
                   changed_sources=set(raw["changed_sources"]),
                   keys={key: None if values is None else set(values)
                         for key, values in raw["keys"].items()},
                   changed=set(raw["changed"]),
                   snapshot=Snapshot(snapshot["event_files"], snapshot["landed"]),
                   run_id=raw["run_id"], calendar=raw["calendar"], done=set(raw["done"]),
                   watermark_version=raw["watermark_version"], absorbed=raw["absorbed"])


def _dates_json(dates: dict[str, set[date]]) -> dict[str, list[str]]:
    return {name: sorted(d.isoformat() for d in days) for name, days in sorted(dates.items())}


def _dates_from(raw: dict[str, list[str]]) -> dict[str, set[date]]:
    return {name: {date.fromisoformat(d) for d in days} for name, days in raw.items()}


def _union_dates(left: dict[str, set[date]], right: dict[str, set[date]]
                 ) -> dict[str, set[date]]:
    return {name: left.get(name, set()) | right.get(name, set()) for name in left.keys() | right}


def _union(left: set[str] | None, right: set[str] | None) -> set[str] | None:
    return None if left is None or right is None else left | right


def fingerprint(files: list[pafs.FileInfo]) -> str:
    digest = hashlib.sha256()
    for info in sorted(files, key=lambda i: i.path):
        digest.update(f"{info.base_name}:{info.size}\n".encode())
    return digest.hexdigest()[:32]


class RefreshState:
    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._watermark = lake.path(Zone.STATE, "refresh", "watermark.json")
        self._pending = lake.path(Zone.STATE, "refresh", "pending_plan.json")
        self._partitions = lake.path(Zone.STATE, "refresh", "partitions")
        self._lost = lake.path(Zone.STATE, "refresh", "lost")

    def watermark(self) -> Watermark:
        """The last refresh's watermark; none (everything counts as changed) when there is
        none yet or it is damaged."""
        raw, version = self._lake.read_json(self._watermark)
        if raw is None:
            return Watermark(version=version, damaged=version is not None)
        return Watermark(raw["event_partitions"], raw["landed"], raw["calendar"],
                         raw["refreshed_at"], raw.get("run_id"), version)

    def save_watermark(self, expected_version: str | None, watermark: Watermark) -> None:
        """Replace the watermark at `expected_version` (None: there is none yet); a
        `StaleWriteError` means another refresh moved it since this one planned."""
        self._lake.write_bytes_if(self._watermark, orjson.dumps({
            "event_partitions": watermark.event_partitions,
            "landed": watermark.landed,
            "calendar": watermark.calendar,
            "refreshed_at": watermark.refreshed_at,
            "run_id": watermark.run_id,
        }, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS), expected_version)

    def has_pending_plan(self) -> bool:
        return self._lake.exists(self._pending)

    def pending_plan(self) -> Plan | None:
        """The plan of a refresh that started and did not finish, if any."""
        if not self.has_pending_plan():
            return None
        raw, _ = self._lake.read_json(self._pending)
        try:
            if raw is None:
                raise DamagedPlanError("damaged")
            return Plan.from_json(raw)
        except DamagedPlanError as error:
            raise DamagedPlanError(
                f"{self._lake.relative(self._pending)} is {error}: it no longer says what its "
                "refresh had left to do; the next plan rebuilds everything") from None

    def save_pending_plan(self, plan: Plan) -> None:
        self._lake.write_bytes(self._pending, plan.to_json())

    def clear_pending_plan(self) -> None:
        if self._lake.exists(self._pending):
            self._lake.fs.delete_file(self._pending)
        self._lake.fs.delete_dir_contents(self._partitions, missing_dir_ok=True)

    def keep_lost_plan(self, plan: Plan) -> None:
        """Keep the plan of a run that lost the lake: it may have written after losing it
        (a pause in the middle of a write), so the next refresh redoes what it touched."""
        self._lake.write_bytes(f"{self._lost}/{plan.run_id}.json", plan.to_json())

    def lost_plans(self) -> dict[str, Plan]:
        """Kept plans by file name; a damaged one stands for everything."""
        plans = {}
        for path in self._lake.list_files(self._lost, ".json"):
            raw, _ = self._lake.read_json(path)
            try:
                plan = Plan(full=True) if raw is None else Plan.from_json(raw)
            except DamagedPlanError:
                plan = Plan(full=True)
            plans[path.rsplit("/", 1)[-1]] = plan
        return plans

    def drop_lost_plans(self, names: list[str]) -> None:
        for name in names:
            path = f"{self._lost}/{name}"
            if self._lake.exists(path):
                self._lake.fs.delete_file(path)

    def mark_partition_done(self, run_id: str, day: date) -> None:
        """Record that the plan's processed partitions of `day` are rebuilt."""
        self._lake.write_bytes(f"{self._partitions}/{run_id}/{day.isoformat()}", b"")

    def partitions_done(self, run_id: str) -> set[date]:
        return {date.fromisoformat(info.base_name)
                for info in self._lake.file_infos(f"{self._partitions}/{run_id}")}
