"""The three ways a refresh writes a table: date partitions, merge on a key, replace."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
from deltalake.exceptions import CommitFailedError

from shared.warehouse.engine import bind_where, key_table, on_dates
from shared.warehouse.session import RefreshSession, values
from shared.warehouse.specs import TableSpec

PARTITION_ATTEMPTS = 4
"""Writes of one date partition before a commit conflict is left to the caller's retry."""


# -- partitions ---------------------------------------------------------------------------


def write_partitions(session: RefreshSession, spec: TableSpec, dates: set[date],
                     full: bool) -> None:
    """Rebuild the given date partitions (all of them, replacing the table, if `full` or
    if the table does not exist: a table added to the catalog, or deleted, is built whole)."""
    replace_table = full or not session.exists(spec)
    if replace_table:
        dates = session.all_dates(spec)
    elif not dates:
        session.record(spec, "unchanged")
        return
    started = time.perf_counter()
    chunks = session.chunks(spec, sorted(dates)) or [[]]
    for number, chunk in enumerate(chunks, start=1):
        session.progress(f"{spec.table}: {len(chunk)} partition(s), part {number}/{len(chunks)}")
        _write_dates(session, spec, chunk, replace_table=replace_table and number == 1)
    session.record(spec, "partitions", len(dates), time.perf_counter() - started)


def write_partition(session: RefreshSession, spec: TableSpec, day: date) -> None:
    """Rebuild one date partition and no other, even for a full plan or a new table.

    The dates of a plan may commit to one table concurrently: Delta retries a commit
    over others' commits of other dates' data by itself, but not over the table
    metadata that steps racing to create the table commit (each of them succeeds).
    Once the table is settled, writing again from its latest version succeeds.
    """
    started = time.perf_counter()
    for attempt in range(1, PARTITION_ATTEMPTS + 1):
        try:
            _write_dates(session, spec, [day], replace_table=False)
            break
        except CommitFailedError:
            if attempt == PARTITION_ATTEMPTS:
                raise
            session.reopen(spec)
    session.record(spec, "partitions", 1, time.perf_counter() - started)


def _write_dates(session: RefreshSession, spec: TableSpec, dates: list[date], *,
                 replace_table: bool) -> None:
    """Write the table's rows of `dates` over those partitions (or the whole table)."""
    column = spec.date_column
    session.bind_inputs(spec, dates)
    session.engine.write(
        session.lake,
        f"SELECT * FROM ({spec.sql}\n) AS result WHERE {on_dates(column, dates)}"
        if dates else f"SELECT * FROM ({spec.sql}\n) AS result LIMIT 0",
        spec.zone, spec.table, schema=session.catalog.schemas[spec.name],
        partition_by=column, dates=None if replace_table else dates,
        delta=session.delta(spec))
    session.after_write(spec)


# -- replace ------------------------------------------------------------------------------


def replace(session: RefreshSession, spec: TableSpec, calendar: list[str] | None = None
            ) -> None:
    session.progress(f"{spec.table}: whole table")
    started = time.perf_counter()
    session.bind_inputs(spec, None, calendar)
    session.engine.write(session.lake, spec.sql, spec.zone, spec.table,
                         schema=session.catalog.schemas[spec.name],
                         partition_by=spec.partition_by, dates=None, delta=session.delta(spec))
    session.after_write(spec)
    session.record(spec, "replaced", 0, time.perf_counter() - started)


# -- merge --------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyedChange:
    spec: TableSpec
    rows: pa.Table
    scope: set[str] | None
    """The business keys `rows` were computed for (None: all)."""
    changed: set[str]
    facts_changed: set[str]
    """Keys whose watched column changed (all changed keys when none is watched)."""


