"""The tables of the warehouse as declared: `tables/<name>.sql` plus `tables/<name>.toml`.

Like a dbt model, each SQL file is a plain SELECT over inputs and other tables by name; its
spec says what the SQL cannot: where the result lives, its key, its partition column, how a
refresh writes it, in which step, which inputs it reads only for the dates being rebuilt,
and its data tests. Every engine loops over a `Catalog` of these specs; none names a table.

Inputs that are not tables (`SOURCES`): `raw_events` (the raw event files),
`landed_<dataset>` (the landed rows of a batch dataset) and `calendar` (one row per day,
`date_day`, from the first to the last date with data in the partition step's tables).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from shared.lake import Zone
from shared.landed import Dataset
from shared.settings import ConfigurationError

TABLES_FOLDER = Path(__file__).with_name("tables")

RAW_EVENTS = "raw_events"
CALENDAR = "calendar"
LANDED = {f"landed_{dataset.value}": dataset for dataset in Dataset}
SOURCES = (RAW_EVENTS, CALENDAR, *LANDED)


class Step(StrEnum):
    """The refresh's steps, in order (each may run as an activity of its own)."""

    PARTITION = "partition"
    """Processed tables over raw and landed inputs, one date partition at a time."""
    DIMENSIONS = "dimensions"
    FACTS = "facts"
    KPIS = "kpis"


class Write(StrEnum):
    PARTITIONS = "partitions"
    """Rebuild the date partitions a refresh touches (Delta overwrite with a predicate)."""
    MERGE = "merge"
    """Compute the rows of the business keys new data mentions, merge them on the key:
    only changed rows are written."""
    REPLACE = "replace"
    """Compute the whole (small) table and replace it when its inputs changed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatedInput(_Strict):
    """An input read only for the dates being rebuilt."""

    dates: str
    """Its date column (or an SQL expression giving the date)."""
    groups: str | None = None
    """Read whole groups (e.g. `order_id`) that have a row on those dates: a key's versions
    may lie on other dates, and all of them share its group."""


class Merge(_Strict):
    by: str
    """The business key (e.g. `customer_id`): a refresh recomputes the rows of the keys the
    new data mentions, reading each input for those keys only."""
    watched: str | None = None
    """The column tables built on this one copy (e.g. `category`): only keys where it
    changed rebuild their dates there. Unset: every change of a key's rows does."""


class DataTests(_Strict):
    not_null: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    """Columns unique together (default: the key)."""


class _SpecFile(_Strict):
    zone: Zone
    table: str | None = None
    step: Step
    write: Write
    partition_by: str | None = None
    key: tuple[str, ...]
    inputs: dict[str, DatedInput] = {}
    merge: Merge | None = None
    tests: DataTests = DataTests()

    @model_validator(mode="after")
    def _consistent(self) -> _SpecFile:
        if self.write is Write.PARTITIONS and not self.partition_by:
            raise ValueError("write = 'partitions' needs partition_by (its date column)")
        if (self.write is Write.MERGE) != (self.merge is not None):
            raise ValueError("a [merge] section goes with write = 'merge', and only with it")
        if self.inputs and self.write is not Write.PARTITIONS:
            raise ValueError("[inputs] (read for the rebuilt dates) needs write = 'partitions'")
        if self.step is Step.PARTITION and self.write is not Write.PARTITIONS:
            raise ValueError("the partition step builds date partitions: write = 'partitions'")
        return self


@dataclass(frozen=True)
class TableSpec:
    """One warehouse table: its SQL and how it is stored and refreshed."""

    name: str
    sql: str
    zone: Zone
    table: str
    """Its Delta table's folder in the zone."""
    step: Step
    write: Write
    key: tuple[str, ...]
    partition_by: str | None = None
    inputs: dict[str, DatedInput] = field(default_factory=dict)
    merge: Merge | None = None
    tests: DataTests = field(default_factory=DataTests)
    reads: tuple[str, ...] = ()
    """The sources and tables its SQL reads (as whole words)."""

    @property
    def date_column(self) -> str:
        """The date partition column of a PARTITIONS table."""
        if self.write is not Write.PARTITIONS or self.partition_by is None:
            raise ValueError(f"{self.name} is not rebuilt by date partition")
        return self.partition_by

    @property
    def unique(self) -> tuple[str, ...]:
        return self.tests.unique or self.key


def references(sql: str, names: Iterable[str]) -> list[str]:
    """Which of `names` the SQL reads (as whole words)."""
    return [name for name in names if re.search(rf"\b{re.escape(name)}\b", sql)]


