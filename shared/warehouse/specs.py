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

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from shared.events.contract import RAW_SCHEMA
from shared.lake import Zone
from shared.landed import Dataset, landed_schema
from shared.settings import ConfigurationError
from shared.warehouse.dialect import portability_problems
from shared.warehouse.sources import EVENT_DATE

TABLES_FOLDER = Path(__file__).with_name("tables")

RAW_EVENTS = "raw_events"
CALENDAR = "calendar"
LANDED = {f"landed_{dataset.value}": dataset for dataset in Dataset}
SOURCES = (RAW_EVENTS, CALENDAR, *LANDED)
SOURCE_KEYS = {RAW_EVENTS: ("source", "source_partition", "sequence_number"),
               CALENDAR: ("date_day",), **dict.fromkeys(LANDED, ("source_file", "source_row"))}
"""What identifies a row of each input: an event's place in its source (a replayed batch
rewrites its own file), a landed row's file and row number, a day."""


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


NAME = re.compile(r"[a-z][a-z0-9_]*")
"""A table's name and folder: a plain SQL identifier (it is spliced into SQL and paths)."""

WAREHOUSE_ZONES = (Zone.PROCESSED, Zone.CURATED)


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
        if self.zone not in WAREHOUSE_ZONES:
            raise ValueError("zone is 'processed' or 'curated' (the warehouse writes no other)")
        if self.table is not None and not NAME.fullmatch(self.table):
            raise ValueError(f"table {self.table!r}: a folder name of lowercase letters, "
                             "digits and underscores")
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
    source: Path | None = None
    """Its SQL file (named in errors)."""

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

    def check(self) -> None:
        """Refuse (ConfigurationError) a spec that does not match its SQL; see `columns`."""
        self.columns  # noqa: B018 - computed once per catalog, raising what it finds

    def portability(self) -> dict[str, list[str]]:
        """What in each table's SQL may answer differently on Spark than on DuckDB, as lines
        naming the SQL file (`dialect.portability_problems`); tables without any are left out.

        Not part of `check()`, so a refresh runs whatever this finds: DuckDB computes these
        tables correctly either way, and the rules are cautious (a function not yet compared
        on both engines is reported, though it may well agree). The test suite and
        `shoplake tables --check` fail on it instead, before a deployment takes the SQL to
        Spark."""
        inputs = {**source_schemas(), **self.schemas}
        keys = {**SOURCE_KEYS, **{spec.name: spec.unique for spec in self.specs}}
        found = {}
        for spec in self.specs:
            problems = portability_problems(spec.sql, inputs, keys)
            if problems:
                found[spec.name] = [f"{spec.source or spec.name}: {p}" for p in problems]
        return found

    @cached_property
    def columns(self) -> dict[str, list[str]]:
        """Each table's column names (see `schemas`)."""
        return {name: schema.names for name, schema in self.schemas.items()}

    @cached_property
    def schemas(self) -> dict[str, pa.Schema]:
        """Each table's Arrow schema as the embedded engine writes it, found by running its
        SQL over empty inputs; a spec that names a column its SQL does not give, or SQL
        reading what does not exist, is refused here, before a refresh writes anything."""
        found: dict[str, pa.Schema] = {}
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            for name, schema in source_schemas().items():
                con.register(name, schema.empty_table())
            for spec in self.specs:
                found[spec.name] = _check_schema(con, spec)
        return found


def source_schemas() -> dict[str, pa.Schema]:
    """The Arrow schema of each input that is not a table."""
    return {RAW_EVENTS: RAW_SCHEMA.append(EVENT_DATE),
            CALENDAR: pa.schema([("date_day", pa.date32())]),
            **{view: landed_schema(dataset) for view, dataset in LANDED.items()}}