def narrow_shared_inputs(session: RefreshSession, specs: list[TableSpec],
                         keys: dict[str, set[str] | None]) -> set[str]:
    """Read once, for all their keys (table name -> keys), the tables that several merged
    tables read (the order lines of affected products and customers); the names so
    narrowed."""
    shared = {name for spec in specs for name in spec.reads
              if name in session.catalog.by_name
              and sum(name in other.reads for other in specs) > 1}
    if not shared or any(keys[spec.name] is None for spec in specs):
        return set()
    for spec in specs:  # specs merged on one column share the plan's keys of it
        session.engine.bind(f"{spec.merge.by}_keys", key_table(keys[spec.name]))
    for name in shared:
        columns = sorted({spec.merge.by for spec in specs if name in spec.reads})
        session.engine.bind(f"{name}__all", session.rows(session.catalog[name]))
        wanted = " OR ".join(f"{column} IN (SELECT key FROM {column}_keys)"
                             for column in columns)
        session.engine.define(f"{name}__affected", f"SELECT * FROM {name}__all WHERE {wanted}",
                              materialize=True)
    return shared


def keyed_change(session: RefreshSession, spec: TableSpec, keys: set[str] | None,
                 narrowed: set[str] = frozenset()) -> KeyedChange:
    """A table's new rows for the business `keys` (all when None), and which changed.

    Its SQL computes each key's rows from that key's input rows only, so every input is
    read for `keys` alone. Tables built on it copy its `watched` column (a product's
    category), or depend on all of a key's rows (a customer's versions) when none is
    watched: keys where that changed are the ones whose rows there must be rebuilt.
    """
    assert spec.merge is not None
    business_key, watched = spec.merge.by, spec.merge.watched
    engine = session.engine
    session.bind_inputs(spec, None)
    if keys is not None:
        for table in session.catalog.tables_read(spec):
            if table.name in narrowed:
                engine.define(table.name, f"SELECT * FROM {table.name}__affected WHERE"
                              f" {business_key} IN (SELECT key FROM {business_key}_keys)")
            else:
                bind_where(engine, table.name, session.rows(table), business_key, keys)
    # Computed once, where the engine runs; only the result comes into this process.
    engine.define("new_rows", spec.sql, materialize=True)
    # In the table's types (another engine's may be wider, or say NOT NULL).
    rows = engine.table("SELECT * FROM new_rows").cast(session.catalog.schemas[spec.name])
    if not session.exists(spec):
        everything = values(rows.select([business_key]))
        return KeyedChange(spec, rows, None, everything, everything)
    old_rows = session.rows(spec)
    if keys is None:
        engine.bind("old_rows", old_rows)
    else:
        bind_where(engine, "old_rows", old_rows, business_key, keys)
    changed = values(engine.table(
        f"SELECT {business_key} FROM (SELECT * FROM new_rows EXCEPT SELECT * FROM old_rows)"
        f" UNION SELECT {business_key} FROM (SELECT * FROM old_rows EXCEPT"
        f" SELECT * FROM new_rows)"))
    facts_changed = changed if watched is None else values(engine.table(
        f"SELECT {business_key} FROM new_rows FULL JOIN old_rows USING ({business_key})"
        f" WHERE new_rows.{watched} IS DISTINCT FROM old_rows.{watched}"))
    return KeyedChange(spec, rows, keys, changed, facts_changed)


def write_keyed(session: RefreshSession, change: KeyedChange) -> None:
    spec = change.spec
    assert spec.merge is not None
    if not session.exists(spec):
        session.lake.write_table(change.rows, spec.zone, spec.table, mode="overwrite")
        session.after_write(spec)
        session.record(spec, "replaced")
    elif not change.changed:
        session.record(spec, "unchanged")
    else:
        session.progress(f"{spec.table}: merge")
        rows = change.rows
        if change.scope is not None:  # only the changed keys' rows, to the changed keys
            rows = rows.filter(pc.is_in(rows[spec.merge.by],
                                        pa.array(sorted(change.changed), pa.string())))
        session.lake.merge_table(rows, spec.zone, spec.table, key=spec.key,
                                 scope=None if change.scope is None else
                                 (spec.merge.by, change.changed))
        session.after_write(spec)
        session.record(spec, "merged")