class Catalog:
    """The tables in dependency order (each after every table it reads)."""

    def __init__(self, specs: Iterable[TableSpec]) -> None:
        self.specs = _in_dependency_order(list(specs))
        self.by_name = {spec.name: spec for spec in self.specs}
        for spec in self.specs:
            _check_inputs(spec, self.by_name)

    def __iter__(self) -> Iterator[TableSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, name: str) -> TableSpec:
        return self.by_name[name]

    def step(self, step: Step) -> list[TableSpec]:
        return [spec for spec in self.specs if spec.step is step]

    def tables_read(self, spec: TableSpec) -> list[TableSpec]:
        return [self.by_name[name] for name in spec.reads if name in self.by_name]

    def sources(self, spec: TableSpec) -> set[str]:
        """The sources a table reads, directly or through the tables it reads."""
        return self._sources[spec.name]

    @cached_property
    def _sources(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for spec in self.specs:  # dependency order: what it reads is done
            found[spec.name] = {name for name in spec.reads if name in SOURCES}.union(
                *(found[table.name] for table in self.tables_read(spec)))
        return found

    def dated_table_input(self, spec: TableSpec) -> tuple[TableSpec, str] | None:
        """The table whose rebuilt dates drive this one's (and its date column), if any."""
        for name, dated in spec.inputs.items():
            if name in self.by_name:
                return self.by_name[name], dated.dates
        return None

    def readers(self, spec: TableSpec) -> list[TableSpec]:
        """The tables that read this one directly."""
        return [other for other in self.specs if spec.name in other.reads]

    def merge_keys(self) -> set[str]:
        return {spec.merge.by for spec in self.specs if spec.merge}


def load_catalog(*folders: Path) -> Catalog:
    """Every `<name>.sql` + `<name>.toml` pair in the folders (later folders add tables)."""
    specs: dict[str, TableSpec] = {}
    for folder in folders or (TABLES_FOLDER,):
        sql_names = {path.stem for path in folder.glob("*.sql")}
        spec_names = {path.stem for path in folder.glob("*.toml")}
        if sql_names != spec_names:
            lonely = sorted(sql_names ^ spec_names)
            raise ConfigurationError(f"{folder}: every table needs both <name>.sql and "
                                     f"<name>.toml; unpaired: {', '.join(lonely)}")
        for name in sorted(sql_names):
            specs[name] = _load(folder, name)
    known = (*SOURCES, *specs)
    return Catalog(
        TableSpec(**{**spec.__dict__, "reads": tuple(
            references(spec.sql, [n for n in known if n != spec.name]))})
        for spec in specs.values())


def _load(folder: Path, name: str) -> TableSpec:
    spec_path = folder / f"{name}.toml"
    try:
        declared = _SpecFile.model_validate(tomllib.loads(spec_path.read_text("utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise ConfigurationError(f"{spec_path}: {error}") from None
    return TableSpec(
        name=name, sql=(folder / f"{name}.sql").read_text("utf-8"), zone=declared.zone,
        table=declared.table or name, step=declared.step, write=declared.write,
        key=declared.key, partition_by=declared.partition_by, inputs=declared.inputs,
        merge=declared.merge, tests=declared.tests)


def _in_dependency_order(specs: list[TableSpec]) -> list[TableSpec]:
    """Steps in order; within a step, each table after those it reads (else by name)."""
    steps = list(Step)
    names = {spec.name for spec in specs}
    pending = sorted(specs, key=lambda spec: (steps.index(spec.step), spec.name))
    ordered: list[TableSpec] = []
    done: set[str] = set()
    while pending:
        ready = next((spec for spec in pending
                      if all(name in done for name in spec.reads if name in names)), None)
        if ready is None:
            raise ConfigurationError("the tables read each other in a cycle: "
                                     + ", ".join(spec.name for spec in pending))
        pending.remove(ready)
        ordered.append(ready)
        done.add(ready.name)
    for spec in ordered:
        for table in (names & set(spec.reads)):
            later = next(s for s in ordered if s.name == table)
            if steps.index(later.step) > steps.index(spec.step):
                raise ConfigurationError(f"{spec.name} (step {spec.step}) reads {table}, "
                                         f"which a later step ({later.step}) builds")
    return ordered


def _check_inputs(spec: TableSpec, tables: dict[str, TableSpec]) -> None:
    for name in spec.inputs:
        if name not in spec.reads:
            raise ConfigurationError(f"{spec.name}: [inputs.{name}] names something its SQL "
                                     "does not read")
    if spec.step is Step.PARTITION:
        if not any(name in SOURCES for name in spec.inputs) or len(spec.inputs) != 1:
            raise ConfigurationError(f"{spec.name}: a partition-step table declares its one "
                                     "dated source under [inputs] (raw_events or landed_*)")
        if any(name in tables for name in spec.reads):
            raise ConfigurationError(f"{spec.name}: a partition-step table reads sources only")
    elif spec.write is Write.PARTITIONS and sum(name in tables for name in spec.inputs) != 1:
        raise ConfigurationError(f"{spec.name}: a partitioned table declares under [inputs] "
                                 "the one table whose dates drive its own")


CATALOG = load_catalog()
"""The warehouse's tables (`tables/`)."""