def _check_schema(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> pa.Schema:
    where = spec.source or spec.name
    try:
        columns = con.sql(spec.sql).columns
        for name, dated in spec.inputs.items():
            con.execute(f"SELECT {dated.dates}, {dated.groups or 1} FROM {name}")
        con.execute(f"CREATE TEMP TABLE {spec.name} AS SELECT * FROM ({spec.sql}\n) LIMIT 0")
        schema = con.sql(f"SELECT * FROM {spec.name}").to_arrow_table().schema
    except duckdb.Error as error:
        raise ConfigurationError(f"{where}: {str(error).splitlines()[0]}") from None
    named = {"key": spec.key, "partition_by": (spec.partition_by,) if spec.partition_by else (),
             "[merge] by": (spec.merge.by,) if spec.merge else (),
             "[merge] watched": (spec.merge.watched,) if spec.merge and spec.merge.watched
             else (), "[tests] not_null": spec.tests.not_null, "[tests] unique": spec.unique}
    for field_name, wanted in named.items():
        missing = [column for column in wanted if column not in columns]
        if missing:
            raise ConfigurationError(f"{spec.name}: {field_name} names {', '.join(missing)}, "
                                     f"which {where} does not select "
                                     f"(it gives {', '.join(columns)})")
    return schema


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
            if not NAME.fullmatch(name):
                raise ConfigurationError(f"{folder / name}.sql: a table's name is lowercase "
                                         "letters, digits and underscores")
            if name in SOURCES:
                raise ConfigurationError(f"{folder / name}.sql: {name} is the name of an input "
                                         f"the SQL reads ({', '.join(SOURCES)}); name the "
                                         "table otherwise")
            if name in specs:
                raise ConfigurationError(f"{folder / name}.sql: {name} is already defined "
                                         "(a folder adds tables, it does not replace them)")
            specs[name] = _load(folder, name)
    stored: dict[str, str] = {}
    for spec in specs.values():
        path = f"{spec.zone.value}/{spec.table}"
        if path in stored:
            raise ConfigurationError(f"{spec.name} and {stored[path]} are both stored as {path}")
        stored[path] = spec.name
    known = (*SOURCES, *specs)
    return Catalog(
        TableSpec(**{**spec.__dict__, "reads": tuple(
            references(spec.sql, [n for n in known if n != spec.name]))})
        for spec in specs.values())


def _load(folder: Path, name: str) -> TableSpec:
    spec_path = folder / f"{name}.toml"
    try:
        declared = _SpecFile.model_validate(tomllib.loads(_text(spec_path)))
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise ConfigurationError(f"{spec_path}: {error}") from None
    return TableSpec(
        name=name, sql=_select(folder / f"{name}.sql"), source=folder / f"{name}.sql",
        zone=declared.zone,
        table=declared.table or name, step=declared.step, write=declared.write,
        key=declared.key, partition_by=declared.partition_by, inputs=declared.inputs,
        merge=declared.merge, tests=declared.tests)


def _text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise ConfigurationError(f"{path}: {error.strerror or error}") from None


def _select(path: Path) -> str:
    """The file's one SELECT, without a closing semicolon (engines wrap it in others)."""
    sql = _text(path)
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise ConfigurationError(f"{path}: {error}") from None
    if len(statements) != 1 or statements[0].type is not duckdb.StatementType.SELECT:
        raise ConfigurationError(f"{path}: a table's SQL is one SELECT statement (found "
                                 f"{len(statements)} statement(s))")
    tokens = [(at, kind) for at, kind in duckdb.tokenize(sql)
              if kind is not duckdb.token_type.comment]
    last = tokens[-1][0]
    return sql[:last] + sql[last + 1:] if sql[last] == ";" else sql


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
        if len(spec.reads) != 1:
            raise ConfigurationError(f"{spec.name}: a partition-step table reads its dated "
                                     f"source only (it reads {', '.join(spec.reads)})")
    elif spec.write is Write.PARTITIONS and sum(name in tables for name in spec.inputs) != 1:
        raise ConfigurationError(f"{spec.name}: a partitioned table declares under [inputs] "
                                 "the one table whose dates drive its own")


CATALOG = load_catalog()
"""The warehouse's tables (`tables/`)."""
